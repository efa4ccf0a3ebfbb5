/**
 * The whole report model from run sections: the headline over all runs, the progress chart
 * (one staircase per org), the chart list. buildRunReport is the run report; the night and
 * tournament builders (tournament.ts) call assembleReport with their runs and then set the
 * optional sections (leaderboard, allocation, verdicts, lineage, champions, nights, the
 * headline's verified parts) from the tournament's records.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { PROFILES, type Profile } from "../../harness/constants.ts";
import type { Run, Store, UsageTotals } from "../../store/index.ts";
import { progressChart, type ProgressSeries } from "../charts/progress.ts";
import { wallClockChart } from "../charts/wall-clock.ts";
import type { ChartSpec, ExperimentRow, Headline, ReportKind, ReportModel, RunSection, SeedNoise } from "../types.ts";
import { planDetail } from "./limits.ts";
import { addSandboxCounts, addStatusCounts, buildRunSections } from "./run-section.ts";
import type { TableRun } from "./table.ts";
import { buildVerdicts, championTestBpb } from "./verdicts.ts";

export interface ReportOptions {
  /** The clock for generatedAt (tests pin it). */
  now?: () => Date;
}

let cachedVersion: string | undefined;
function nightshiftVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  return cachedVersion;
}

/** The latest noise floor measured under `run`'s conditions (profile, budget, device, dataset), if any. */
export function seedNoiseOf(store: Store, run: Run | undefined): SeedNoise | null {
  const dataset = run?.settings.dataset;
  if (!run || typeof dataset !== "string") return null;
  const floor = store.latestNoiseFloor({ profile: run.profile, timeBudget: run.timeBudget, deviceKind: run.deviceKind, dataset: basename(dataset) });
  return floor ? { sd: floor.sd, seeds: floor.seeds, mean: floor.mean } : null;
}

const min = (xs: readonly number[]) => xs.reduce((a, b) => (b < a ? b : a), Infinity);
const max = (xs: readonly number[]) => xs.reduce((a, b) => (b > a ? b : a), -Infinity);

/** Budgets below this many seconds are demos: a gain at 10 s may not hold at 300 s. */
export const DEMO_BUDGET_SECONDS = 60;

function demoBudget(runs: readonly RunSection[]): Headline["demoBudget"] {
  const short = runs.filter((r) => r.timeBudget < DEMO_BUDGET_SECONDS);
  if (short.length === 0) return null;
  const steps = short.flatMap((r) => r.experiments.map((e) => e.steps).filter((n): n is number => n !== null));
  const [fewest, most] = [min(steps), max(steps)];
  return {
    seconds: Math.min(...short.map((r) => r.timeBudget)),
    fullSeconds: (PROFILES[short[0]!.profile as Profile] ?? PROFILES.gpu).timeBudget,
    steps: steps.length === 0 ? null : fewest === most ? `${fewest} steps` : `${fewest}–${most} steps`,
  };
}

function headline(runs: readonly RunSection[], noise: SeedNoise | null): Headline {
  let champion: Headline["champion"] = null;
  for (const run of runs) {
    const e = run.bestKept;
    if (e && e.valBpb !== null && (champion === null || e.valBpb < champion.valBpb))
      champion = { org: run.org.name, runId: run.id, branch: run.branch, seq: e.seq, commit: e.commit, valBpb: e.valBpb, description: e.description };
  }
  const championRun = runs.find((r) => r.id === champion?.runId);
  const baselineBpb = championRun?.baselineBpb ?? runs.find((r) => r.baselineBpb !== null)?.baselineBpb ?? null;
  const cost: UsageTotals = { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
  for (const r of runs) {
    cost.calls += r.cost.total.calls;
    cost.inputTokens += r.cost.total.inputTokens;
    cost.outputTokens += r.cost.total.outputTokens;
    cost.costUsd += r.cost.total.costUsd;
  }
  const trainingSeconds = runs.reduce((s, r) => s + r.utilization.trainingSeconds, 0);
  const starts = runs.map((r) => Date.parse(r.startedAt) / 1000);
  const ends = runs.map((r, i) => starts[i]! + r.utilization.wallSeconds);
  const wallSeconds = runs.length > 0 ? Math.max(...ends) - Math.min(...starts) : 0;
  // Device capacity: each run's slots for its own wall time (runs of a night share no slot).
  const capacity = runs.reduce((s, r) => s + r.utilization.wallSeconds * r.utilization.slots, 0);
  const baselines = runs.map((r) => r.baselineBpb).filter((b): b is number => b !== null);
  return {
    champion,
    baselineBpb,
    baselineSpread: baselines.length >= 2 ? { low: min(baselines), high: max(baselines), runs: baselines.length } : null,
    naiveGain: champion !== null && baselineBpb !== null ? baselineBpb - champion.valBpb : null,
    counts: addStatusCounts(runs.map((r) => r.counts)),
    trainingSeconds,
    wallSeconds,
    utilization: capacity > 0 ? Math.min(1, trainingSeconds / capacity) : null,
    cost,
    sandbox: addSandboxCounts(runs.map((r) => r.sandbox)),
    imported: runs.length === 1 ? runs[0]!.imported : null,
    noise,
    demoBudget: demoBudget(runs),
  };
}

export interface AssembleInput {
  kind: ReportKind;
  title: string;
  runs: RunSection[];
  /** Charts the run sections drew (timelines). */
  charts: ChartSpec[];
  /**
   * The progress chart's series (default: one per run, named by its org, from the rows its
   * table shows — pass every row when a table is cut).
   */
  progress?: ProgressSeries[];
  /** Seed noise under the runs' conditions: a band around the kept line and a headline card. */
  noise?: SeedNoise | null;
}

/** The report model over some run sections, without the optional (tournament/stats) sections. */
export function assembleReport(input: AssembleInput, options: ReportOptions = {}): ReportModel {
  const noise = input.noise ?? null;
  const series = input.progress ?? input.runs.map((r) => ({ org: r.org.name, experiments: r.experiments }));
  const progress = progressChart("progress", series, noise);
  // The clock starts with the earliest run: the run itself, the night's first, the tournament's first.
  const startedAt = input.runs.map((r) => r.startedAt).reduce((a, b) => (Date.parse(b) < Date.parse(a) ? b : a), input.runs[0]?.startedAt ?? "");
  const wallClock = wallClockChart("progress-wall-clock", series, startedAt, input.kind, noise);
  return {
    kind: input.kind,
    title: input.title,
    generatedAt: (options.now ?? (() => new Date()))().toISOString(),
    version: nightshiftVersion(),
    headline: headline(input.runs, noise),
    progress: {
      chartId: progress.chart?.id ?? null,
      summary: progress.summary,
      offChart: progress.offChart,
      wallClock: { chartId: wallClock.chart?.id ?? null, summary: wallClock.summary },
    },
    runs: input.runs,
    charts: [...(progress.chart ? [progress.chart] : []), ...(wallClock.chart ? [wallClock.chart] : []), ...input.charts],
    detail: (({ summarised, experiments, allRowsUpTo }) => ({ summarised, experiments, allRowsUpTo }))(
      planDetail(input.runs.reduce((s, r) => s + r.counts.total, 0), input.runs.length),
    ),
  };
}

/** A report model and every experiment it covers as table rows (the TSV beside the report). */
export interface BuiltReport {
  model: ReportModel;
  table: TableRun[];
}

/** The report of one run: what the store holds about it, summarised when the run is long. */
export function buildRunReport(store: Store, run: Run, options: ReportOptions = {}): ReportModel {
  return buildRunReportWithTable(store, run, options).model;
}

/** buildRunReport, and the run's every experiment as rows for the TSV beside the report. */
export function buildRunReportWithTable(store: Store, run: Run, options: ReportOptions = {}): BuiltReport {
  const [built] = buildRunSections(store, [{ run }]);
  const { section, rows, charts } = built!;
  const model = assembleReport(
    { kind: "run", title: `Run ${run.branch}`, runs: [section], charts, progress: [{ org: section.org.name, experiments: rows }], noise: seedNoiseOf(store, run) },
    options,
  );
  // What the statistics recorded about this run's claims, when `verify` has run.
  const verifications = store.runVerifications(run.id);
  const rowsById = new Map<number, ExperimentRow>(rows.map((r) => [r.id, r]));
  const verdicts = buildVerdicts(verifications, section, rowsById);
  if (verdicts) model.verdicts = verdicts;
  const champion = model.headline.champion;
  const testBpb = champion ? championTestBpb(verifications, champion.seq, rows) : undefined;
  if (testBpb !== undefined) model.headline.testBpb = testBpb;
  return { model, table: [{ section, rows }] };
}
