/**
 * The trusted evaluator: scores a model it can only query. The model (a train.ts, in its own
 * sandboxed process) is a ModelServer: ids in, logits out. This side alone holds the held-out
 * tokens, their targets and byte lengths, computes the cross-entropy and runs the probes; the
 * model never learns which batches are scored, which are probes, or what the targets are.
 *
 *   const r = await evaluateServedModel(server, { shape, tokenBytes, val, test, random });
 *   if (r.status === "ok") console.log(r.val.bpb);
 */
import { randomBytes } from "node:crypto";
import { Generator } from "../../engine/index.ts";
import { BpbAccumulator, type BpbResult, type EvalBatch, type EvalShape } from "./score.ts";
import { FIRST_SIGHT_ALPHA, type FirstSightCut, type FirstSightResult, describeFirstSight, firstSightTest } from "./first-sight.ts";
import { type ProbeFinding, type ProbeRow, compareLogits, describeFinding, planProbes } from "./probes.ts";

/** A model behind a process boundary: one batch of ids (B × T int32) in, its logits out. */
export interface ModelServer {
  /**
   * Resolves with the logits (B · T · V float32, row-major) of one batch. Calls are answered in
   * the order they are made; several may be in flight. The buffer may be the server's own,
   * reused once more answers arrive: the evaluator reads it at once and copies what it keeps.
   */
  logits(ids: Int32Array): Promise<Float32Array>;
}

export interface TrustedEvaluationOptions {
  shape: EvalShape;
  /** UTF-8 byte length per token id; 0 for special tokens. */
  tokenBytes: Int32Array;
  /** Scored validation batches (evaluationBatches of the val split). */
  val: EvalBatch[];
  /** Held-out test batches, scored after val when a winner is verified. */
  test?: EvalBatch[];
  /** Probe batches; default one per 16 scored batches, at least 2. 0 turns probes off. */
  probeBatches?: number;
  positionsPerRow?: number;
  /** Batches in flight at once, so the model computes one while this side scores another. */
  inFlight?: number;
  /** Uniform in [0, 1); default: seeded from the OS's cryptographic randomness. */
  random?: () => number;
}

export type TrustedEvaluation =
  | { status: "ok"; val: BpbResult; test?: BpbResult; probeRows: number }
  | { status: "invalid"; error: string; finding: ProbeFinding | ({ kind: "first-sight" } & FirstSightResult) }
  | { status: "non-finite"; error: string };

/** The engine's generator, seeded from the OS's cryptographic randomness: unknowable to the model. */
export function cryptoRandom(): () => number {
  const gen = new Generator(randomBytes(4).readUInt32LE(0));
  return () => gen.random();
}

type Request = { kind: "scored"; index: number } | { kind: "probe"; index: number } | { kind: "test"; index: number };

/** The logits of the compared positions of one probe row, as scored and as probed. */
interface PendingComparison {
  probe: ProbeRow;
  scored: Float32Array[] | null;
  probed: Float32Array[] | null;
}

export async function evaluateServedModel(server: ModelServer, options: TrustedEvaluationOptions): Promise<TrustedEvaluation> {
  const { shape, val } = options;
  const { batchSize: B, seqLen: T, vocabSize: V } = shape;
  const random = options.random ?? cryptoRandom();
  const plan =
    options.probeBatches === 0
      ? { probes: [], order: val.map((_, index) => ({ kind: "scored" as const, index })) }
      : planProbes(val, {
          batchSize: B,
          seqLen: T,
          random,
          ...(options.probeBatches !== undefined ? { probeBatches: options.probeBatches } : {}),
          ...(options.positionsPerRow !== undefined ? { positionsPerRow: options.positionsPerRow } : {}),
        });
  const test = options.test ?? [];
  const requests: Request[] = [...plan.order, ...test.map((_, index) => ({ kind: "test" as const, index }))];

  // Probe rows by the scored row they re-send, to pick its logits out as it is scored.
  const pending = new Map<ProbeRow, PendingComparison>();
  const bySource = new Map<number, PendingComparison[]>();
  for (const batch of plan.probes)
    for (const row of batch.rows) {
      const entry: PendingComparison = { probe: row, scored: null, probed: null };
      pending.set(row, entry);
      const key = row.source.batch * B + row.source.row;
      bySource.set(key, [...(bySource.get(key) ?? []), entry]);
    }
  const probeRows = pending.size;
  const scoredLosses: Float32Array[] = [];
  const positionsOf = (logits: Float32Array, row: number, positions: number[]): Float32Array[] =>
    positions.map((p) => logits.slice((row * T + p) * V, (row * T + p + 1) * V));
  const compare = (entry: PendingComparison): ProbeFinding | null => {
    if (!entry.scored || !entry.probed) return null;
    const { probe } = entry;
    for (let i = 0; i < probe.positions.length; i++) {
      const moved = compareLogits(entry.scored[i]!, entry.probed[i]!);
      if (moved)
        return { kind: probe.kind, batch: probe.source.batch, row: probe.source.row, position: probe.positions[i]!, cut: probe.cut, ...moved };
    }
    return null;
  };

  const valSum = new BpbAccumulator(options.tokenBytes, V);
  const testSum = new BpbAccumulator(options.tokenBytes, V);
  const idsOf = (r: Request): Int32Array =>
    r.kind === "scored" ? val[r.index]!.ids : r.kind === "probe" ? plan.probes[r.index]!.ids : test[r.index]!.ids;

  const inFlight = Math.max(1, options.inFlight ?? 2);
  const awaiting: Promise<Float32Array>[] = [];
  let sent = 0;
  const sendMore = (): void => {
    while (sent < requests.length && awaiting.length < inFlight) {
      const answer = server.logits(idsOf(requests[sent++]!));
      answer.catch(() => undefined); // awaited in order below; a failure surfaces there
      awaiting.push(answer);
    }
  };
  for (const request of requests) {
    sendMore();
    const logits = await awaiting.shift()!;
    sendMore(); // the model computes the next batch while this one is scored
    if (logits.length !== B * T * V)
      throw new RangeError(`the model server answered ${logits.length} logits for a batch of ${B} × ${T} × vocab ${V}`);
    let finding: ProbeFinding | null = null;
    if (request.kind === "test") testSum.add(logits, test[request.index]!.targets);
    else if (request.kind === "scored") {
      scoredLosses[request.index] = valSum.add(logits, val[request.index]!.targets);
      for (let row = 0; row < B && !finding; row++)
        for (const entry of bySource.get(request.index * B + row) ?? []) {
          entry.scored = positionsOf(logits, row, entry.probe.positions);
          finding ??= compare(entry);
        }
    } else {
      const batch = plan.probes[request.index]!;
      batch.rows.forEach((probe, row) => {
        const entry = pending.get(probe)!;
        entry.probed = positionsOf(logits, row, probe.positions);
        finding ??= compare(entry);
      });
    }
    if (finding) {
      // Nothing more is asked: what is in flight is drained so the server stays in step.
      await Promise.allSettled(awaiting);
      return { status: "invalid", error: describeFinding(finding, probeRows), finding };
    }
  }
  const valResult = valSum.result();
  if (!Number.isFinite(valResult.bpb))
    return { status: "non-finite", error: `val_bpb is ${valResult.bpb}: the model's logits are not finite` };
  const firstSight: FirstSightCut[] = [...pending.values()]
    .filter(({ probe }) => probe.kind === "causality" && probe.firstSightFrom !== null)
    .map(({ probe, probed }) => ({
      batch: probe.source.batch,
      row: probe.source.row,
      cut: probe.cut,
      from: probe.firstSightFrom!,
      splice: probe.splice,
      logitsAtCut: probed![probe.positions.indexOf(probe.cut)]!,
    }));
  const sight = firstSightTest(firstSight, val, scoredLosses, B, T);
  if (sight.pValue < FIRST_SIGHT_ALPHA) return { status: "invalid", error: describeFirstSight(sight), finding: { kind: "first-sight", ...sight } };
  return { status: "ok", val: valResult, ...(test.length > 0 ? { test: testSum.result() } : {}), probeRows };
}
