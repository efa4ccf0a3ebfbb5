/**
 * One org run as the report shows it (RunSection), computed from the store's public reads only
 * (listExperiments, listAgentCalls, runCost, getOrg): the experiment table with each result's
 * difference from the head it was proposed against, the kept changes with their diffs, the
 * crashes with their fix attempts and the invalid models with the evaluator's evidence, the
 * skipped proposals, how many trainings ran without the sandbox, device utilization and agent
 * cost.
 * A run report has one of these; a night report will have one per org.
 */
import type { AgentCallRecord, Experiment, Org, Run, Store } from "../../store/index.ts";
import { timelineChart, type TimelineBar } from "../charts/timeline.ts";
import { isEmptyDiff, parseUnifiedDiff } from "../diff.ts";
import type {
  ChartSpec,
  CostRow,
  CostSection,
  CrashRow,
  ExperimentRow,
  KeptChange,
  OrgInfo,
  RunSection,
  SandboxCounts,
  SkippedRow,
  StatusCounts,
  UtilizationSection,
} from "../types.ts";

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

/** Finished trainings, and how many ran without the sandbox (or predate the record of it). */
export function countSandboxed(experiments: readonly Pick<Experiment, "outcome" | "sandboxed">[]): SandboxCounts {
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

/** The run's baseline: its first kept experiment that changes nothing (the unchanged train.ts). */
export function findBaseline(experiments: readonly Experiment[]): Experiment | undefined {
  return experiments.find((e) => e.status === "keep" && e.fixAttempt === 0 && e.summary !== null && isEmptyDiff(e.diff));
}

function orgInfo(store: Store, org: Org): OrgInfo {
  let parentName: string | null = null;
  if (org.parentId !== null) parentName = store.getOrg(org.parentId).name;
  return {
    id: org.id,
    name: org.name,
    generation: org.generation,
    parentName,
    mutationNote: org.mutationNote,
    programMd: org.programMd,
  };
}

function experimentRows(experiments: readonly Experiment[], baseline: Experiment | undefined): ExperimentRow[] {
  // The val_bpb of every head an experiment can be proposed against: the kept commits.
  const keptBpb = new Map<string, number>();
  for (const e of experiments) if (e.status === "keep" && e.commit && e.summary) keptBpb.set(e.commit, e.summary.val_bpb);
  const seqOf = new Map(experiments.map((e) => [e.id, e.seq]));
  return experiments.map((e) => {
    const valBpb = e.summary?.val_bpb ?? null;
    const parentBpb = keptBpb.get(e.parentCommit) ?? null;
    return {
      id: e.id,
      seq: e.seq,
      slot: e.slot,
      commit: (e.commit ?? "").slice(0, 7),
      status: e.status,
      outcome: e.outcome,
      valBpb,
      delta: valBpb !== null && parentBpb !== null ? valBpb - parentBpb : null,
      memoryGb: e.summary ? e.summary.peak_vram_mb / 1024 : null,
      trainingSeconds: e.summary?.training_seconds ?? null,
      wallSeconds: e.startedAt && e.finishedAt ? Math.max(0, seconds(e.finishedAt) - seconds(e.startedAt)) : null,
      steps: e.summary?.num_steps ?? null,
      description: e.description,
      hypothesis: e.hypothesis,
      reason: e.reason,
      isBaseline: e.id === baseline?.id,
      fixOfSeq: e.fixOf === null ? null : (seqOf.get(e.fixOf) ?? null),
      costUsd: e.usage.costUsd,
    };
  });
}

function keptChanges(experiments: readonly Experiment[], rows: readonly ExperimentRow[]): KeptChange[] {
  const out: KeptChange[] = [];
  experiments.forEach((e, i) => {
    const row = rows[i]!;
    if (e.status !== "keep" || row.isBaseline || row.valBpb === null) return;
    const parentBpb = row.delta === null ? null : row.valBpb - row.delta;
    out.push({
      seq: e.seq,
      commit: row.commit,
      description: e.description,
      hypothesis: e.hypothesis,
      valBpb: row.valBpb,
      parentBpb,
      gain: row.delta === null ? null : -row.delta,
      diff: parseUnifiedDiff(e.diff ?? ""),
    });
  });
  return out;
}

function lastLines(text: string | null, n: number): string {
  if (!text) return "";
  return text.replace(/\s+$/, "").split("\n").slice(-n).join("\n");
}

function crashRows(experiments: readonly Experiment[]): CrashRow[] {
  return experiments
    .filter((e) => e.outcome !== null && e.outcome !== "ok")
    .map((e) => ({
      seq: e.seq,
      commit: (e.commit ?? "").slice(0, 7),
      outcome: e.outcome!,
      reason: e.reason ?? e.outcome!,
      description: e.description,
      logTail: lastLines(e.logTail, LOG_TAIL_LINES),
      fixes: experiments.filter((f) => f.fixOf === e.id).map((f) => ({ seq: f.seq, status: f.status })),
    }));
}

function skippedRows(experiments: readonly Experiment[]): SkippedRow[] {
  return experiments
    .filter((e) => e.status === "skipped")
    .map((e) => ({ seq: e.seq, description: e.description, reason: e.reason ?? "" }));
}

/** When the run's device time ended: its end, else its last recorded activity (a killed run). */
function runEnd(run: Run, experiments: readonly Experiment[]): number {
  if (run.endedAt) return seconds(run.endedAt);
  let last = seconds(run.startedAt);
  for (const e of experiments)
    for (const t of [e.createdAt, e.startedAt, e.finishedAt]) if (t) last = Math.max(last, seconds(t));
  return last;
}

function slotCount(run: Run, experiments: readonly Experiment[]): number {
  const used = new Set(experiments.filter((e) => e.startedAt).map((e) => e.slot)).size;
  const devices = run.settings.devices;
  return Math.max(used, Array.isArray(devices) ? devices.length : 0, 1);
}

function utilization(
  run: Run,
  experiments: readonly Experiment[],
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

function costSection(run: Run, calls: readonly AgentCallRecord[], total: CostSection["total"], keeps: number): CostSection {
  const groups = new Map<string, CostRow>();
  for (const c of calls) {
    const key = `${c.purpose}\u0000${c.model}`;
    let row = groups.get(key);
    if (!row) {
      row = { purpose: c.purpose, model: c.model, calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, failed: 0 };
      groups.set(key, row);
    }
    row.calls += c.calls;
    row.inputTokens += c.inputTokens;
    row.outputTokens += c.outputTokens;
    row.costUsd += c.costUsd;
    if (!c.ok) row.failed += c.calls;
  }
  return {
    total,
    rows: [...groups.values()].sort((a, b) => b.costUsd - a.costUsd || a.purpose.localeCompare(b.purpose)),
    perKeepUsd: keeps > 0 ? total.costUsd / keeps : null,
    capUsd: run.costCapUsd,
  };
}

export interface BuiltRunSection {
  section: RunSection;
  /** The run's own charts (its device timeline), to add to the report's chart list. */
  charts: ChartSpec[];
}

/** Builds one run's section; `chartPrefix` keeps chart ids unique when a report has several runs. */
export function buildRunSection(store: Store, run: Run, chartPrefix = `run-${run.id}`): BuiltRunSection {
  const experiments = store.listExperiments(run.id);
  const org = store.getOrg(run.orgId);
  const baseline = findBaseline(experiments);
  const rows = experimentRows(experiments, baseline);
  const kept = keptChanges(experiments, rows);
  const util = utilization(run, experiments, rows, `${chartPrefix}-timeline`);
  const measured = rows.filter((r) => r.status === "keep" && r.valBpb !== null).map((r) => r.valBpb!);
  const section: RunSection = {
    id: run.id,
    tag: run.tag,
    branch: run.branch,
    org: orgInfo(store, org),
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
    baselineBpb: baseline?.summary?.val_bpb ?? null,
    bestBpb: measured.length > 0 ? Math.min(...measured) : null,
    experiments: rows,
    kept,
    crashes: crashRows(experiments),
    skipped: skippedRows(experiments),
    utilization: util.section,
    cost: costSection(run, store.listAgentCalls(run.id), store.runCost(run.id), kept.length),
  };
  return { section, charts: util.chart ? [util.chart] : [] };
}
