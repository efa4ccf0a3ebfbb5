/**
 * The channel between the runner (trusted parent) and its child (untrusted: it runs train.ts):
 * JSON lines both ways on file descriptor 3, plus an exchange file the child writes logits
 * into. train.ts owns stdout and stderr, so nothing the parent decides on is parsed from them.
 *
 * What the child may say is deliberately narrow: progress (shown, never trusted), that
 * training started and ended (the parent times both on its own clock), the model's self-declared
 * size, logits for the ids the parent asked for, or that it failed. No message can carry a
 * result: the parent computes val_bpb itself, and "ok" is never the child's word. This file
 * defines the messages and their parsing; it does no I/O of its own.
 */
import type { Profile } from "../constants.ts";
import type { RunStatus } from "../types.ts";

/** The descriptor both sides talk on (stdio index 3 of the spawn; a socket pair). */
export const CHANNEL_FD = 3;

/** What the parent hands the child (argv[2], JSON). Everything in it is the child's to know. */
export interface ChildConfig {
  /** Name of the train.ts, for the log header. */
  file: string;
  /** A directory holding manifest.json and the train split's shards: nothing held out. */
  trainDataDir: string;
  profile: Profile;
  seed: number;
  timeBudget: number;
  /** Minimum milliseconds between two live progress updates. */
  progressIntervalMs: number;
  /**
   * The runner's pid, when the child can see it (no PID namespace): the child dies when its
   * parent is no longer this process. null inside the sandbox, which dies with its parent.
   */
  parentPid: number | null;
  /** The exchange file the child writes logits into, and the bytes of one slot. */
  exchange: { path: string; slotBytes: number; slots: number };
  /** Shape of the evaluation batches the parent will send. */
  eval: { batchSize: number; seqLen: number };
}

/** A live snapshot of training, sent (throttled) as train.ts reports steps. */
export interface ProgressSnapshot {
  /** Steps reported so far (logger.step calls). */
  steps: number;
  /** The step number train.ts reported last. */
  step: number;
  loss: number;
  lrm?: number;
  epoch?: number;
  /** Milliseconds between the last two step reports. */
  dtMs: number;
  tokensPerSecond: number;
  /** Known only when train.ts reports flopsPerToken with its steps. */
  mfuPercent?: number;
  /** Fraction of the budget spent, in [0, 1]. */
  progress: number;
  elapsedSeconds: number;
  remainingSeconds: number;
  /** The autoresearch-style progress line, as printed. */
  line: string;
}

/** What train.ts declares about its model and training: shown in the summary, never scored. */
export interface DeclaredStats {
  numParams: number;
  flopsPerToken: number;
  depth: number;
  /** Steps and tokens logger.step saw. */
  steps: number;
  totalTokens: number;
  /** Peak bytes of tensors on the training device. */
  peakBytes: number;
  /** Model FLOP utilisation as train.ts's own steps and clock measured it. */
  mfuPercent: number;
}

/** The statuses a child may claim: only failures, which can do a cheater no good. */
export type ChildFailure = Extract<RunStatus, "crash" | "non-finite" | "out-of-memory">;

export type ChildMessage =
  | { type: "progress"; progress: ProgressSnapshot }
  /** The harness is about to call train(ctx). */
  | { type: "started" }
  /** train(ctx) returned a model; the child now serves logits. */
  | { type: "ready"; stats: DeclaredStats }
  /** The logits of request `id`, written to its exchange slot, shaped [B, T, V]. */
  | { type: "logits"; id: number; shape: number[] }
  | { type: "failed"; status: ChildFailure; error: string }
  /** The harness itself failed before train.ts ran: the run says nothing about train.ts. */
  | { type: "harness-error"; code: string; message: string };

export type ParentMessage =
  /** Compute the logits of ids (B × T int32, little-endian, base64) into slot id % slots. */
  | { type: "logits"; id: number; ids: string }
  /** Evaluation is over: exit. */
  | { type: "done" };

const FAILURES: readonly ChildFailure[] = ["crash", "non-finite", "out-of-memory"];
const STAT_KEYS: readonly (keyof DeclaredStats)[] = ["numParams", "flopsPerToken", "depth", "steps", "totalTokens", "peakBytes", "mfuPercent"];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The JSON object on a line, or null for anything else. */
function jsonRecord(line: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(line);
    return isRecord(value) ? value : null;
  } catch {
    return null;
  }
}
const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * Parses one line from the child; null for anything that is not a well-formed message. The
 * child is untrusted: every field the parent will use is checked here for type and range.
 */
export function parseChildMessage(line: string): ChildMessage | null {
  const msg = jsonRecord(line);
  if (!msg) return null;
  switch (msg.type) {
    case "progress":
      return isRecord(msg.progress) && typeof msg.progress.line === "string" ? (msg as ChildMessage) : null;
    case "started":
      return { type: "started" };
    case "ready": {
      if (!isRecord(msg.stats)) return null;
      const stats = {} as DeclaredStats;
      for (const key of STAT_KEYS) {
        const v = msg.stats[key];
        if (!finite(v) || v < 0) return null;
        stats[key] = v;
      }
      return { type: "ready", stats };
    }
    case "logits":
      return Number.isSafeInteger(msg.id) && Array.isArray(msg.shape) && msg.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)
        ? { type: "logits", id: msg.id as number, shape: msg.shape as number[] }
        : null;
    case "failed":
      return FAILURES.includes(msg.status as ChildFailure) && typeof msg.error === "string"
        ? { type: "failed", status: msg.status as ChildFailure, error: msg.error.slice(0, 2000) }
        : null;
    case "harness-error":
      return typeof msg.message === "string" && typeof msg.code === "string" ? (msg as ChildMessage) : null;
    default:
      return null;
  }
}

/** Parses one line from the parent (the child trusts its parent, but checks for its own bugs). */
export function parseParentMessage(line: string): ParentMessage | null {
  const msg = jsonRecord(line);
  if (!msg) return null;
  if (msg.type === "done") return { type: "done" };
  if (msg.type === "logits" && Number.isSafeInteger(msg.id) && typeof msg.ids === "string")
    return { type: "logits", id: msg.id as number, ids: msg.ids };
  return null;
}

export function encodeIds(ids: Int32Array): string {
  return Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength).toString("base64");
}

export function decodeIds(text: string): Int32Array {
  const bytes = Buffer.from(text, "base64");
  const out = new Int32Array(bytes.length >> 2);
  Buffer.from(out.buffer).set(bytes.subarray(0, out.length * 4));
  return out;
}
