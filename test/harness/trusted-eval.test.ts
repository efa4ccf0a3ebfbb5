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
    if (r.status === "invalid") {
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
        if (row.kind === "statelessness") {
          expect(Array.from(got)).toEqual(Array.from(src));
          expect(plan.order.findIndex((o) => o.kind === "scored" && o.index === row.source.batch)).toBeLessThan(at);
        } else expect(row.positions).toContain(row.cut);
      });
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
