/**
 * A deterministic stand-in for the sandboxed runner (the Trainer seam, src/harness/trainer.ts),
 * so that the drivers' logic — the keep rule through the loop, pipelining, slots, crashes to
 * fix, resume, verification — is tested in milliseconds instead of real trainings.
 *
 * It reads the train.ts it is given and answers from it:
 *   export const VAL_BPB = 1.5;      the val_bpb it reports is the sum of every `export const
 *   export const LR_BPB = -0.1;      <NAME>_BPB = x;` line (none: options.baseline), plus seed
 *                                    noise N(0, noiseSd) drawn from (seed, file text), so that
 *                                    edits to different lines compose as a real recipe's would;
 *                                    plus, for each knob named in options.optima, a bowl
 *                                    0.05·ln(value/optimum)² (the builtin agent's landscape)
 *   // fake: crash <message>         status "crash", the message as error and log tail
 *   // fake: invalid <message>       status "invalid" (the evaluator caught the model)
 *   // fake: timeout                 status "timeout"
 *   // fake: hang                    never returns: only the caller's abort ends it (RUN_ABORTED)
 *   // fake: delay <ms>              takes that long (default: options.delayMs)
 * Every call is recorded (what trained, with which seed and environment, when), and the most
 * trainings it ever had in flight at once.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { RunnerError, type RunTrainOptions } from "../../src/harness/runner/index.ts";
import type { Trainer } from "../../src/harness/trainer.ts";
import type { RunResult, RunSummary } from "../../src/harness/types.ts";
import { Lab, labReadme } from "../../src/lab/index.ts";
import { seededRandom } from "./random.ts";

/** A small train.ts for the fake trainer, with knobs the builtin agent can tune as well. */
export const FAKE_TRAIN_TS = `// A train.ts for the fake trainer (test/support/fake-trainer.ts): it reads the lines below.
export const VAL_BPB = 1.5;
export const MATRIX_LR = 0.04;
export const UNEMBEDDING_LR = 0.004;
export const WEIGHT_DECAY = 0.2;
export const WARMDOWN_RATIO = 0.5;
export const ADAM_BETAS = [0.8, 0.95];
export default async function train(): Promise<never> {
  throw new Error("only the fake trainer reads this file");
}
`;


/** Creates <workspace>/lab with FAKE_TRAIN_TS; returns the workspace directory. */
export async function initFakeLab(workspace: string): Promise<string> {
  await Lab.init(join(workspace, "lab"), { trainTs: FAKE_TRAIN_TS, readme: labReadme({ profile: "cpu" }) });
  return workspace;
}

export interface FakeTrainerOptions {
  /** val_bpb of a train.ts that sets no VAL_BPB (default 1.5). */
  baseline?: number;
  /** sd of the seed noise added to every val_bpb (default 0: the same answer for every seed). */
  noiseSd?: number;
  /** Milliseconds each training takes unless its file says otherwise (default 0). */
  delayMs?: number;
  /** Knobs (`export const NAME = <positive number>;`) whose distance from these values costs val_bpb. */
  optima?: Record<string, number>;
  /**
   * Tokens trained (millions) by the training with this 0-based index: the throughput a
   * verification compares across its pairs (default 0.1 for every training, a steady machine).
   */
  tokensM?: (index: number) => number;
}

export interface FakeTraining {
  trainTs: string;
  seed: number;
  env: Record<string, string | undefined>;
  evalTest: boolean;
  startedAt: number;
  endedAt?: number;
  status?: RunResult["status"] | "aborted";
}

export interface FakeTrainer {
  train: Trainer;
  trainings: FakeTraining[];
  /** The most trainings that were ever in flight at the same moment. */
  maxInFlight(): number;
}

export function fakeTrainer(options: FakeTrainerOptions = {}): FakeTrainer {
  const trainings: FakeTraining[] = [];
  let inFlight = 0;
  let maxInFlight = 0;

  const train: Trainer = async (o: RunTrainOptions) => {
    const trainTs = readFileSync(o.file, "utf8");
    const record: FakeTraining = { trainTs, seed: o.seed, env: o.env ?? {}, evalTest: o.evalTest === true, startedAt: Date.now() };
    const index = trainings.push(record) - 1;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const result = await answer(trainTs, o, options, options.tokensM?.(index) ?? 0.1);
      record.status = result.status;
      if (o.logFile) writeFileSync(o.logFile, `${result.logTail}\n`);
      return result;
    } catch (err) {
      record.status = "aborted";
      throw err;
    } finally {
      record.endedAt = Date.now();
      inFlight--;
    }
  };
  return { train, trainings, maxInFlight: () => maxInFlight };
}

const directive = (trainTs: string, name: string): string | null => {
  const m = new RegExp(`^\\s*// fake: ${name}\\b ?(.*)$`, "m").exec(trainTs);
  return m ? m[1]!.trim() : null;
};

async function answer(trainTs: string, o: RunTrainOptions, options: FakeTrainerOptions, tokensM: number): Promise<RunResult> {
  const base = { seed: o.seed, profile: o.profile, timeBudget: o.timeBudget ?? 1, sandboxed: o.sandbox !== "off" };
  const delay = Number(directive(trainTs, "delay") ?? options.delayMs ?? 0);
  if (directive(trainTs, "hang") !== null) await untilAborted(o.signal);
  if (delay > 0) await abortableSleep(delay, o.signal);
  else if (o.signal?.aborted) throw aborted();

  const crash = directive(trainTs, "crash");
  if (crash !== null) return { ...base, status: "crash", error: crash || "train.ts crashed", logTail: `Error: ${crash || "train.ts crashed"}` };
  const invalid = directive(trainTs, "invalid");
  if (invalid !== null) return { ...base, status: "invalid", error: invalid || "the evaluator rejected the model", logTail: "" };
  if (directive(trainTs, "timeout") !== null) return { ...base, status: "timeout", error: "killed at the hard limit", logTail: "" };

  const terms = [...trainTs.matchAll(/^export const \w*BPB = ([0-9.eE+-]+);/gm)].map((m) => Number(m[1]));
  let mean = terms.length > 0 ? terms.reduce((a, b) => a + b, 0) : (options.baseline ?? 1.5);
  for (const [knob, optimum] of Object.entries(options.optima ?? {})) {
    const value = Number(new RegExp(`^export const ${knob} = ([0-9.eE+-]+);`, "m").exec(trainTs)?.[1]);
    if (value > 0) mean += 0.05 * Math.log(value / optimum) ** 2;
  }
  const valBpb = mean + (options.noiseSd ?? 0) * standardNormal(o.seed, trainTs);
  const summary: RunSummary = {
    val_bpb: valBpb,
    training_seconds: base.timeBudget,
    total_seconds: base.timeBudget + 0.5,
    peak_vram_mb: 0,
    mfu_percent: 1,
    total_tokens_M: tokensM,
    num_steps: 10,
    num_params_M: 0.1,
    depth: 2,
  };
  return { ...base, status: "ok", summary, logTail: `val_bpb: ${valBpb.toFixed(6)}`, ...(o.evalTest ? { testBpb: valBpb + 0.01 } : {}) };
}

/** A standard normal draw that depends only on the seed and the file: reruns agree, seeds differ. */
function standardNormal(seed: number, trainTs: string): number {
  const h = createHash("sha256").update(`${seed}\n${trainTs}`).digest().readUInt32LE(0);
  const rand = seededRandom(h);
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

const aborted = () => new RunnerError("RUN_ABORTED", "the training was aborted");

async function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw aborted();
    throw err;
  }
}

function untilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return; // nothing can end it: the caller asked for a hang
    if (signal.aborted) reject(aborted());
    else signal.addEventListener("abort", () => reject(aborted()), { once: true });
  });
}
