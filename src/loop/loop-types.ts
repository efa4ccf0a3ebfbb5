/**
 * The inner loop's public contract: its options, the events it emits while it runs, how it
 * ends, and its errors. The loop itself is loop.ts (the scheduler) and experiment.ts (one
 * experiment); run-start.ts opens the run.
 */
import type { Agent, ResearchMemory } from "../agents/types.ts";
import type { AgentChoice } from "../agents/factory.ts";
import type { Profile } from "../harness/constants.ts";
import type { ProgressSnapshot, SandboxMode } from "../harness/runner/index.ts";
import type { Experiment, Run } from "../store/index.ts";
import { CodedError } from "../util/errors.ts";
import type { DeviceSlot } from "../workspace/devices.ts";
import type { OrgSource } from "../workspace/org.ts";

export type LoopErrorCode = "RUN_EXISTS" | "NO_RUN_TO_RESUME" | "ORG_CHANGED" | "BASELINE_FAILED";

export class LoopError extends CodedError<LoopErrorCode> {}

export type LoopEvent =
  | { kind: "run"; run: Run; resumed: boolean; interrupted: number; slots: DeviceSlot[]; memory: ResearchMemory }
  | { kind: "proposing"; slot: number; fixing: boolean; speculative: boolean }
  | { kind: "training"; slot: number; seq: number; description: string }
  | { kind: "progress"; slot: number; seq: number; progress: ProgressSnapshot }
  | { kind: "finished"; slot: number; experiment: Experiment; best: number | null }
  | { kind: "skipped"; slot: number; experiment: Experiment }
  /** Something the user should know before the run goes on (train.ts trains unsandboxed). */
  | { kind: "warning"; message: string };

export interface LoopOptions {
  org: OrgSource;
  agent: AgentChoice;
  profile: Profile;
  timeBudget: number;
  datasetDir: string;
  /** Names the run: its branch is nightshift/<tag>/<org>. */
  tag: string;
  /** The harness seed of every experiment: parent and candidate share init and data order. */
  seed: number;
  resume: boolean;
  /** The commit a new run starts from (default: the lab's main). */
  baseCommit?: string;
  /** Where experiments train, one at a time per slot. Default: one CPU slot. */
  devices?: DeviceSlot[];
  /** Prepare the next proposal while an experiment trains (default true). */
  pipeline?: boolean;
  /** Stop after this many experiments (skipped proposals count) in this invocation. */
  experiments?: number;
  /** Stop once this many hours have passed (experiments in flight finish). */
  hours?: number;
  /** Stop proposing once the run's agent spending reaches this many US dollars. */
  maxCostUsd?: number;
  /** Proposals that try to fix a crash before moving on. */
  fixAttempts?: number;
  /** Seconds after which a training child is killed (default: the runner's, 1.5 × budget + 180 s). */
  hardLimit?: number;
  /**
   * Where every train.ts trains (the runner's sandbox option): "auto" sandboxes it when bubblewrap
   * works here, "off" never (the user's --no-sandbox). Undefined: a resumed run keeps the mode
   * stored with it, a new run takes "auto". The mode is stored in the run's settings. Either way
   * an LLM agent's run is refused before anything is written when the sandbox cannot run and the
   * mode is not "off" (SandboxRefusal, from ./sandbox.ts).
   */
  sandbox?: SandboxMode;
  /**
   * Besides the org's own and its ancestors' earlier runs, the research memory holds other
   * orgs' verified results of this tournament (the tournament's --shared-memory).
   */
  sharedMemory?: { tournamentId: number };
  /** Checked between experiments: true stops the loop gracefully. */
  stopRequested?: () => boolean;
  /** Aborting abandons the experiments in flight (recorded as interrupted). */
  signal?: AbortSignal;
  onEvent?: (event: LoopEvent) => void;
  /** An agent to use instead of building one from `agent` (tests, benchmarks). */
  agentOverride?: Agent;
}

export type StopReason = "experiments" | "hours" | "cost cap" | "stop requested" | "interrupted";

export interface LoopSummary {
  runId: number;
  branch: string;
  experiments: number;
  kept: number;
  best: number | null;
  stoppedBecause: StopReason;
  /** Wall-clock seconds of this invocation, and seconds the slots spent training (summed). */
  wallSeconds: number;
  trainingSeconds: number;
  slots: number;
}
