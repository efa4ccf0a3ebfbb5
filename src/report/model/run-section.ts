/**
 * Org runs as the report shows them (RunSection), from the store's narrow reads: every
 * experiment without its large texts (listExperimentBriefs), the agent ledger summed by purpose
 * (agentCostGroups), and the texts of only the rows shown (experimentTexts). The experiment
 * table with each result's difference from the head it was proposed against, the kept changes
 * (the champion chain with its diffs), the failures with their fix attempts and log tails (by
 * cause when there are many), the skipped proposals, sandbox counts, device utilization and cost.
 *
 * Several sections are built in one pass (a night or a tournament): one read per kind of data
 * for all their runs, never one per run or per row. What a section lists follows the report's
 * plan (limits.ts): everything for a small report, summaries for a large one. Reads only.
 */
import type { MemoryEntry, ResearchMemory } from "../../agents/types.ts";
import { parseResearchMemory } from "../../agents/memory.ts";
import type { AgentCostGroup, ExperimentBrief, ExperimentTextField, Org, Run, Store } from "../../store/index.ts";
import { timelineChart, type TimelineBar } from "../charts/timeline.ts";
import { parseUnifiedDiff } from "../diff.ts";
import type {
  ChartSpec,
  CostRow,
  CostSection,
  CrashRow,
  ExperimentRow,
  FailureCause,
  KeptChange,
  MemoryLine,
  MemorySection,
  OrgInfo,
  RunSection,
  SandboxCounts,
  ImportedRunInfo,
  SkippedRow,
  StatusCounts,
  UtilizationSection,
} from "../types.ts";
import { naiveKeepsUnderNoise } from "../../stats/null-model.ts";
import { LIMITS, planDetail, type DetailPlan } from "./limits.ts";

/** Lines of a crashed run's output the report shows. */
export const LOG_TAIL_LINES = 20;

const seconds = (iso: string) => Date.parse(iso) / 1000;

export function countStatuses(experiments: readonly { status: string }[]): StatusCounts {
  const counts: StatusCounts = { total: experiments.length, keep: 0, discard: 0, crash: 0, invalid: 0, skipped: 0, inFlight: 0 };
  for (const e of experiments) {
    if (e.status === "keep" || e.status === "discard" || e.status === "crash" || e.status === "invalid" || e.status === "skipped") counts[e.status]++;
    else counts.inFlight++;
  }
  return counts;
}

export function addStatusCounts(parts: readonly StatusCounts[]): StatusCounts {
  const sum: StatusCounts = { total: 0, keep: 0, discard: 0, crash: 0, invalid: 0, skipped: 0, inFlight: 0 };
  for (const p of parts) for (const k of Object.keys(sum) as (keyof StatusCounts)[]) sum[k] += p[k];
  return sum;
}

/** Finished trainings, and how many ran without the sandbox (or predate the record of it). */
export function countSandboxed(experiments: readonly Pick<ExperimentBrief, "outcome" | "sandboxed">[]): SandboxCounts {
  const counts: SandboxCounts = { trainings: 0, unsandboxed: 0, unknown: 0 };
  for (const e of experiments) {
    if (e.outcome === null) continue;
    if (e.sandboxed === null) counts.unknown++;
    else {
      counts.trainings++;
      if (!e.sandboxed) counts.unsandboxed++;
    }
  }
  return counts;
}

export function addSandboxCounts(parts: readonly SandboxCounts[]): SandboxCounts {
  return parts.reduce((a, b) => ({ trainings: a.trainings + b.trainings, unsandboxed: a.unsandboxed + b.unsandboxed, unknown: a.unknown + b.unknown }), {
    trainings: 0,
    unsandboxed: 0,
    unknown: 0,
  });
}

const emptyChange = (e: ExperimentBrief) => (e.diffAdded ?? 0) + (e.diffRemoved ?? 0) === 0;

/** The run's baseline: its first kept experiment that changes nothing (the unchanged train.ts). */
export function findBaseline(experiments: readonly ExperimentBrief[]): ExperimentBrief | undefined {
  return experiments.find((e) => e.status === "keep" && e.fixAttempt === 0 && e.valBpb !== null && emptyChange(e));
}

/**
 * The champion chain of a run up to `target`: the kept experiments whose commits lead from the
 * run's base to it (each proposed against the one before), oldest first. Off the chain are keeps
 * that a later keep on another slot superseded.
 */
export function chainTo(experiments: readonly ExperimentBrief[], target: ExperimentBrief | undefined): ExperimentBrief[] {
  if (!target) return [];
  const keptByCommit = new Map<string, ExperimentBrief>();
  for (const e of experiments) if (e.status === "keep" && e.commit) keptByCommit.set(e.commit, e);
  const chain: ExperimentBrief[] = [];
  const seen = new Set<number>();
  for (let e: ExperimentBrief | undefined = target; e && !seen.has(e.id); e = keptByCommit.get(e.parentCommit)) {
    seen.add(e.id);
    chain.push(e);
  }
  return chain.reverse();
}

/** The best kept experiment of a run (lowest val_bpb, the earliest on a tie). */
export function bestKept(experiments: readonly ExperimentBrief[]): ExperimentBrief | undefined {
  let best: ExperimentBrief | undefined;
  for (const e of experiments) if (e.status === "keep" && e.valBpb !== null && (best === undefined || e.valBpb < best.valBpb!)) best = e;
  return best;
}

function orgInfo(org: Org, orgOf: (id: number) => Org): OrgInfo {
  return {
    id: org.id,
    name: org.name,
    generation: org.generation,
    parentName: org.parentId === null ? null : orgOf(org.parentId).name,
    mutationNote: org.mutationNote,
    programMd: org.programMd,
  };
}

function experimentRows(experiments: readonly ExperimentBrief[], baseline: ExperimentBrief | undefined): ExperimentRow[] {
  // The val_bpb of every head an experiment can be proposed against: the kept commits.
  const keptBpb = new Map<string, number>();
  for (const e of experiments) if (e.status === "keep" && e.commit && e.valBpb !== null) keptBpb.set(e.commit, e.valBpb);
  const seqOf = new Map(experiments.map((e) => [e.id, e.seq]));
  return experiments.map((e) => {
    const parentBpb = keptBpb.get(e.parentCommit) ?? null;
    return {
      id: e.id,
      seq: e.seq,
      slot: e.slot,
      commit: (e.commit ?? "").slice(0, 7),
      status: e.status,
      outcome: e.outcome,
      valBpb: e.valBpb,
      delta: e.valBpb !== null && parentBpb !== null ? e.valBpb - parentBpb : null,
      memoryGb: e.peakVramMb !== null && e.outcome === "ok" ? e.peakVramMb / 1024 : null,
      trainingSeconds: e.outcome === "ok" ? e.trainingSeconds : null,
      wallSeconds: e.startedAt && e.finishedAt ? Math.max(0, seconds(e.finishedAt) - seconds(e.startedAt)) : null,
      finishedAt: e.finishedAt,
      steps: e.outcome === "ok" ? e.numSteps : null,
      description: e.description,
      hypothesis: "",
      reason: e.reason,
      isBaseline: e.id === baseline?.id,
      fixOfSeq: e.fixOf === null ? null : (seqOf.get(e.fixOf) ?? null),
      costUsd: e.costUsd,
    };
  });
}

function lastLines(text: string | null | undefined, n: number): string {
  if (!text) return "";
  return text.replace(/\s+$/, "").split("\n").slice(-n).join("\n");
}

const firstLine = (text: string | null) => (text ?? "").split("\n", 1)[0]!.trim();

/** Failures and skips summed by outcome and the first line of their reason, most frequent first. */
function failureCauses(failures: readonly ExperimentBrief[], skipped: readonly ExperimentBrief[], fixedIds: ReadonlySet<number>): FailureCause[] {
  const causes = new Map<string, FailureCause>();
  for (const e of [...failures, ...skipped]) {
    const outcome = e.outcome ?? e.status;
    const reason = firstLine(e.reason) || outcome;
    const key = `${outcome}\u0000${reason}`;
    let c = causes.get(key);
    if (!c) causes.set(key, (c = { outcome, reason, count: 0, firstSeq: e.seq, lastSeq: e.seq, fixed: 0 }));
    c.count++;
    c.firstSeq = Math.min(c.firstSeq, e.seq);
    c.lastSeq = Math.max(c.lastSeq, e.seq);
    if (fixedIds.has(e.id)) c.fixed++;
  }
  return [...causes.values()].sort((a, b) => b.count - a.count || a.firstSeq - b.firstSeq).slice(0, LIMITS.causesPerRun);
}

/** When the run's device time ended: its end, else its last recorded activity (a killed run). */
function runEnd(run: Run, experiments: readonly ExperimentBrief[]): number {
  if (run.endedAt) return seconds(run.endedAt);
  let last = seconds(run.startedAt);
  for (const e of experiments)
    for (const t of [e.createdAt, e.startedAt, e.finishedAt]) if (t) last = Math.max(last, seconds(t));
  return last;
}

function slotCount(run: Run, experiments: readonly ExperimentBrief[]): number {
  const used = new Set(experiments.filter((e) => e.startedAt).map((e) => e.slot)).size;
  const devices = run.settings.devices;
  return Math.max(used, Array.isArray(devices) ? devices.length : 0, 1);
}

function utilization(
  run: Run,
  experiments: readonly ExperimentBrief[],
  rows: readonly ExperimentRow[],
  chartId: string,
): { section: UtilizationSection; chart: ChartSpec | null } {
  const start = seconds(run.startedAt);
  const end = runEnd(run, experiments);
  const wallSeconds = Math.max(0, end - start);
  const slots = slotCount(run, experiments);
  const trainingSeconds = rows.reduce((sum, r) => sum + (r.trainingSeconds ?? 0), 0);
  const bars: TimelineBar[] = [];
  let busySeconds = 0;
  for (const e of experiments) {
    if (!e.startedAt) continue;
    const from = seconds(e.startedAt);
    const to = e.finishedAt ? seconds(e.finishedAt) : end;
    busySeconds += Math.max(0, to - from);
    const status = e.status === "proposed" ? "running" : e.status;
    bars.push({ slot: e.slot, seq: e.seq, status, start: (from - start) / 60, end: (to - start) / 60 });
  }
  const capacity = wallSeconds * slots;
  const section: UtilizationSection = {
    slots,
    wallSeconds,
    trainingSeconds,
    busySeconds,
    utilization: capacity > 0 ? Math.min(1, trainingSeconds / capacity) : null,
    busy: capacity > 0 ? Math.min(1, busySeconds / capacity) : null,
    chartId: null,
  };
  const description =
    `${bars.length} experiment${bars.length === 1 ? "" : "s"} on ${slots} slot${slots === 1 ? "" : "s"} over ` +
    `${(wallSeconds / 60).toFixed(1)} minutes; training filled ` +
    `${section.utilization === null ? "—" : (section.utilization * 100).toFixed(1) + "%"} of the device time`;
  const chart = timelineChart(chartId, bars, wallSeconds / 60, description);
  if (chart) section.chartId = chart.id;
  return { section, chart };
}

function costSection(run: Run, groups: readonly AgentCostGroup[], keeps: number): CostSection {
  const total = { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const rows: CostRow[] = groups.map((g) => {
    total.calls += g.calls;
    total.inputTokens += g.inputTokens;
    total.outputTokens += g.outputTokens;
    total.costUsd += g.costUsd;
    return { purpose: g.purpose, model: g.model, calls: g.calls, inputTokens: g.inputTokens, outputTokens: g.outputTokens, costUsd: g.costUsd, failed: g.failed };
  });
  return {
    total,
    rows: rows.sort((a, b) => b.costUsd - a.costUsd || a.purpose.localeCompare(b.purpose)),
    perKeepUsd: keeps > 0 ? total.costUsd / keeps : null,
    capUsd: run.costCapUsd,
  };
}

export interface BuiltRunSection {
  section: RunSection;
  /** The run's own charts (its device timeline), to add to the report's chart list. */
  charts: ChartSpec[];
  /** Every experiment of the run as a row (hypothesis only on shown rows): the progress chart's and the TSV's data. */
  rows: ExperimentRow[];
  /** The run's experiments as the store gave them. */
  experiments: ExperimentBrief[];
}

export interface SectionRequest {
  run: Run;
  /** Keeps chart ids unique when a report has several runs (default: run-<id>). */
  chartPrefix?: string;
}

export interface SectionInputs {
  /** The runs' experiments by run id, when the caller has read them already (else read here, in one pass). */
  experiments?: ReadonlyMap<number, ExperimentBrief[]>;
  /** Orgs by id, when the caller has them (else read here as needed). */
  orgs?: ReadonlyMap<number, Org>;
  /** The report's plan (default: from these runs' experiments). */
  detail?: DetailPlan;
  /**
   * The experiments a summarised report shows with their full diffs: the champion chain
   * (default: each run's chain to its best keep).
   */
  chain?: ReadonlySet<number>;
}

/** Which texts a section shows, gathered over all sections so each is read once. */
interface TextNeeds {
  hypothesis: Set<number>;
  diff: Set<number>;
  logTail: Set<number>;
}

interface Draft {
  built: BuiltRunSection;
  /** Kept rows listed, with whether their diff is shown. */
  kept: { e: ExperimentBrief; row: ExperimentRow; withDiff: boolean; onChain: boolean }[];
  crashes: { e: ExperimentBrief; fixes: CrashRow["fixes"] }[];
}

/** Builds the sections of several runs with one read per kind of data (experiments, costs, texts). */
export function buildRunSections(store: Store, requests: readonly SectionRequest[], inputs: SectionInputs = {}): BuiltRunSection[] {
  const runIds = requests.map((r) => r.run.id);
  let byRun = inputs.experiments;
  if (!byRun) {
    const grouped = new Map<number, ExperimentBrief[]>(runIds.map((id) => [id, []]));
    for (const e of store.listExperimentBriefs(runIds)) grouped.get(e.runId)!.push(e);
    byRun = grouped;
  }
  const orgCache = new Map<number, Org>(inputs.orgs ?? []);
  const orgOf = (id: number): Org => {
    let org = orgCache.get(id);
    if (!org) orgCache.set(id, (org = store.getOrg(id)));
    return org;
  };
  const total = requests.reduce((s, r) => s + (byRun.get(r.run.id)?.length ?? 0), 0);
  const detail = inputs.detail ?? planDetail(total, requests.length);
  const costs = new Map<number, AgentCostGroup[]>(runIds.map((id) => [id, []]));
  for (const g of store.agentCostGroups(runIds)) costs.get(g.runId)!.push(g);

  const memories = store.runMemories(runIds);

  const needs: TextNeeds = { hypothesis: new Set(), diff: new Set(), logTail: new Set() };
  const drafts = requests.map((r) => draftSection(r, byRun.get(r.run.id) ?? [], orgOf, costs.get(r.run.id) ?? [], detail, inputs.chain, needs));

  const read = (field: ExperimentTextField, ids: Set<number>) => (ids.size > 0 ? store.experimentTexts([...ids], [field]) : new Map());
  const hypotheses = read("hypothesis", needs.hypothesis);
  const diffs = read("diff", needs.diff);
  const logTails = read("logTail", needs.logTail);
  for (const d of drafts) {
    const s = d.built.section;
    s.memory = memorySection(parseResearchMemory(memories.get(s.id) ?? null));
    for (const row of s.experiments) row.hypothesis = hypotheses.get(row.id)?.hypothesis ?? "";
    s.kept = d.kept.map(({ e, row, withDiff, onChain }): KeptChange => {
      const diff = withDiff ? parseUnifiedDiff(diffs.get(e.id)?.diff ?? "") : null;
      const parentBpb = row.delta === null ? null : row.valBpb! - row.delta;
      return {
        seq: e.seq,
        commit: row.commit,
        description: e.description,
        hypothesis: hypotheses.get(e.id)?.hypothesis ?? "",
        valBpb: row.valBpb!,
        parentBpb,
        gain: row.delta === null ? null : -row.delta,
        added: diff?.added ?? e.diffAdded ?? 0,
        removed: diff?.removed ?? e.diffRemoved ?? 0,
        onChain,
        diff,
      };
    });
    s.crashes = d.crashes.map(({ e, fixes }) => ({
      seq: e.seq,
      commit: (e.commit ?? "").slice(0, 7),
      outcome: e.outcome!,
      reason: e.reason ?? e.outcome!,
      description: e.description,
      logTail: lastLines(logTails.get(e.id)?.logTail, LOG_TAIL_LINES),
      fixes,
    }));
  }
  return drafts.map((d) => d.built);
}

/** Builds one run's section; `chartPrefix` keeps chart ids unique when a report has several runs. */
export function buildRunSection(store: Store, run: Run, chartPrefix = `run-${run.id}`): BuiltRunSection {
  return buildRunSections(store, [{ run, chartPrefix }])[0]!;
}

/** Everything of a section but the texts, and which texts it will show. */
function draftSection(
  request: SectionRequest,
  experiments: ExperimentBrief[],
  orgOf: (id: number) => Org,
  costs: readonly AgentCostGroup[],
  detail: DetailPlan,
  givenChain: ReadonlySet<number> | undefined,
  needs: TextNeeds,
): Draft {
  const { run } = request;
  const full = !detail.summarised;
  const baseline = findBaseline(experiments);
  const rows = experimentRows(experiments, baseline);
  const rowById = new Map(rows.map((r) => [r.id, r]));
  const best = bestKept(experiments);

  // The table: every row, or the best by val_bpb.
  const shown = full || rows.length <= detail.perRun.rows
    ? rows
    : rows.filter((r) => r.valBpb !== null).sort((a, b) => a.valBpb! - b.valBpb! || a.seq - b.seq).slice(0, detail.perRun.rows);
  for (const r of shown) needs.hypothesis.add(r.id);

  // Kept changes: every one, or the champion chain's and the largest gains; diffs for the chain.
  const chain = givenChain ?? new Set(chainTo(experiments, best).map((e) => e.id));
  const keptAll = experiments.filter((e) => e.status === "keep" && e.id !== baseline?.id && e.valBpb !== null);
  let keptListed = keptAll;
  if (!full && keptAll.length > detail.perRun.kept) {
    const onChain = keptAll.filter((e) => chain.has(e.id)).slice(-detail.perRun.kept);
    const byGain = keptAll.filter((e) => !chain.has(e.id)).sort((a, b) => (rowById.get(a.id)!.delta ?? 0) - (rowById.get(b.id)!.delta ?? 0));
    const picked = new Set([...onChain, ...byGain.slice(0, detail.perRun.kept - onChain.length)].map((e) => e.id));
    keptListed = keptAll.filter((e) => picked.has(e.id));
  }
  const chainWithDiff = new Set(keptListed.filter((e) => chain.has(e.id)).slice(-detail.perRun.chainDiffs).map((e) => e.id));
  const kept = keptListed.map((e) => {
    const withDiff = full || chainWithDiff.has(e.id);
    if (withDiff) needs.diff.add(e.id);
    needs.hypothesis.add(e.id);
    return { e, row: rowById.get(e.id)!, withDiff, onChain: chain.has(e.id) };
  });

  // Failures with their fix attempts: all, or the latest (and every one summed by cause).
  const fixesOf = new Map<number, CrashRow["fixes"]>();
  for (const e of experiments) if (e.fixOf !== null) fixesOf.set(e.fixOf, [...(fixesOf.get(e.fixOf) ?? []), { seq: e.seq, status: e.status }]);
  const failures = experiments.filter((e) => e.outcome !== null && e.outcome !== "ok");
  const skippedAll = experiments.filter((e) => e.status === "skipped");
  const failuresListed = full ? failures : failures.slice(-detail.perRun.failures);
  const skippedListed = full ? skippedAll : skippedAll.slice(-detail.perRun.skipped);
  for (const e of failuresListed) needs.logTail.add(e.id);
  const cut = failuresListed.length < failures.length || skippedListed.length < skippedAll.length;
  const fixedIds = new Set([...fixesOf].filter(([, fixes]) => fixes.some((f) => f.status === "keep")).map(([id]) => id));

  const chartPrefix = request.chartPrefix ?? `run-${run.id}`;
  const util = utilization(run, experiments, rows, `${chartPrefix}-timeline`);
  const org = orgOf(run.orgId);
  const section: RunSection = {
    id: run.id,
    tag: run.tag,
    branch: run.branch,
    org: orgInfo(org, orgOf),
    status: run.status,
    profile: run.profile,
    timeBudget: run.timeBudget,
    deviceKind: run.deviceKind,
    agent: run.agent,
    model: run.model,
    baseCommit: run.baseCommit,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    counts: countStatuses(experiments),
    sandbox: countSandboxed(experiments),
    memory: null,
    baselineBpb: baseline?.valBpb ?? null,
    bestBpb: best?.valBpb ?? null,
    bestKept: best ? rowById.get(best.id)! : null,
    experiments: shown,
    table: { total: rows.length, shown: shown.length, truncated: shown.length < rows.length },
    kept: [],
    keptTotal: keptAll.length,
    crashes: [],
    crashesTotal: failures.length,
    failureCauses: cut ? failureCauses(failures, skippedAll, fixedIds) : [],
    skipped: skippedListed.map((e): SkippedRow => ({ seq: e.seq, description: e.description, reason: e.reason ?? "" })),
    skippedTotal: skippedAll.length,
    utilization: util.section,
    cost: costSection(run, costs, keptAll.length),
    imported: importedInfo(run, experiments, keptAll.length),
  };
  return {
    built: { section, charts: util.chart ? [util.chart] : [], rows, experiments },
    kept,
    crashes: failuresListed.map((e) => ({ e, fixes: fixesOf.get(e.id) ?? [] })),
  };
}

/**
 * An imported run's source and its keeps beside the null model. Only rows with a val_bpb count
 * as draws: a crash measured nothing, so it cannot have been a record of the run.
 */
function importedInfo(run: Run, experiments: readonly ExperimentBrief[], keeps: number): ImportedRunInfo | null {
  const from = run.importedFrom;
  if (!from) return null;
  const results = experiments.filter((e) => e.valBpb !== null).length;
  const noise = results > 0 ? naiveKeepsUnderNoise(results) : { expected: 0, sd: 0 };
  return {
    kind: from.kind,
    repo: from.repo,
    branch: from.branch,
    head: from.head.slice(0, 7),
    resultsPath: from.resultsPath,
    resultsSha256: from.resultsSha256,
    resultsShaShort: from.resultsSha256.slice(0, 12),
    importedAt: from.importedAt,
    naive: { results, keeps, expected: noise.expected, sd: noise.sd },
  };
}

function memorySection(memory: ResearchMemory | null): MemorySection | null {
  if (memory === null) return null;
  const line = (e: MemoryEntry): MemoryLine => ({
    source: e.source,
    org: e.org,
    night: e.night,
    outcome: e.outcome,
    gain: e.gain,
    description: e.description,
    touched: e.touched.join("; "),
    reason: e.reason ?? null,
  });
  const own = memory.entries.filter((e) => e.source !== "shared");
  return {
    real: own.filter((e) => e.outcome === "real").map(line),
    refuted: own.filter((e) => e.outcome === "noise" || e.outcome === "negligible").map(line),
    crashed: own.filter((e) => e.outcome === "crash").map(line),
    shared: memory.entries.filter((e) => e.source === "shared").map(line),
    omitted: memory.omitted,
    total: memory.entries.length,
  };
}
