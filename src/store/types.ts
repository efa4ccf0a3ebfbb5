/**
 * The store's public types: what goes in (New*, *Start, *Finish) and what comes out (Org, Run,
 * Experiment, ...). Rows come back in camelCase with nulls for absent values; timestamps are
 * ISO 8601 UTC strings. Nothing here touches SQL.
 */
import type { Profile } from "../harness/constants.ts";
import type { RunResult, RunStatus, RunSummary } from "../harness/types.ts";
import type { AgentUsage } from "../agents/types.ts";
import type { JsonValue } from "./secrets.ts";

export interface StoreOptions {
  /** Open without writing: no migrations, no WAL switch; every write throws STORE_READONLY. */
  readonly?: boolean;
  /** How long a write waits for another connection's lock before STORE_BUSY (default 5000 ms). */
  busyTimeoutMs?: number;
  /** Secret values (API keys) to replace with [REDACTED] in every text the store writes. */
  secrets?: readonly string[];
  /** The clock for created/started/finished timestamps (tests pin it). Default: the system clock. */
  now?: () => Date;
}

// ---- orgs ----------------------------------------------------------------------------------

export interface Org {
  id: number;
  name: string;
  programMd: string;
  /** sha256 hex of programMd as stored. */
  programMdHash: string;
  parentId: number | null;
  generation: number;
  mutationNote: string | null;
  createdAt: string;
}

export interface NewOrg {
  name: string;
  programMd: string;
  parentId?: number;
  /** Default: the parent's generation + 1, or 0 without a parent. */
  generation?: number;
  /** How this org came about (the meta-agent's note), for the lineage. */
  mutationNote?: string;
}

// ---- runs ----------------------------------------------------------------------------------

export type RunState = "running" | "stopped" | "finished";

export interface Run {
  id: number;
  tag: string;
  orgId: number;
  branch: string;
  profile: Profile;
  /** Training budget in seconds: runs under different profiles or budgets are never compared. */
  timeBudget: number;
  /** What trained (e.g. "cpu", "NVIDIA H100 80GB HBM3"): noise floors are per device kind. */
  deviceKind: string;
  agent: string;
  model: string | null;
  baseCommit: string;
  status: RunState;
  /** The run's settings as stored: secret-named keys were scrubbed (see secrets.ts). */
  settings: { [key: string]: JsonValue };
  costCapUsd: number | null;
  startedAt: string;
  endedAt: string | null;
  /** Where an imported run came from; null for a run nightshift trained (the only kind verify reruns). */
  importedFrom: ImportSource | null;
}

export interface NewRun {
  tag: string;
  orgId: number;
  branch: string;
  profile: Profile;
  timeBudget: number;
  deviceKind: string;
  agent: string;
  model?: string;
  baseCommit: string;
  /** Any JSON object; keys matching /key|token|secret|password|auth|credential/i are dropped. */
  settings?: Record<string, unknown>;
  costCapUsd?: number;
}

/** What `nightshift import` read an imported run from (runs.import_json). */
export interface ImportSource {
  /** The system that ran it: "autoresearch" (a branch of train.py commits plus its results.tsv). */
  kind: "autoresearch";
  /** The repository's absolute path at import time. */
  repo: string;
  /** The foreign branch, e.g. autoresearch/mar5. */
  branch: string;
  tag: string;
  /** The branch head when it was imported (full hash). */
  head: string;
  /** The results.tsv read, and the sha256 of its bytes: the same file and head import the same run. */
  resultsPath: string;
  resultsSha256: string;
  /** Set by the store when the run is written. */
  importedAt: string;
}

/** One results.tsv row as the store records it (every field already mapped from autoresearch's). */
export interface NewImportedExperiment {
  /** The head it was tried against: the latest kept commit before it (abbreviated when not in the repository). */
  parentCommit: string;
  /** Full when found in the repository (its branch or reflog), else results.tsv's short hash. */
  commit: string;
  /** The change against parentCommit; null when the commit is no longer in the repository. */
  diff: string | null;
  description: string;
  status: "keep" | "discard" | "crash";
  /** Present exactly for keep and discard. */
  valBpb: number | null;
  /** results.tsv's memory_gb × 1024; null when it recorded none (0.0) or for a crash. */
  peakVramMb: number | null;
  /** Required for a crash: results.tsv records no log, only that it crashed. */
  reason?: string;
}

/** A whole foreign run, written by Store.importRun in one transaction. */
export interface NewImportedRun {
  tag: string;
  /** The org it ran under: created, or reused when one of this name has the same program.md. */
  org: { name: string; programMd: string };
  /** The run's name in this store (runs.branch): unique. */
  branch: string;
  profile: Profile;
  timeBudget: number;
  deviceKind: string;
  agent: string;
  baseCommit: string;
  /** The best times git knows (the branch's reflog, commit dates); ISO 8601. */
  startedAt: string;
  endedAt: string;
  source: Omit<ImportSource, "importedAt">;
  experiments: NewImportedExperiment[];
}

export interface ImportOutcome {
  run: Run;
  /** false: the same source (results.tsv bytes and branch head) was imported before; nothing was written. */
  created: boolean;
}

export interface RunFilter {
  orgId?: number;
  status?: RunState;
}

// ---- experiments ---------------------------------------------------------------------------

/**
 * `invalid`: the trusted evaluator's probes caught the model cheating (outcome "invalid"); the
 * reason holds the probe's evidence. Never kept, never a crash to fix, never credited.
 */
export type ExperimentStatus = "proposed" | "running" | "keep" | "discard" | "crash" | "invalid" | "skipped";
/** How a run experiment ends. */
export type Decision = "keep" | "discard" | "crash" | "invalid";

export interface UsageTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Usage with its prompt-cache parts: both are parts of inputTokens (the whole prompts). */
export interface CachedUsageTotals extends UsageTotals {
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export interface Experiment {
  id: number;
  runId: number;
  /** 1, 2, ... within the run, in proposal order. */
  seq: number;
  slot: number;
  /** The branch head the edit was proposed against. */
  parentCommit: string;
  /** The experiment's commit: set by startExperiment. */
  commit: string | null;
  diff: string | null;
  description: string;
  hypothesis: string;
  status: ExperimentStatus;
  /** The RunResult status of the training run, once finished. */
  outcome: RunStatus | null;
  /** Why it crashed, was found invalid (the probe's evidence), was skipped, or (for a failed run) was discarded. */
  reason: string | null;
  /** The summary block, present exactly when outcome is "ok". */
  summary: RunSummary | null;
  seed: number | null;
  logPath: string | null;
  logTail: string | null;
  /** 0 for a fresh proposal; n for the n-th attempt to fix a crash. */
  fixAttempt: number;
  /** The crashed experiment this one tries to fix. */
  fixOf: number | null;
  /** Agent usage recorded against this experiment (the sum of its agent_calls rows). */
  usage: CachedUsageTotals;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * Whether train.ts trained inside the sandbox: set when the experiment finishes with an
   * outcome; null before that, and for experiments finished before the store recorded it.
   */
  sandboxed: boolean | null;
  /**
   * A row of an imported run (nightshift did not train it): its summary is null, since
   * results.tsv keeps only val_bpb (valBpb) and memory; it has no seed, log or times.
   */
  imported: boolean;
  /** The measured val_bpb, for every row with a result: summary.val_bpb, or an imported row's. */
  valBpb: number | null;
}

export interface NewExperiment {
  runId: number;
  slot?: number;
  parentCommit: string;
  description: string;
  hypothesis: string;
  fixAttempt?: number;
  fixOf?: number;
  /** The proposal's agent usage: recorded in the agent_calls ledger in the same transaction. */
  usage?: AgentUsage;
}

export interface ExperimentStart {
  commit: string;
  diff: string;
  seed: number;
  logPath?: string;
}

export interface ExperimentFinish {
  status: Decision;
  result: RunResult;
  /** Why (e.g. "not better than 0.9812"). Default for a failed run: result.error. */
  reason?: string;
  logPath?: string;
}

/** A proposal the agent gave up on (or the loop refused), recorded directly as skipped. */
export interface SkippedProposal {
  runId: number;
  slot?: number;
  parentCommit: string;
  description?: string;
  hypothesis?: string;
  reason: string;
  fixAttempt?: number;
  fixOf?: number;
  usage?: AgentUsage;
}

// ---- agent calls ---------------------------------------------------------------------------

export interface NewAgentCall {
  /** The run the call was made for; absent for calls that belong to no run (purpose "meta"). */
  runId?: number;
  experimentId?: number;
  /** What the call was for: "propose" (default), "fix", "meta", ... */
  purpose?: string;
  model: string;
  /** API requests this row covers (default 1). */
  calls?: number;
  /** The whole prompts, cached parts included. */
  inputTokens: number;
  outputTokens: number;
  /** Part of inputTokens read from the provider's prompt cache (default 0). */
  cacheReadTokens?: number;
  /** Part of inputTokens written to the provider's prompt cache (default 0). */
  cacheWriteTokens?: number;
  /** At the model's prices, cache reads and writes at theirs. */
  costUsd: number;
  ok: boolean;
  /** One line; redacted of known secrets. */
  error?: string;
  durationMs?: number;
}

export interface AgentCallRecord {
  id: number;
  runId: number | null;
  experimentId: number | null;
  purpose: string;
  model: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
  ok: boolean;
  error: string | null;
  durationMs: number | null;
  createdAt: string;
}

export type RunCost = CachedUsageTotals;

// ---- narrow reads (briefs.ts) -------------------------------------------------------------------

/**
 * An experiment without its large texts (diff, log tail, hypothesis, log path) and with the
 * summary fields a listing shows: what reports and the tournament read for every row.
 */
export interface ExperimentBrief {
  id: number;
  runId: number;
  seq: number;
  slot: number;
  parentCommit: string;
  commit: string | null;
  description: string;
  status: ExperimentStatus;
  outcome: RunStatus | null;
  reason: string | null;
  valBpb: number | null;
  trainingSeconds: number | null;
  peakVramMb: number | null;
  numSteps: number | null;
  fixAttempt: number;
  fixOf: number | null;
  /** Agent cost recorded against the experiment. */
  costUsd: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  sandboxed: boolean | null;
  /** A row of an imported run (see Experiment.imported). */
  imported: boolean;
  /**
   * Lines the stored diff adds and removes (file headers excluded), for kept experiments; null
   * for the others and for a keep without a diff. Both 0: an empty change (a baseline).
   */
  diffAdded: number | null;
  diffRemoved: number | null;
}

export type ExperimentTextField = "hypothesis" | "diff" | "logTail";

/** The large texts of one experiment; a field not asked for is absent. */
export interface ExperimentText {
  hypothesis?: string;
  diff?: string | null;
  logTail?: string | null;
}

/** Experiments of a run per status, in all, and the skipped ones whose reason has a given prefix. */
export type ExperimentCounts = Record<ExperimentStatus, number> & { total: number; skippedWithPrefix: number };

/** The agent-call ledger of a run summed by purpose and model. */
export interface AgentCostGroup extends UsageTotals {
  runId: number;
  purpose: string;
  model: string;
  /** Calls that failed (ok = 0). */
  failed: number;
}

export interface IntegrityReport {
  ok: boolean;
  /** PRAGMA integrity_check and foreign_key_check findings, one line each. */
  problems: string[];
}

// ---- statistics -------------------------------------------------------------------------------

/** The conditions a measurement is comparable under: same commit, profile, budget, device kind and data. */
export interface MeasurementKey {
  commit: string;
  profile: Profile;
  timeBudget: number;
  deviceKind: string;
  /** The prepared dataset's id (its directory name). */
  dataset: string;
}

export type MeasurementPurpose = "noise" | "verify";

export interface NewMeasurement extends MeasurementKey {
  seed: number;
  purpose: MeasurementPurpose;
  outcome: RunStatus;
  /** Present exactly when the outcome is "ok". */
  valBpb?: number;
  testBpb?: number;
  trainingSeconds?: number;
  numSteps?: number;
  /** Why the training failed (required when the outcome is not "ok"); for "invalid", the probe's evidence. */
  error?: string;
  logPath?: string;
  /** Whether train.ts trained inside the sandbox (RunResult.sandboxed); absent: unknown. */
  sandboxed?: boolean;
  /** The verification session that made it and alone may reuse it (absent: any, as noise floors). */
  session?: string;
  /** Training throughput: tokens trained per second of the training phase. */
  tokensPerSecond?: number;
}

export interface Measurement extends MeasurementKey {
  id: number;
  seed: number;
  purpose: MeasurementPurpose;
  outcome: RunStatus;
  valBpb: number | null;
  testBpb: number | null;
  trainingSeconds: number | null;
  numSteps: number | null;
  error: string | null;
  logPath: string | null;
  createdAt: string;
  /** Whether train.ts trained inside the sandbox; null: not recorded (measured before the store kept it). */
  sandboxed: boolean | null;
  session: string | null;
  tokensPerSecond: number | null;
}

export interface NewNoiseFloor extends MeasurementKey {
  seeds: number;
  mean: number;
  sd: number;
  /** The smallest gain a paired verification with the default seeds can detect. */
  mde: number;
}

export interface NoiseFloor extends NewNoiseFloor {
  id: number;
  createdAt: string;
}

export type Verdict = "real" | "noise" | "negligible" | "inconclusive" | "flagged";

export interface NewVerification {
  experimentId: number;
  parentCommit: string;
  commit: string;
  verdict: Verdict;
  /** Paired seeds measured (0 for a flagged claim, which is never rerun). */
  seeds: number;
  meanGain?: number;
  pValue?: number;
  pAdjusted?: number;
  testBpb?: number;
  parentTestBpb?: number;
  /** One line: why this verdict. */
  reason: string;
  /** Intervals, the rule's statistics, the measured values: whatever the report shows. */
  details?: { [key: string]: JsonValue };
}

export interface Verification {
  id: number;
  experimentId: number;
  parentCommit: string;
  commit: string;
  verdict: Verdict;
  seeds: number;
  meanGain: number | null;
  pValue: number | null;
  pAdjusted: number | null;
  testBpb: number | null;
  parentTestBpb: number | null;
  reason: string;
  details: { [key: string]: JsonValue };
  createdAt: string;
}

// ---- tournaments ------------------------------------------------------------------------------

export type TournamentState = "running" | "stopped" | "finished";

export interface Tournament {
  id: number;
  name: string;
  status: TournamentState;
  /** Nights planned in all. */
  nights: number;
  settings: { [key: string]: JsonValue };
  /** The lab commit the first night started from. */
  baseCommit: string;
  /** The current champion: the base of the next night. */
  championCommit: string;
  createdAt: string;
  endedAt: string | null;
}

export interface NewTournament {
  name: string;
  nights: number;
  baseCommit: string;
  settings?: { [key: string]: JsonValue };
  /** The seed population, joining at night 1. */
  orgIds: number[];
}

export type MemberState = "active" | "retired";

export interface Member {
  tournamentId: number;
  org: Org;
  status: MemberState;
  joinedNight: number;
  retiredNight: number | null;
}

export type NightState = "allocating" | "verifying" | "evolving" | "finished";

export interface Night {
  id: number;
  tournamentId: number;
  number: number;
  status: NightState;
  baseCommit: string;
  createdAt: string;
  finishedAt: string | null;
}

export type AllocationState = "pending" | "running" | "done";

export interface Allocation {
  id: number;
  nightId: number;
  orgId: number;
  round: number;
  /** Experiments granted in this round (the run's target is the sum over its rounds so far). */
  experiments: number;
  runId: number | null;
  status: AllocationState;
  note: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface NewAllocation {
  orgId: number;
  experiments: number;
}

export interface NightResult {
  id: number;
  nightId: number;
  orgId: number;
  runId: number | null;
  /** The org's best: its run's head experiment, when it kept something after the baseline. */
  experimentId: number | null;
  verificationId: number | null;
  verdict: Verdict | null;
  /** What the run itself measured: baseline val_bpb − best kept val_bpb (0 without a keep). */
  claimedGain: number;
  /** The verified mean gain against the night's base when the verdict is real, else 0. */
  verifiedGain: number;
  deviceSeconds: number;
  experiments: number;
  /** Verified gain per device-hour. */
  score: number;
  rank: number;
  createdAt: string;
}

export interface NewNightResult {
  orgId: number;
  runId?: number;
  experimentId?: number;
  /** The verification to record with the result (same transaction), when the org made a claim. */
  verification?: NewVerification;
  claimedGain: number;
  verifiedGain: number;
  deviceSeconds: number;
  experiments: number;
  score: number;
  rank: number;
}

export interface Champion {
  id: number;
  tournamentId: number;
  /** null for the tournament's starting commit. */
  nightId: number | null;
  commit: string;
  orgId: number | null;
  gain: number;
  createdAt: string;
}

export interface NightEvolution {
  children: NewOrg[];
  retire: number[];
}

/** A version of the instruction text an LLM meta-agent breeds orgs with (meta-prompts.ts). */
export interface MetaPrompt {
  id: number;
  tournamentId: number;
  /** The prompt this one was rewritten from (null: the tournament's first). */
  parentId: number | null;
  generation: number;
  /** The night whose hyper-mutation wrote it (null: the first). */
  night: number | null;
  prompt: string;
  /** sha256 of the prompt. */
  promptHash: string;
  note: string | null;
  /** The meta-agent's model that wrote it (null: written by hand / the default). */
  model: string | null;
  createdAt: string;
}

export interface NewMetaPrompt {
  tournamentId: number;
  parentId?: number;
  night?: number;
  prompt: string;
  note?: string;
  model?: string;
}
