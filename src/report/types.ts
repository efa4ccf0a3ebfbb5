/**
 * The report model: everything a template may show, as plain data (no HTML, no SVG), built from
 * the store by model/*.ts and rendered by render.ts to HTML or Markdown. A template never
 * computes: it formats and lays out what is here.
 *
 * Sections that need data the store does not hold yet are optional fields — `leaderboard`,
 * `allocation`, `verdicts`, `lineage`, and the verified parts of the headline. A builder that
 * has the data (the tournament, the statistics) fills them in; the templates show a section
 * exactly when its field is present (partials of the same name in templates/partials/).
 */
import type { ExperimentStatus, RunState, UsageTotals } from "../store/index.ts";

export type ReportFormat = "html" | "md";
export const REPORT_FORMATS: readonly ReportFormat[] = ["html", "md"];

/** What the report covers: one org run, one night of a tournament, or a whole tournament. */
export type ReportKind = "run" | "night" | "tournament";

export interface ReportModel {
  kind: ReportKind;
  /** One line, e.g. "Run nightshift/mar5/default". */
  title: string;
  /** ISO 8601 UTC time the model was built. */
  generatedAt: string;
  /** The nightshift version that built it (package.json). */
  version: string;
  headline: Headline;
  /** Progress of val_bpb per experiment, one series per org (the autoresearch chart). */
  progress: ProgressSection;
  /** One entry per org run the report covers (one for a run report). */
  runs: RunSection[];
  /** Every chart the report draws, by id; sections refer to them by `chartId`. */
  charts: ChartSpec[];
  /** Whether the tables list every experiment or summarise (model/limits.ts). */
  detail: DetailNote;
  /**
   * The full experiment list, one row per experiment, written beside the report as TSV by the
   * report writer (index.ts); absent for a model rendered in memory.
   */
  experimentsFile?: { name: string; rows: number };

  // ---- extension points: present only when their data exists --------------------------------
  /** Org ranking with intervals (statistics + tournament). */
  leaderboard?: LeaderboardSection;
  /** Device time per org over the night (tournament). */
  allocation?: AllocationSection;
  /** Verification verdicts next to the naive keep rule (statistics). */
  verdicts?: VerdictSection;
  /** program.md variants and their parent → child diffs (tournament). */
  lineage?: LineageSection;
  /** Which tournament (and night) a night or tournament report covers. */
  tournament?: TournamentInfo;
  /** The champion's moves, the tournament's base first (tournament and night reports). */
  champions?: ChampionChainSection;
  /** One entry per night with its own leaderboard (the tournament report). */
  nights?: NightSection[];
}

/**
 * How much the report shows. Up to `allRowsUpTo` experiments it lists every row, failure and kept
 * diff; above, each run's table shows its best rows, the failures are summed by cause with the
 * latest listed, and only the champion chain's diffs are shown in full.
 */
export interface DetailNote {
  summarised: boolean;
  /** The report's experiments over all runs. */
  experiments: number;
  allRowsUpTo: number;
}

// ---- tournament sections -----------------------------------------------------------------------

export interface TournamentInfo {
  name: string;
  status: string;
  /** Nights planned, and nights finished. */
  nightsPlanned: number;
  nightsFinished: number;
  baseCommit: string;
  championCommit: string;
  /** The night a night report covers. */
  night?: { number: number; status: string; baseCommit: string };
}

export interface ChampionChainSection {
  rows: ChampionRow[];
  /** Sum of the verified gains along the chain (each against its night's base). */
  totalGain: number;
}

export interface ChampionRow {
  /** 0 for the tournament's starting commit. */
  night: number;
  commit: string;
  org: string | null;
  gain: number;
  /** The move's verified gain interval, when its verification recorded one. */
  interval: Interval | null;
}

export interface NightSection {
  number: number;
  status: string;
  baseCommit: string;
  /** The champion move this night made, or null when the champion stayed. */
  champion: ChampionRow | null;
  experiments: number;
  deviceSeconds: number;
  leaderboard: LeaderboardSection;
}

// ---- headline --------------------------------------------------------------------------------

export interface Headline {
  /** The best kept experiment over all runs, null when nothing was kept. */
  champion: ExperimentRef | null;
  /** val_bpb of the unchanged train.ts (the run's baseline experiment), when measured. */
  baselineBpb: number | null;
  /**
   * Over several runs (a night's orgs), every run's baseline: the same train.ts measured once per
   * run, so its spread is the noise one measurement carries. Null with fewer than two.
   */
  baselineSpread: { low: number; high: number; runs: number } | null;
  /** baselineBpb − champion val_bpb by the keep rule alone (not verified). */
  naiveGain: number | null;
  /** The champion's gain as verified by paired reruns (statistics fills this in). */
  verifiedGain?: Interval;
  /** The champion on the held-out test split (the tournament fills this in). */
  testBpb?: number;
  /** What the verified gain is measured against, or why there is none (tournament). */
  verifiedNote?: string;
  counts: StatusCounts;
  /** Device seconds spent training (ok runs) over all runs. */
  trainingSeconds: number;
  /** Wall-clock seconds from the first run's start to the last one's end (or now). */
  wallSeconds: number;
  /** trainingSeconds / (wallSeconds × device slots), 0..1; null without wall time. */
  utilization: number | null;
  cost: UsageTotals;
  /** Whether the trainings ran in the sandbox, over all runs. */
  sandbox: SandboxCounts;
  /** The report's run was imported (a run report only): nightshift trained none of it. */
  imported: ImportedRunInfo | null;
  /**
   * Seed noise of val_bpb under the runs' conditions (`nightshift noise`, or a verification's
   * own floor): a kept step smaller than this may be luck. Null when none was measured.
   */
  noise: SeedNoise | null;
  /**
   * Set when experiments trained for a demo budget (under DEMO_BUDGET_SECONDS, e.g. the quick
   * tournament's 10 s): how long, how many steps that was, and what the full budget is.
   */
  demoBudget: { seconds: number; fullSeconds: number; /** "10 steps" or "4–36 steps" of the experiments that ran ok. */ steps: string | null } | null;
}

/** The spread of one commit's val_bpb over seeds, under given conditions. */
export interface SeedNoise {
  sd: number;
  seeds: number;
  /** The baseline's mean over those seeds. */
  mean: number;
}

/** How many of the finished trainings ran outside the bubblewrap sandbox. */
export interface SandboxCounts {
  /** Finished trainings whose sandboxing was recorded. */
  trainings: number;
  /** Of those, the ones that ran without the sandbox (train.ts could reach the host). */
  unsandboxed: number;
  /** Finished trainings from before the store recorded it (unknown). */
  unknown: number;
}

export interface ExperimentRef {
  org: string;
  runId: number;
  branch: string;
  seq: number;
  commit: string;
  valBpb: number;
  description: string;
}

/** A two-sided interval around a point estimate (e.g. a mean difference in bpb). */
export interface Interval {
  estimate: number;
  low: number;
  high: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
}

export interface StatusCounts {
  total: number;
  keep: number;
  discard: number;
  crash: number;
  /** Finished, but the evaluator's probes caught the model cheating: never kept or fixed. */
  invalid: number;
  skipped: number;
  /** proposed or running: the run is still going, or was killed with these in flight. */
  inFlight: number;
}

// ---- progress --------------------------------------------------------------------------------

export interface ProgressSection {
  /** null when no experiment has finished yet. */
  chartId: string | null;
  /** One line describing the chart for readers without it (and for Markdown). */
  summary: string;
  /** Experiments drawn at the top edge because their val_bpb is far above the kept line. */
  offChart: number;
  /**
   * The same staircase against wall-clock time since the run (night, tournament) started, from
   * the experiments' recorded finish times; chartId null when nothing can be drawn (summary says why).
   */
  wallClock: { chartId: string | null; summary: string };
}

// ---- one run ----------------------------------------------------------------------------------

/** What a run's agent was shown of earlier runs (src/loop/memory.ts), grouped as the prompt groups it. */
export interface MemorySection {
  real: MemoryLine[];
  refuted: MemoryLine[];
  crashed: MemoryLine[];
  shared: MemoryLine[];
  /** Entries left out of the memory to keep it small. */
  omitted: number;
  total: number;
}

export interface MemoryLine {
  source: string;
  org: string;
  night: number | null;
  outcome: string;
  gain: number | null;
  description: string;
  touched: string;
  reason: string | null;
}

export interface RunSection {
  id: number;
  tag: string;
  branch: string;
  org: OrgInfo;
  status: RunState;
  profile: string;
  timeBudget: number;
  deviceKind: string;
  agent: string;
  model: string | null;
  baseCommit: string;
  startedAt: string;
  endedAt: string | null;
  counts: StatusCounts;
  /** Whether this run's trainings ran in the sandbox. */
  sandbox: SandboxCounts;
  /** The research memory its agent was given; null: none recorded (runs before it existed). */
  memory: MemorySection | null;
  baselineBpb: number | null;
  bestBpb: number | null;
  /** The best kept experiment (the baseline counts), null when nothing was kept. */
  bestKept: ExperimentRow | null;
  /**
   * The rows the experiment table shows: every experiment in seq order, or, when the report
   * summarises, the best `table.shown` by val_bpb (the full list is the TSV beside the report).
   */
  experiments: ExperimentRow[];
  table: { total: number; shown: number; truncated: boolean };
  /**
   * Kept experiments after the baseline, in seq order: all of them, or when the report
   * summarises and there are many, the champion chain's and the largest gains.
   */
  kept: KeptChange[];
  /** Kept experiments after the baseline, listed or not. */
  keptTotal: number;
  /** Runs that did not finish ok, in seq order: all, or (summarising) the latest ones. */
  crashes: CrashRow[];
  /** Runs that did not finish ok, listed or not. */
  crashesTotal: number;
  /** Failures and skips summed by cause, most frequent first (when the lists are cut). */
  failureCauses: FailureCause[];
  skipped: SkippedRow[];
  skippedTotal: number;
  utilization: UtilizationSection;
  cost: CostSection;
  /** Where an imported run came from and what its keeps are worth under noise; null for a run nightshift trained. */
  imported: ImportedRunInfo | null;
}

/**
 * An imported run (nightshift import): nightshift trained none of it, so its keeps cannot be
 * verified; what the report can say is how many the naive keep rule makes under pure noise.
 */
export interface ImportedRunInfo {
  kind: string;
  repo: string;
  branch: string;
  /** The branch head imported, abbreviated. */
  head: string;
  resultsPath: string;
  resultsSha256: string;
  /** Its first 12 hex digits, as the header shows it. */
  resultsShaShort: string;
  importedAt: string;
  /**
   * The null model (stats/null-model.ts) over the run's results: `results` experiments with a
   * val_bpb (baseline included; a crash has none, so it can be no record), `keeps` the keeps
   * after the baseline, `expected` ± `sd` the keeps pure noise would make.
   */
  naive: { results: number; keeps: number; expected: number; sd: number };
}

export interface OrgInfo {
  id: number;
  name: string;
  generation: number;
  parentName: string | null;
  mutationNote: string | null;
  /** The org's program.md, as written by a person or a meta-agent (escaped when shown). */
  programMd: string;
}

export interface ExperimentRow {
  id: number;
  seq: number;
  slot: number;
  /** 7-character commit, "" before the experiment started. */
  commit: string;
  status: ExperimentStatus;
  /** How the training run ended (ok, crash, timeout, ...), null before it finished. */
  outcome: string | null;
  valBpb: number | null;
  /** valBpb − the val_bpb of the head it was proposed against (negative is better). */
  delta: number | null;
  memoryGb: number | null;
  trainingSeconds: number | null;
  /** Start to finish of the experiment on its device slot (training, evaluation, overhead). */
  wallSeconds: number | null;
  /** When its result landed (ISO 8601 UTC, as the store recorded it); null while in flight. */
  finishedAt: string | null;
  steps: number | null;
  description: string;
  /** The agent's hypothesis, for the rows a table shows ("" for the others). */
  hypothesis: string;
  reason: string | null;
  isBaseline: boolean;
  /** seq of the crashed experiment this one tries to fix. */
  fixOfSeq: number | null;
  costUsd: number;
}

export interface KeptChange {
  seq: number;
  commit: string;
  description: string;
  hypothesis: string;
  valBpb: number;
  /** val_bpb of the head it replaced. */
  parentBpb: number | null;
  /** parentBpb − valBpb (positive is better). */
  gain: number | null;
  /** Lines the change adds and removes. */
  added: number;
  removed: number;
  /** On the champion chain: the changes that lead to the report's champion. */
  onChain: boolean;
  /** The diff, or null where the report describes the change by its stat line only. */
  diff: DiffView | null;
}

/** Failures (or skips) of one cause: the outcome and the first line of the reason. */
export interface FailureCause {
  outcome: string;
  reason: string;
  count: number;
  firstSeq: number;
  lastSeq: number;
  /** Of these, how many a later fix attempt made keep. */
  fixed: number;
}

/** A run that did not finish ok: a crash (with its fix attempts) or an invalid model. */
export interface CrashRow {
  seq: number;
  commit: string;
  outcome: string;
  /** Why: the error, or for an invalid model the evaluator's evidence. */
  reason: string;
  description: string;
  /** The last lines of the run's output. */
  logTail: string;
  /** The experiments that tried to fix this one, with how they ended. */
  fixes: { seq: number; status: ExperimentStatus }[];
}

export interface SkippedRow {
  seq: number;
  description: string;
  reason: string;
}

export interface UtilizationSection {
  /** Device slots the run used. */
  slots: number;
  wallSeconds: number;
  /** Seconds of training by experiments that finished ok. */
  trainingSeconds: number;
  /** Seconds experiments occupied a slot (start to finish, any outcome). */
  busySeconds: number;
  /** trainingSeconds / (wallSeconds × slots), 0..1; null without wall time. */
  utilization: number | null;
  /** busySeconds / (wallSeconds × slots), 0..1; null without wall time. */
  busy: number | null;
  chartId: string | null;
}

export interface CostSection {
  total: UsageTotals;
  /** Ledger rows grouped by purpose and model. */
  rows: CostRow[];
  /** total.costUsd / kept changes (baseline excluded); null without keeps. */
  perKeepUsd: number | null;
  capUsd: number | null;
}

export interface CostRow extends UsageTotals {
  purpose: string;
  model: string;
  failed: number;
}

// ---- diffs ------------------------------------------------------------------------------------

export interface DiffView {
  files: DiffFile[];
  added: number;
  removed: number;
  /** Lines left out past the report's limit per diff. */
  omittedLines: number;
  /** The unified diff as stored (cut at the same limit), for a plain code block. */
  text: string;
}

export interface DiffFile {
  oldPath: string;
  newPath: string;
  hunks: DiffHunk[];
}

export interface DiffHunk {
  /** The @@ line. */
  header: string;
  lines: DiffLine[];
}

export interface DiffLine {
  kind: "add" | "del" | "ctx" | "note";
  oldNo: number | null;
  newNo: number | null;
  /** The line without its +/-/space marker. */
  text: string;
}

// ---- charts -----------------------------------------------------------------------------------

export interface ChartSpec {
  id: string;
  title: string;
  /** What the chart shows, in words: its caption, and the Markdown report's stand-in. */
  description: string;
  /** A Vega-Lite specification, data inline; render.ts draws it to SVG. */
  vegaLite: Record<string, unknown>;
}

// ---- extension sections (filled by the tournament and the statistics) --------------------------

export interface LeaderboardSection {
  chartId: string | null;
  rows: LeaderboardRow[];
}

export interface LeaderboardRow {
  rank: number;
  org: string;
  generation: number;
  nights: number;
  /** Best verified val_bpb of the org. */
  bestBpb: number | null;
  /** The gain over the night's base the reruns measured, with its interval (positive is better), whatever the verdict. */
  gain: Interval | null;
  /** The gain the score counts: the confirmed gain of a real verdict, else 0 (`tournament status`'s "credited"). */
  creditedGain?: number | null;
  /** Verified gain per device-hour (the tournament's score). */
  rating: number | null;
  /** The verification's verdict on the org's best; null when it kept nothing to claim. */
  verdict?: string | null;
  /** What the org's run measured by the keep rule (baseline − best kept). */
  claimedGain?: number | null;
  deviceSeconds?: number | null;
  experiments?: number | null;
}

export interface AllocationSection {
  chartId: string | null;
  /** Device seconds per org (and per round, when the allocation ran in rounds). */
  rows: { night?: number; org: string; round: number; deviceSeconds: number; experiments: number }[];
  totalDeviceSeconds: number;
}

export type VerdictKind = "real" | "noise" | "negligible" | "inconclusive" | "flagged";

export interface VerdictSection {
  rows: VerdictRow[];
  /** Keeps by the naive rule (lower val_bpb once) across the night. */
  naiveKeeps: number;
  /** Keeps the reruns confirmed. */
  verifiedKeeps: number;
  /** False keeps the null model expects from the naive rule at this noise floor. */
  expectedFalseKeeps: number | null;
  /** Noise floor: the standard deviation of val_bpb over seed reruns of one commit. */
  noiseSd: number | null;
}

export interface VerdictRow {
  org: string;
  seq: number;
  commit: string;
  description: string;
  /** Whether the naive rule (lower val_bpb once) kept it. */
  naiveKeep: boolean;
  verdict: VerdictKind;
  /** Mean paired gain (parent − candidate val_bpb; positive is better) over the reruns. */
  meanGain: number | null;
  /** The gain's interval, when the reruns gave one. */
  gain: Interval | null;
  /** Multiplicity-adjusted p-value. */
  pAdjusted: number | null;
  /** δ_min the claim was judged against (verifications before margins: null). */
  margin: number | null;
  /** Paired seeds measured. */
  reruns: number;
  /** One line: why this verdict. */
  reason: string;
}

export interface LineageSection {
  /** Every org, parents before children. */
  nodes: LineageNode[];
  /** The lineage drawn as a tree over the nights (charts/lineage.ts); null when not drawn. */
  chartId?: string | null;
}

export interface LineageNode {
  org: string;
  generation: number;
  parent: string | null;
  mutationNote: string | null;
  /** Nesting depth for display (0 for the roots). */
  depth: number;
  /** program.md of the parent → this org's; null for a root. */
  programDiff: DiffView | null;
  /** A root's whole program.md (a child shows its diff instead). */
  programMd?: string | null;
  retired: boolean;
  /** The night it retired after, when retired. */
  retiredNight?: number | null;
  /** The night it joined (bred after the night before). */
  joinedNight?: number;
}
