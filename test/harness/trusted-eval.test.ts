/**
 * The trusted evaluator, in process (a ModelServer over a model object): it scores exactly what
 * evaluateBpb scores, and its probes mark a model that looks ahead or answers from memory
 * invalid. Plus the pieces it stands on: the channel's parsing of what an untrusted child says,
 * and redaction of secrets split across output chunks.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Generator, type Tensor, ops, tensor } from "../../src/engine/index.ts";
import { type Dataset, openDataset } from "../../src/harness/dataset.ts";
import { evaluateBpb, serveInProcess } from "../../src/harness/evaluate.ts";
import { type Splice, chiSquareUpperTailEvenDf, cutPositions, firstSightTest, forEachSplice } from "../../src/harness/evaluation/first-sight.ts";
import { planProbes } from "../../src/harness/evaluation/probes.ts";
import { evaluationBatches } from "../../src/harness/evaluation/score.ts";
import { evaluateServedModel } from "../../src/harness/evaluation/trusted.ts";
import { parseChildMessage } from "../../src/harness/runner/protocol.ts";
import type { TrainedModel } from "../../src/harness/types.ts";
import { Redactor, StreamRedactor } from "../../src/util/secrets.ts";
import { seededRandom } from "../support/random.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const T = 32;
let work: string;
let dataset: Dataset;
let V: number;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "nightshift-trusted-eval-"));
  writeTinyDataset(join(work, "ds"), { docs: { val: 120, test: 60 } });
  dataset = openDataset(join(work, "ds"));
  V = dataset.manifest.vocabSize;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const shape = () => ({ batchSize: 4, seqLen: T, vocabSize: V });
const val = () => evaluationBatches(dataset.split("val"), dataset.manifest.bosId, "val", 16 * 4 * T, shape());

/** A causal model: logits at t depend on the token at t only (a random table). */
function tableModel(seed: number): TrainedModel {
  const table = new Generator(seed).normal([V, V]);
  return { logits: (idx) => ops.embedding(table, idx), numParams: V * V, flopsPerToken: 1, depth: 1 };
}

/** Logits at t put +8 on the token at t + 1: the "dropped mask" that looks ahead. */
function peekingModel(): TrainedModel {
  return {
    logits: (idx: Tensor) => {
      const ids = idx.toArray() as Int32Array;
      const [B, L] = idx.shape as [number, number];
      const out = new Float32Array(B * L * V);
      for (let b = 0; b < B; b++) for (let t = 0; t + 1 < L; t++) out[(b * L + t) * V + ids[b * L + t + 1]!] = 8;
      return tensor(out, [B, L, V]);
    },
    numParams: 1,
    flopsPerToken: 1,
    depth: 1,
  };
}

describe("evaluateServedModel", () => {
  it("scores an honest model exactly as evaluateBpb does, probes passing", async () => {
    const model = tableModel(3);
    const r = await evaluateServedModel(serveInProcess(model, shape()), {
      shape: shape(),
      tokenBytes: dataset.tokenBytes,
      val: val(),
      random: seededRandom(1),
    });
    expect(r.status).toBe("ok");
    if (r.status !== "ok") return;
    const reference = evaluateBpb(model, dataset, { evalTokens: 16 * 4 * T, seqLen: T, batchSize: 4 });
    expect(r.val.bpb).toBe(reference.bpb);
    expect(r.val.tokens).toBe(reference.tokens);
    expect(r.probeRows).toBeGreaterThan(0);
  });

  it("marks a model that looks at the next token invalid, naming the causality probe", async () => {
    const r = await evaluateServedModel(serveInProcess(peekingModel(), shape()), {
      shape: shape(),
      tokenBytes: dataset.tokenBytes,
      val: val(),
      random: seededRandom(2),
    });
    expect(r.status).toBe("invalid");
    if (r.status === "invalid" && r.finding.kind !== "first-sight") {
      expect(r.finding.kind).toBe("causality");
      expect(r.finding.position).toBe(r.finding.cut);
      expect(r.error).toMatch(/^causality probe failed .* looks ahead/);
    }
    // Without probes the same model scores far below the honest one: the probes are what catch it.
    const unprobed = await evaluateServedModel(serveInProcess(peekingModel(), shape()), {
      shape: shape(),
      tokenBytes: dataset.tokenBytes,
      val: val(),
      probeBatches: 0,
    });
    expect(unprobed.status).toBe("ok");
  });

  it("marks a model whose answer changes on the second sight of a row invalid", async () => {
    const honest = tableModel(4);
    let calls = 0;
    const drifting: TrainedModel = { ...honest, logits: (idx) => ops.mul(honest.logits(idx), 1 + 0.01 * calls++) };
    const r = await evaluateServedModel(serveInProcess(drifting, shape()), {
      shape: shape(),
      tokenBytes: dataset.tokenBytes,
      val: val(),
      random: seededRandom(3),
    });
    expect(r.status).toBe("invalid");
  });

  it("marks a model that looks ahead on first sight and answers later sights from memory invalid (first-sight)", async () => {
    // As the red team's probe-evader: logits of each prefix fixed the first time it is seen,
    // with +8 on the token that followed it then. Every logit comparison passes.
    const honest = tableModel(6);
    const memory = new Map<string, Float32Array>();
    const evader: TrainedModel = {
      ...honest,
      logits: (idx) => {
        const ids = idx.toArray() as Int32Array;
        const [B, L] = idx.shape as [number, number];
        const out = honest.logits(idx).toArray() as Float32Array;
        for (let b = 0; b < B; b++)
          for (let t = 0; t < L; t++) {
            const key = ids.subarray(b * L, b * L + t + 1).join(",");
            const at = (b * L + t) * V;
            const seen = memory.get(key);
            if (seen) out.set(seen, at);
            else {
              if (t + 1 < L) out[at + ids[b * L + t + 1]!]! += 8;
              memory.set(key, out.slice(at, at + V));
            }
          }
        return tensor(out, [B, L, V]);
      },
    };
    // 16 batches of 4 rows: eight probe batches give the test 16 cuts (a full-size evaluation has more).
    const r = await evaluateServedModel(serveInProcess(evader, shape()), {
      shape: shape(),
      tokenBytes: dataset.tokenBytes,
      val: val(),
      probeBatches: 8,
      random: seededRandom(7),
    });
    expect(r.status).toBe("invalid");
    if (r.status !== "invalid") return;
    expect(r.finding.kind).toBe("first-sight");
    expect(r.error).toMatch(/^first-sight probe failed \(\d+ causality probes .*combined p = .* looks ahead/);
    if (r.finding.kind === "first-sight") expect(r.finding.cuts).toBe(16);
  });

  it("never fails an honest model's first-sight test (ten evaluations, different models and probe plans)", async () => {
    for (let seed = 10; seed < 20; seed++) {
      const r = await evaluateServedModel(serveInProcess(tableModel(seed), shape()), {
        shape: shape(),
        tokenBytes: dataset.tokenBytes,
        val: val(),
        probeBatches: 4,
        random: seededRandom(seed),
      });
      expect(r.status, r.status === "invalid" ? r.error : "").toBe("ok");
    }
  });

  it("reports NaN logits as non-finite", async () => {
    const nan: TrainedModel = {
      ...tableModel(5),
      logits: (idx) => tensor(new Float32Array(idx.shape[0]! * idx.shape[1]! * V).fill(Number.NaN), [...idx.shape, V]),
    };
    const r = await evaluateServedModel(serveInProcess(nan, shape()), { shape: shape(), tokenBytes: dataset.tokenBytes, val: val(), probeBatches: 0 });
    expect(r.status).toBe("non-finite");
  });
});

describe("planProbes", () => {
  it("places each probe batch after a scored one, re-sends rows already sent and keeps the prefix up to the cut", () => {
    const scored = val();
    const plan = planProbes(scored, { batchSize: 4, seqLen: T, probeBatches: 3, random: seededRandom(9) });
    expect(plan.order.filter((r) => r.kind === "scored").map((r) => r.index)).toEqual(scored.map((_, i) => i));
    expect(plan.order[0]).toEqual({ kind: "scored", index: 0 });
    for (const [j, batch] of plan.probes.entries()) {
      const at = plan.order.findIndex((r) => r.kind === "probe" && r.index === j);
      batch.rows.forEach((row, r) => {
        const src = scored[row.source.batch]!.ids.subarray(row.source.row * T, (row.source.row + 1) * T);
        const got = batch.ids.subarray(r * T, (r + 1) * T);
        expect(Array.from(got.subarray(0, row.cut + 1))).toEqual(Array.from(src.subarray(0, row.cut + 1)));
        expect(row.positions.every((p) => p <= row.cut)).toBe(true);
        const sourceAt = plan.order.findIndex((o) => o.kind === "scored" && o.index === row.source.batch);
        if (row.kind === "statelessness") {
          expect(Array.from(got)).toEqual(Array.from(src));
          expect(sourceAt).toBeLessThan(at);
        } else {
          expect(row.positions).toContain(row.cut);
          // Spliced from a row not yet scored: its first sight has another row's tail.
          expect(row.firstSightFrom).not.toBeNull();
          expect(row.source.batch).toBeGreaterThanOrEqual(row.firstSightFrom!);
          expect(sourceAt).toBeGreaterThan(at);
          expect(got[row.cut + 1]).not.toBe(src[row.cut + 1]);
        }
      });
      expect(batch.rows.filter((row) => row.kind === "causality")).toHaveLength(2);
    }
  });
});

describe("the channel from an untrusted child", () => {
  it("never parses a result, and rejects ready messages with non-finite or negative stats", () => {
    expect(parseChildMessage(JSON.stringify({ type: "result", outcome: { status: "ok" } }))).toBeNull();
    expect(parseChildMessage(JSON.stringify({ type: "failed", status: "ok", error: "x" }))).toBeNull();
    const stats = { numParams: 1, flopsPerToken: 1, depth: 1, steps: 1, totalTokens: 1, peakBytes: 1, mfuPercent: 1 };
    expect(parseChildMessage(JSON.stringify({ type: "ready", stats }))).toEqual({ type: "ready", stats });
    expect(parseChildMessage(JSON.stringify({ type: "ready", stats: { ...stats, steps: -1 } }))).toBeNull();
    expect(parseChildMessage(`{"type":"ready","stats":${JSON.stringify(stats).replace('"depth":1', '"depth":"1"')}}`)).toBeNull();
    expect(parseChildMessage("not json")).toBeNull();
  });
});

describe("StreamRedactor", () => {
  it("redacts a secret split across chunks and holds back no more than it must", () => {
    const secret = "sk-abcdefghijklmnop";
    const stream = new StreamRedactor(new Redactor([secret]));
    const out = [stream.push("key=sk-abcdef"), stream.push("ghijklmnop done\n"), stream.end()].join("");
    expect(out).toBe("key=[REDACTED] done\n");
    expect(new StreamRedactor(new Redactor([])).push("no secrets")).toBe("no secrets");
  });
});

describe("firstSightTest", () => {
  const B = 2;
  const LEN = 9;
  const VOCAB = 16;
  const S = 5;
  /** S batches of random ids, and a distinct loss per position. */
  const scored = (() => {
    const random = seededRandom(31);
    return Array.from({ length: S }, () => {
      const ids = Int32Array.from({ length: B * LEN }, () => Math.floor(random() * VOCAB));
      return { ids, targets: ids };
    });
  })();
  const losses = scored.map((_, s) => Float32Array.from({ length: B * LEN }, (_, i) => ((s * B * LEN + i) * 7919) % 97 + i / 1000));
  /** Logits at a cut that depend on the prefix only (a causal model). */
  const causalLogits = (batch: number, row: number, cut: number): Float32Array => {
    const rnd = seededRandom(batch * 1000 + row * 100 + cut);
    return Float32Array.from({ length: VOCAB }, () => rnd());
  };
  const tokenOf = (splice: Splice): number => scored[Math.floor(splice.row / B)]!.ids[(splice.row % B) * LEN + splice.offset]!;

  it("gives p = 1 with no cuts, and Fisher's combination of 1 / positions when cuts land on the worst losses", () => {
    expect(firstSightTest([], scored, losses, B, LEN).pValue).toBe(1);
    const worstCuts = [1, 2, 3].map((from) => {
      let best = { batch: from, row: 0, cut: 0, from, splice: null, logitsAtCut: new Float32Array(VOCAB) };
      for (let s = from; s < S; s++)
        for (let r = 0; r < B; r++)
          for (let c = 0; c < cutPositions(LEN); c++)
            if (losses[s]![r * LEN + c]! > losses[best.batch]![best.row * LEN + best.cut]!) best = { ...best, batch: s, row: r, cut: c };
      return best;
    });
    const r = firstSightTest(worstCuts, scored, losses, B, LEN);
    // Each cut's p is 1 / (positions it was drawn from): 1/64, 1/48, 1/32.
    const fisher = -2 * (Math.log(1 / 64) + Math.log(1 / 48) + Math.log(1 / 32));
    expect(r.pValue).toBeCloseTo(chiSquareUpperTailEvenDf(fisher, 6), 15);
    expect(r.lossWorst).toBe(0); // 1/32 to 1/64 is not among the worst 1%
  });

  it("gives a spliced token with the top logit the share of its token among the splices", () => {
    const cut = 4;
    const source = 3; // batch 1, row 1
    const splices: { splice: Splice; token: number }[] = [];
    forEachSplice(scored, B, LEN, source, cut, (row, offset, token) => splices.push({ splice: { row, offset }, token }));
    const avoid = scored[1]!.ids[1 * LEN + cut + 1]!;
    expect(splices.length).toBeGreaterThan(0);
    expect(splices.every(({ token, splice }) => token !== avoid && splice.row !== source && splice.offset <= cut + 1)).toBe(true);
    const { splice, token } = splices[0]!;
    const logitsAtCut = new Float32Array(VOCAB);
    logitsAtCut[token] = 10;
    const r = firstSightTest([{ batch: 1, row: 1, cut, from: 1, splice, logitsAtCut }], scored, losses, B, LEN);
    const share = splices.filter((x) => x.token === token).length / splices.length;
    const lossP = (losses.slice(1).flatMap((l) => [0, 1].flatMap((row) => Array.from(l.subarray(row * LEN, row * LEN + cutPositions(LEN))))).filter((x) => x >= losses[1]![LEN + cut]!).length) / (4 * B * cutPositions(LEN));
    expect(r.pValue).toBeCloseTo(chiSquareUpperTailEvenDf(-2 * Math.log(share) - 2 * Math.log(lossP), 4), 12);
  });

  it("keeps its false-alarm rate on a causal model, cuts and splices drawn as the planner draws them", () => {
    const random = seededRandom(21);
    let below = 0;
    const trials = 2000;
    for (let trial = 0; trial < trials; trial++) {
      const cuts = Array.from({ length: 3 }, () => {
        const from = 1 + Math.floor(random() * (S - 1));
        const batch = from + Math.floor(random() * (S - from));
        const row = Math.floor(random() * B);
        const cut = Math.floor(random() * cutPositions(LEN));
        const all: Splice[] = [];
        forEachSplice(scored, B, LEN, batch * B + row, cut, (r, offset) => all.push({ row: r, offset }));
        const splice = all[Math.floor(random() * all.length)]!;
        expect(tokenOf(splice)).not.toBe(scored[batch]!.ids[row * LEN + cut + 1]);
        return { batch, row, cut, from, splice, logitsAtCut: causalLogits(batch, row, cut) };
      });
      if (firstSightTest(cuts, scored, losses, B, LEN).pValue < 0.05) below++;
    }
    // Super-uniform p-values: at most 5% below 0.05, up to sampling error (sd ~0.5%).
    expect(below / trials).toBeLessThan(0.065);
    expect(below).toBeGreaterThan(0);
  });
});

describe("chiSquareUpperTailEvenDf", () => {
  it("matches the closed forms and stays finite far in the tail", () => {
    expect(chiSquareUpperTailEvenDf(3, 2)).toBeCloseTo(Math.exp(-1.5), 15);
    expect(chiSquareUpperTailEvenDf(10, 4)).toBeCloseTo(Math.exp(-5) * 6, 15);
    expect(chiSquareUpperTailEvenDf(0, 8)).toBe(1);
    const far = chiSquareUpperTailEvenDf(2000, 200);
    expect(far).toBeGreaterThan(0);
    expect(far).toBeLessThan(1e-200);
    expect(() => chiSquareUpperTailEvenDf(1, 3)).toThrow(/even/);
  });
});
