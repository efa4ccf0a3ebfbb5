/**
 * Night and tournament reports, from the store's tournament records (nights, allocations, night
 * results with their verifications, the champion chain, the members and their orgs' lineage)
 * plus the run sections of the orgs' runs. A night report is one night's runs side by side; a
 * tournament report covers every night: the champion chain, a leaderboard per night, device
 * time per night, org and round, and the lineage of program.md variants.
 *
 * What counts as the headline: the champion is the commit the tournament verified (a night's
 * move, or the tournament's last one), with the interval of the verification that moved it;
 * when no gain verified, the best keep is shown by the keep rule and the headline says why
 * there is no verified gain. Only store reads are used (the report never writes).
 *
 * Each table is read once for the whole report: the nights, the orgs, the runs, every run's
 * experiments (narrow rows, one read), their verifications and agent costs (one read each), and
 * per night its allocations and results. Nothing is looked up per row or per org.
 */
import type { Allocation, Champion, ExperimentBrief, Member, Night, NightResult, Org, Run, Store, Tournament, Verification } from "../../store/index.ts";
import { allocationChart } from "../charts/allocation.ts";
import { forestChart, type ForestRow } from "../charts/forest.ts";
import { lineageChart } from "../charts/lineage.ts";
import type { ProgressSeries } from "../charts/progress.ts";
import { textDiff } from "../diff.ts";
import { ReportError } from "../errors.ts";
import type {
  AllocationSection,
  ChampionChainSection,
  ChampionRow,
  ChartSpec,
  ExperimentRow,
  LeaderboardSection,
  LineageNode,
  LineageSection,
  NightSection,
  ReportModel,
  RunSection,
  VerdictSection,
} from "../types.ts";
import { planDetail } from "./limits.ts";
import { assembleReport, type BuiltReport, type ReportOptions, seedNoiseOf } from "./report.ts";
import { buildRunSections, chainTo } from "./run-section.ts";
import type { TableRun } from "./table.ts";
import { buildVerdicts, gainInterval } from "./verdicts.ts";

const seconds = (iso: string) => Date.parse(iso) / 1000;

// ---- which tournament, which night -------------------------------------------------------------

/** `--tournament T` by name (or id); none: the latest. One-line ReportErrors otherwise. */
export function resolveTournament(store: Store, which: string | undefined): Tournament {
  const all = store.listTournaments();
  if (all.length === 0)
    throw new ReportError("REPORT_NO_TOURNAMENT", "this workspace has no tournament: start one with `nightshift tournament start`");
  if (which === undefined || which === "") return all.reduce((a, b) => (b.id > a.id ? b : a));
  const found = all.find((t) => t.name === which) ?? (/^\d+$/.test(which) ? all.find((t) => t.id === Number(which)) : undefined);
  if (found) return found;
  const names = all.slice(-8).map((t) => t.name);
  throw new ReportError("REPORT_UNKNOWN_TOURNAMENT", `no tournament '${which}' in this workspace; tournaments: ${(all.length > names.length ? "…, " : "") + names.join(", ")}`);
}

/** Night `number` of a tournament; it must have started (a night with no run is empty). */
export function resolveNight(store: Store, t: Tournament, number: string): Night {
  const nights = store.listNights(t.id);
  const n = /^\d+$/.test(number.trim()) ? Number(number) : Number.NaN;
  const night = nights.find((x) => x.number === n);
  if (night) return night;
  const known = nights.length > 0 ? `it has night${nights.length === 1 ? "" : "s"} ${nights.map((x) => x.number).join(", ")}` : "no night of it has started";
  throw new ReportError("REPORT_UNKNOWN_NIGHT", `no night '${number}' in tournament '${t.name}' (${t.nights} planned): ${known}`);
}

function requireFinishedNight(records: Records, t: Tournament): Night[] {
  const nights = records.nights;
  if (!nights.some((n) => n.status === "finished"))
    throw new ReportError(
      "REPORT_EMPTY_TOURNAMENT",
      `tournament '${t.name}' has no finished night yet (${nights.length} of ${t.nights} started): report a run with --run, or wait for night 1`,
    );
  return nights;
}

// ---- pieces -----------------------------------------------------------------------------------

interface NightRun {
  run: Run;
  experiments: ExperimentBrief[];
  section: RunSection;
  /** Every experiment of the run as a row (the section's table may show fewer). */
  rows: ExperimentRow[];
  charts: ChartSpec[];
  /** The run's verifications (the latest per experiment). */
  verifications: Verification[];
}

interface NightData {
  night: Night;
  allocations: Allocation[];
  runs: NightRun[];
  results: NightResult[];
  /** Verifications of the night's claims, by id. */
  verifications: Map<number, Verification>;
}

/** What every part of a night or tournament report reads once: the tournament's records. */
interface Records {
  nights: Night[];
  orgs: Map<number, Org>;
  champions: Champion[];
}

function readRecords(store: Store, t: Tournament): Records {
  return { nights: store.listNights(t.id), orgs: new Map(store.listOrgs().map((o) => [o.id, o])), champions: store.listChampions(t.id) };
}

const orgName = (records: Records, id: number) => records.orgs.get(id)?.name ?? `org ${id}`;

/**
 * The nights' runs with their sections, built in one pass: each night's allocations and
 * results, then every run's experiments, verifications and costs in one read each. `chainOf`
 * names the experiments whose diffs a summarised report shows (the champion chain).
 */
function loadNights(
  store: Store,
  records: Records,
  nights: readonly Night[],
  chainOf: (data: readonly NightData[]) => Set<number>,
): NightData[] {
  const data: NightData[] = nights.map((night) => ({ night, allocations: store.listAllocations(night.id), runs: [], results: store.listNightResults(night.id), verifications: new Map() }));
  const runsById = new Map(store.listRuns().map((r) => [r.id, r]));
  const runIdsOf = (d: NightData) => [...new Set(d.allocations.map((a) => a.runId).filter((id): id is number => id !== null))];
  const allRunIds = data.flatMap(runIdsOf);
  const experiments = new Map<number, ExperimentBrief[]>(allRunIds.map((id) => [id, []]));
  for (const e of store.listExperimentBriefs(allRunIds)) experiments.get(e.runId)!.push(e);
  const verifications = new Map<number, Verification[]>(allRunIds.map((id) => [id, []]));
  const runOfExperiment = new Map<number, number>();
  for (const [runId, list] of experiments) for (const e of list) runOfExperiment.set(e.id, runId);
  for (const v of store.verificationsOfRuns(allRunIds)) verifications.get(runOfExperiment.get(v.experimentId)!)?.push(v);
  // The champion chain is found on the experiments alone, before the sections pick their diffs.
  for (const d of data)
    d.runs = runIdsOf(d).map((id) => ({ run: runsById.get(id) ?? store.getRun(id), experiments: experiments.get(id)!, section: undefined as unknown as RunSection, rows: [], charts: [], verifications: verifications.get(id)! }));
  const chain = chainOf(data);
  const requests = data.flatMap((d) => d.runs.map((r) => ({ run: r.run, chartPrefix: `n${d.night.number}-run-${r.run.id}` })));
  const detail = planDetail(allRunIds.reduce((s, id) => s + experiments.get(id)!.length, 0), allRunIds.length);
  const built = buildRunSections(store, requests, { experiments, orgs: records.orgs, detail, chain });
  let k = 0;
  for (const d of data)
    for (const r of d.runs) {
      const b = built[k++]!;
      Object.assign(r, { section: b.section, rows: b.rows, charts: b.charts });
      for (const v of r.verifications) d.verifications.set(v.id, v);
    }
  return data;
}

/** The kept experiments leading to each champion move (the tournament's champion chain), up to night `upTo`. */
function championChainIds(records: Records, data: readonly NightData[], upTo?: number): Set<number> {
  const ids = new Set<number>();
  for (const c of records.champions) {
    const d = data.find((x) => x.night.id === c.nightId);
    if (!d || (upTo !== undefined && d.night.number > upTo)) continue;
    const r = d.runs.find((x) => x.run.orgId === c.orgId);
    const target = r?.experiments.find((e) => e.commit === c.commit);
    if (r && target) for (const e of chainTo(r.experiments, target)) ids.add(e.id);
  }
  return ids;
}

/** A night's story: its champion move, and each org's claim (the run head it had verified). */
function nightChainIds(records: Records, data: readonly NightData[]): Set<number> {
  const ids = championChainIds(records, data);
  for (const d of data)
    for (const result of d.results) {
      const r = d.runs.find((x) => x.run.id === result.runId);
      const target = r?.experiments.find((e) => e.id === result.experimentId);
      if (r && target) for (const e of chainTo(r.experiments, target)) ids.add(e.id);
    }
  return ids;
}

function findRow(data: NightData, result: NightResult): { section: RunSection; row: ExperimentRow } | undefined {
  if (result.experimentId === null) return undefined;
  for (const r of data.runs) {
    if (result.runId !== null && r.run.id !== result.runId) continue;
    const row = r.rows.find((e) => e.id === result.experimentId);
    if (row) return { section: r.section, row };
  }
  return undefined;
}

function leaderboard(records: Records, data: NightData, nightsByOrg: Map<number, number>): { section: LeaderboardSection; chart: ChartSpec | null } {
  const forest: ForestRow[] = [];
  const rows = data.results.map((r) => {
    const org = records.orgs.get(r.orgId)!;
    const v = r.verificationId === null ? undefined : data.verifications.get(r.verificationId);
    const interval = v ? gainInterval(v) : null;
    if (interval) forest.push({ label: org.name, interval });
    const best = findRow(data, r)?.row.valBpb ?? data.runs.find((x) => x.run.id === r.runId)?.section.bestBpb ?? null;
    return {
      rank: r.rank,
      org: org.name,
      generation: org.generation,
      nights: nightsByOrg.get(r.orgId) ?? 1,
      bestBpb: best,
      gain: interval,
      rating: r.score,
      verdict: r.verdict,
      claimedGain: r.claimedGain,
      creditedGain: r.verifiedGain,
      deviceSeconds: r.deviceSeconds,
      experiments: r.experiments,
    };
  });
  const chart = forestChart(`night-${data.night.number}-forest`, forest, `night ${data.night.number}: verified gain over the night's base per org`);
  return { section: { chartId: chart?.id ?? null, rows }, chart };
}

/** Device time per org and allocation round: an experiment belongs to the round granted last before it was proposed. */
function allocationRows(records: Records, data: NightData, withNight: boolean): AllocationSection["rows"] {
  const allocations = data.allocations;
  const out: AllocationSection["rows"] = [];
  for (const a of allocations) out.push({ ...(withNight ? { night: data.night.number } : {}), org: orgName(records, a.orgId), round: a.round, deviceSeconds: 0, experiments: a.experiments });
  for (const r of data.runs) {
    const mine = allocations.map((a, i) => ({ a, i })).filter(({ a }) => a.orgId === r.run.orgId).sort((x, y) => x.a.round - y.a.round);
    for (const e of r.experiments) {
      if (!e.startedAt) continue;
      const busy = Math.max(0, (e.finishedAt ? seconds(e.finishedAt) : seconds(e.startedAt)) - seconds(e.startedAt));
      const at = seconds(e.createdAt);
      const owner = [...mine].reverse().find(({ a }) => seconds(a.createdAt) <= at) ?? mine[0];
      if (owner) out[owner.i]!.deviceSeconds += busy;
    }
  }
  return out;
}

function mergeVerdicts(data: readonly NightData[]): VerdictSection | undefined {
  const parts = data
    .flatMap((d) => d.runs.map((r) => (r.verifications.length > 0 ? buildVerdicts(r.verifications, r.section, new Map(r.rows.map((row) => [row.id, row]))) : undefined)))
    .filter((v): v is VerdictSection => v !== undefined);
  if (parts.length === 0) return undefined;
  const expected = parts.map((p) => p.expectedFalseKeeps).filter((x): x is number => x !== null);
  return {
    rows: parts.flatMap((p) => p.rows),
    naiveKeeps: data.reduce((s, d) => s + d.runs.reduce((t, r) => t + r.section.keptTotal, 0), 0),
    verifiedKeeps: parts.reduce((s, p) => s + p.verifiedKeeps, 0),
    expectedFalseKeeps: expected.length > 0 ? expected.reduce((a, b) => a + b, 0) : null,
    noiseSd: null,
  };
}

function championChain(records: Records, data: readonly NightData[], upTo?: number): ChampionChainSection {
  const numberOf = new Map(records.nights.map((n) => [n.id, n.number]));
  const rows: ChampionRow[] = [];
  for (const c of records.champions) {
    const night = c.nightId === null ? 0 : (numberOf.get(c.nightId) ?? 0);
    if (upTo !== undefined && night > upTo) continue;
    let interval = null;
    const d = data.find((x) => x.night.id === c.nightId);
    const result = d?.results.find((r) => r.orgId === c.orgId);
    const v = result?.verificationId != null ? d!.verifications.get(result.verificationId) : undefined;
    if (v) interval = gainInterval(v);
    rows.push({ night, commit: c.commit.slice(0, 7), org: c.orgId === null ? null : orgName(records, c.orgId), gain: c.gain, interval });
  }
  return { rows, totalGain: rows.reduce((s, r) => s + r.gain, 0) };
}

/**
 * Members as a tree: parents before children, children under their parent; and drawn over the
 * nights up to `lastNight`, with the champion moves marked.
 */
function lineage(records: Records, members: readonly Member[], lastNight: number, moves: readonly ChampionRow[], throughNight?: number): { section: LineageSection; chart: ChartSpec | null } {
  const shown = members.filter((m) => throughNight === undefined || m.joinedNight <= throughNight + 1);
  const byId = new Map(shown.map((m) => [m.org.id, m]));
  const children = new Map<number | null, Member[]>();
  for (const m of shown) {
    const parent = m.org.parentId !== null && byId.has(m.org.parentId) ? m.org.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), m]);
  }
  const nodes: LineageNode[] = [];
  const parentOrg = (org: Org): Org | null => (org.parentId === null ? null : (byId.get(org.parentId)?.org ?? records.orgs.get(org.parentId) ?? null));
  const visit = (m: Member, depth: number) => {
    const parent = parentOrg(m.org);
    nodes.push({
      org: m.org.name,
      generation: m.org.generation,
      parent: parent?.name ?? null,
      mutationNote: m.org.mutationNote,
      depth,
      programDiff: parent ? textDiff("program.md", parent.programMd, m.org.programMd) : null,
      programMd: parent ? null : m.org.programMd,
      retired: m.retiredNight !== null && (throughNight === undefined || m.retiredNight <= throughNight),
      retiredNight: m.retiredNight !== null && (throughNight === undefined || m.retiredNight <= throughNight) ? m.retiredNight : null,
      joinedNight: m.joinedNight,
    });
    for (const c of children.get(m.org.id) ?? []) visit(c, depth + 1);
  };
  for (const root of children.get(null) ?? []) visit(root, 0);
  const chart = lineageChart("lineage", nodes, lastNight, moves.filter((m) => m.night > 0));
  return { section: { nodes, chartId: chart?.id ?? null }, chart };
}

/** Progress series, one per org: an org's runs over several nights continue one x axis. */
function progressSeries(data: readonly NightData[]): ProgressSeries[] {
  const byOrg = new Map<string, ExperimentRow[]>();
  for (const d of data)
    for (const r of d.runs) {
      const before = byOrg.get(r.section.org.name) ?? [];
      const offset = before.reduce((m, e) => Math.max(m, e.seq), 0);
      for (const e of r.rows) before.push({ ...e, seq: e.seq + offset });
      byOrg.set(r.section.org.name, before);
    }
  return [...byOrg].map(([org, experiments]) => ({ org, experiments }));
}

/** The headline's verified parts: the champion move (when one) replaces the keep rule's champion. */
function verifiedHeadline(model: ReportModel, data: readonly NightData[], chain: ChampionChainSection, nightNumber?: number): void {
  const moves = chain.rows.filter((r) => r.night > 0 && (nightNumber === undefined || r.night === nightNumber));
  const last = moves.at(-1);
  if (!last) {
    model.headline.verifiedNote =
      nightNumber === undefined
        ? `no gain verified in ${data.length} night${data.length === 1 ? "" : "s"}: the champion is still the base ${chain.rows[0]?.commit ?? ""}`
        : `no gain verified tonight: the champion stays at ${data[0]?.night.baseCommit.slice(0, 7) ?? ""}`;
    // The keep rule's best is then a kept change, never a baseline (a rerun of the base that
    // happened to measure low is no champion).
    let best: { section: RunSection; change: ExperimentRow & { valBpb: number } } | undefined;
    for (const d of data)
      for (const r of d.runs)
        for (const change of r.rows)
          if (change.status === "keep" && !change.isBaseline && change.valBpb !== null && (!best || change.valBpb < best.change.valBpb)) best = { section: r.section, change: change as ExperimentRow & { valBpb: number } };
    if (!best) {
      model.headline.champion = null;
      model.headline.naiveGain = null;
      return;
    }
    const { section, change } = best;
    model.headline.champion = { org: section.org.name, runId: section.id, branch: section.branch, seq: change.seq, commit: change.commit, valBpb: change.valBpb, description: change.description };
    model.headline.baselineBpb = section.baselineBpb;
    model.headline.naiveGain = section.baselineBpb !== null ? section.baselineBpb - change.valBpb : null;
    return;
  }
  const d = data.find((x) => x.night.number === last.night);
  const result = d?.results.find((r) => r.verificationId !== null && d.verifications.get(r.verificationId)?.commit.startsWith(last.commit));
  const found = d && result ? findRow(d, result) : undefined;
  if (found) {
    const { section, row } = found;
    model.headline.champion = { org: section.org.name, runId: section.id, branch: section.branch, seq: row.seq, commit: row.commit, valBpb: row.valBpb ?? Number.NaN, description: row.description };
    model.headline.baselineBpb = section.baselineBpb;
    model.headline.naiveGain = section.baselineBpb !== null && row.valBpb !== null ? section.baselineBpb - row.valBpb : null;
  }
  if (last.interval) model.headline.verifiedGain = last.interval;
  const v = d && result?.verificationId != null ? d.verifications.get(result.verificationId) : undefined;
  if (v?.testBpb != null) model.headline.testBpb = v.testBpb;
  model.headline.verifiedNote =
    `${last.org} on night ${last.night}, over that night's base` +
    (nightNumber === undefined && moves.length > 1 ? `; ${moves.length} moves add +${chain.totalGain.toFixed(6)} in all` : "");
}

function tournamentInfo(records: Records, t: Tournament, night?: Night): ReportModel["tournament"] {
  const nights = records.nights;
  return {
    name: t.name,
    status: t.status,
    nightsPlanned: t.nights,
    nightsFinished: nights.filter((n) => n.status === "finished").length,
    baseCommit: t.baseCommit.slice(0, 7),
    championCommit: t.championCommit.slice(0, 7),
    ...(night ? { night: { number: night.number, status: night.status, baseCommit: night.baseCommit.slice(0, 7) } } : {}),
  };
}

/** How many nights each org has played up to and including `upTo`. */
function nightsPlayed(data: readonly NightData[], upTo: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of data) if (d.night.number <= upTo) for (const r of d.results) out.set(r.orgId, (out.get(r.orgId) ?? 0) + 1);
  return out;
}

// ---- the reports ------------------------------------------------------------------------------

/** The report of one night: its org runs side by side, leaderboard, allocation, verdicts, lineage so far. */
export function buildNightReport(store: Store, t: Tournament, night: Night, options: ReportOptions = {}): ReportModel {
  return buildNightReportWithTable(store, t, night, options).model;
}

/** buildNightReport, and every experiment of the night as rows for the TSV beside the report. */
export function buildNightReportWithTable(store: Store, t: Tournament, night: Night, options: ReportOptions = {}): BuiltReport {
  const records = readRecords(store, t);
  const [data] = loadNights(store, records, [night], (d) => nightChainIds(records, d));
  if (data!.runs.length === 0)
    throw new ReportError("REPORT_EMPTY_NIGHT", `night ${night.number} of tournament '${t.name}' has no run yet (it is ${night.status}): report an earlier night or wait`);
  const d = data!;
  // The nights before count only for how many nights each org has played.
  const earlier = records.nights.filter((n) => n.number < night.number).map((n): NightData => ({ night: n, allocations: [], runs: [], results: store.listNightResults(n.id), verifications: new Map() }));
  const model = assembleReport(
    {
      kind: "night",
      title: `Tournament ${t.name} · night ${night.number}`,
      runs: d.runs.map((r) => r.section),
      charts: d.runs.flatMap((r) => r.charts),
      progress: d.runs.map((r) => ({ org: r.section.org.name, experiments: r.rows })),
      noise: seedNoiseOf(store, d.runs[0]?.run),
    },
    options,
  );
  model.tournament = tournamentInfo(records, t, night);
  if (d.results.length > 0) {
    const board = leaderboard(records, d, nightsPlayed([...earlier, d], night.number));
    model.leaderboard = board.section;
    if (board.chart) model.charts.push(board.chart);
  }
  const rows = allocationRows(records, d, false);
  const alloc = allocationChart(`night-${night.number}-allocation`, rows);
  model.allocation = { chartId: alloc?.id ?? null, rows, totalDeviceSeconds: rows.reduce((s, r) => s + r.deviceSeconds, 0) };
  if (alloc) model.charts.push(alloc);
  const verdicts = mergeVerdicts([d]);
  if (verdicts) model.verdicts = verdicts;
  const chain = championChain(records, [d], night.number);
  model.champions = chain;
  if (d.results.length > 0) verifiedHeadline(model, [d], chain, night.number);
  else model.headline.verifiedNote = `night ${night.number} is ${night.status}: nothing verified yet`;
  const tree = lineage(records, store.listMembers(t.id), night.number, chain.rows, night.number);
  model.lineage = tree.section;
  if (tree.chart) model.charts.push(tree.chart);
  return { model, table: tableOf([d]) };
}

/** The report of a whole tournament: every night's runs, leaderboards, allocations, the champion chain and the lineage. */
export function buildTournamentReport(store: Store, t: Tournament, options: ReportOptions = {}): ReportModel {
  return buildTournamentReportWithTable(store, t, options).model;
}

/** buildTournamentReport, and every experiment of its nights as rows for the TSV beside the report. */
export function buildTournamentReportWithTable(store: Store, t: Tournament, options: ReportOptions = {}): BuiltReport {
  const records = readRecords(store, t);
  const data = loadNights(store, records, requireFinishedNight(records, t), (d) => championChainIds(records, d));
  const runs = data.flatMap((d) => d.runs);
  // Over many runs the allocation chart stands for the per-run device timelines (each run keeps
  // its utilization table): a week's report stays a page a reader can open.
  for (const r of runs) r.section.utilization.chartId = null;
  const model = assembleReport(
    { kind: "tournament", title: `Tournament ${t.name}`, runs: runs.map((r) => r.section), charts: [], progress: progressSeries(data), noise: seedNoiseOf(store, runs[0]?.run) },
    options,
  );
  model.tournament = tournamentInfo(records, t);
  const nights: NightSection[] = [];
  const chain = championChain(records, data);
  for (const d of data) {
    const board = leaderboard(records, d, nightsPlayed(data, d.night.number));
    if (board.chart) model.charts.push(board.chart);
    nights.push({
      number: d.night.number,
      status: d.night.status,
      baseCommit: d.night.baseCommit.slice(0, 7),
      champion: chain.rows.find((c) => c.night === d.night.number) ?? null,
      experiments: d.results.reduce((s, r) => s + r.experiments, 0),
      deviceSeconds: d.results.reduce((s, r) => s + r.deviceSeconds, 0),
      leaderboard: board.section,
    });
  }
  model.nights = nights;
  model.champions = chain;
  const rows = data.flatMap((d) => allocationRows(records, d, true));
  const alloc = allocationChart("tournament-allocation", rows);
  model.allocation = { chartId: alloc?.id ?? null, rows, totalDeviceSeconds: rows.reduce((s, r) => s + r.deviceSeconds, 0) };
  if (alloc) model.charts.push(alloc);
  const verdicts = mergeVerdicts(data);
  if (verdicts) model.verdicts = verdicts;
  // The tournament's baseline is the first night's base; the headline's keep-rule gain is against it.
  const firstBaseline = data[0]!.runs.find((r) => r.section.baselineBpb !== null)?.section.baselineBpb ?? null;
  verifiedHeadline(model, data, chain);
  if (firstBaseline !== null && model.headline.champion && chain.rows.length > 1) {
    model.headline.baselineBpb = firstBaseline;
    model.headline.naiveGain = firstBaseline - model.headline.champion.valBpb;
  }
  const tree = lineage(records, store.listMembers(t.id), Math.max(...records.nights.map((n) => n.number)), chain.rows);
  model.lineage = tree.section;
  if (tree.chart) model.charts.push(tree.chart);
  return { model, table: tableOf(data) };
}

function tableOf(data: readonly NightData[]): TableRun[] {
  return data.flatMap((d) => d.runs.map((r) => ({ section: r.section, rows: r.rows, night: d.night.number })));
}
