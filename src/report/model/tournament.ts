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
 */
import type { Experiment, Member, Night, NightResult, Org, Run, Store, Tournament, Verification } from "../../store/index.ts";
import { allocationChart } from "../charts/allocation.ts";
import { forestChart, type ForestRow } from "../charts/forest.ts";
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
import { assembleReport, type ReportOptions } from "./report.ts";
import { buildRunSection } from "./run-section.ts";
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

function requireFinishedNight(store: Store, t: Tournament): Night[] {
  const nights = store.listNights(t.id);
  if (!nights.some((n) => n.status === "finished"))
    throw new ReportError(
      "REPORT_EMPTY_TOURNAMENT",
      `tournament '${t.name}' has no finished night yet (${nights.length} of ${t.nights} started): report a run with --run, or wait for night 1`,
    );
  return nights;
}

// ---- pieces -----------------------------------------------------------------------------------

interface NightData {
  night: Night;
  runs: { run: Run; experiments: Experiment[]; section: RunSection; charts: ChartSpec[] }[];
  results: NightResult[];
  /** Verifications of the night's claims, by id. */
  verifications: Map<number, Verification>;
}

function loadNight(store: Store, night: Night): NightData {
  const allocations = store.listAllocations(night.id);
  const runIds = [...new Set(allocations.map((a) => a.runId).filter((id): id is number => id !== null))];
  const runs = runIds.map((id) => {
    const run = store.getRun(id);
    const built = buildRunSection(store, run, `n${night.number}-run-${run.id}`);
    return { run, experiments: store.listExperiments(run.id), section: built.section, charts: built.charts };
  });
  const verifications = new Map<number, Verification>();
  for (const r of runs) for (const v of store.runVerifications(r.run.id)) verifications.set(v.id, v);
  return { night, runs, results: store.listNightResults(night.id), verifications };
}

function findRow(data: NightData, result: NightResult): { section: RunSection; row: ExperimentRow } | undefined {
  for (const r of data.runs) {
    const row = r.section.experiments.find((e) => e.id === result.experimentId);
    if (row) return { section: r.section, row };
  }
  return undefined;
}

function leaderboard(store: Store, data: NightData, nightsByOrg: Map<number, number>): { section: LeaderboardSection; chart: ChartSpec | null } {
  const forest: ForestRow[] = [];
  const rows = data.results.map((r) => {
    const org = store.getOrg(r.orgId);
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
      deviceSeconds: r.deviceSeconds,
      experiments: r.experiments,
    };
  });
  const chart = forestChart(`night-${data.night.number}-forest`, forest, `night ${data.night.number}: verified gain over the night's base per org`);
  return { section: { chartId: chart?.id ?? null, rows }, chart };
}

/** Device time per org and allocation round: an experiment belongs to the round granted last before it was proposed. */
function allocationRows(store: Store, data: NightData, withNight: boolean): AllocationSection["rows"] {
  const allocations = store.listAllocations(data.night.id);
  const out: AllocationSection["rows"] = [];
  for (const a of allocations) out.push({ ...(withNight ? { night: data.night.number } : {}), org: store.getOrg(a.orgId).name, round: a.round, deviceSeconds: 0, experiments: a.experiments });
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

function mergeVerdicts(store: Store, data: readonly NightData[]): VerdictSection | undefined {
  const parts = data.flatMap((d) => d.runs.map((r) => buildVerdicts(store, r.run, r.section))).filter((v): v is VerdictSection => v !== undefined);
  if (parts.length === 0) return undefined;
  const expected = parts.map((p) => p.expectedFalseKeeps).filter((x): x is number => x !== null);
  return {
    rows: parts.flatMap((p) => p.rows),
    naiveKeeps: data.reduce((s, d) => s + d.runs.reduce((t, r) => t + r.section.kept.length, 0), 0),
    verifiedKeeps: parts.reduce((s, p) => s + p.verifiedKeeps, 0),
    expectedFalseKeeps: expected.length > 0 ? expected.reduce((a, b) => a + b, 0) : null,
    noiseSd: null,
  };
}

function championChain(store: Store, t: Tournament, data: readonly NightData[], upTo?: number): ChampionChainSection {
  const numberOf = new Map(store.listNights(t.id).map((n) => [n.id, n.number]));
  const rows: ChampionRow[] = [];
  for (const c of store.listChampions(t.id)) {
    const night = c.nightId === null ? 0 : (numberOf.get(c.nightId) ?? 0);
    if (upTo !== undefined && night > upTo) continue;
    let interval = null;
    const d = data.find((x) => x.night.id === c.nightId);
    const result = d?.results.find((r) => r.orgId === c.orgId);
    const v = result?.verificationId != null ? d!.verifications.get(result.verificationId) : undefined;
    if (v) interval = gainInterval(v);
    rows.push({ night, commit: c.commit.slice(0, 7), org: c.orgId === null ? null : store.getOrg(c.orgId).name, gain: c.gain, interval });
  }
  return { rows, totalGain: rows.reduce((s, r) => s + r.gain, 0) };
}

/** Members as a tree: parents before children, children under their parent. */
function lineage(store: Store, members: readonly Member[], throughNight?: number): LineageSection {
  const shown = members.filter((m) => throughNight === undefined || m.joinedNight <= throughNight + 1);
  const byId = new Map(shown.map((m) => [m.org.id, m]));
  const children = new Map<number | null, Member[]>();
  for (const m of shown) {
    const parent = m.org.parentId !== null && byId.has(m.org.parentId) ? m.org.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), m]);
  }
  const nodes: LineageNode[] = [];
  const parentOrg = (org: Org): Org | null => (org.parentId === null ? null : (byId.get(org.parentId)?.org ?? store.getOrg(org.parentId)));
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
      joinedNight: m.joinedNight,
    });
    for (const c of children.get(m.org.id) ?? []) visit(c, depth + 1);
  };
  for (const root of children.get(null) ?? []) visit(root, 0);
  return { nodes };
}

/** Progress series, one per org: an org's runs over several nights continue one x axis. */
function progressSeries(data: readonly NightData[]): ProgressSeries[] {
  const byOrg = new Map<string, ExperimentRow[]>();
  for (const d of data)
    for (const r of d.runs) {
      const before = byOrg.get(r.section.org.name) ?? [];
      const offset = before.reduce((m, e) => Math.max(m, e.seq), 0);
      byOrg.set(r.section.org.name, [...before, ...r.section.experiments.map((e) => ({ ...e, seq: e.seq + offset }))]);
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
    let best: { section: RunSection; change: RunSection["kept"][number] } | undefined;
    for (const d of data) for (const r of d.runs) for (const change of r.section.kept) if (!best || change.valBpb < best.change.valBpb) best = { section: r.section, change };
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

function tournamentInfo(store: Store, t: Tournament, night?: Night): ReportModel["tournament"] {
  const nights = store.listNights(t.id);
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
  const all = store.listNights(t.id).filter((n) => n.number <= night.number).map((n) => (n.id === night.id ? loadNight(store, n) : { night: n, runs: [], results: store.listNightResults(n.id), verifications: new Map() }));
  const data = all.find((d) => d.night.id === night.id)!;
  if (data.runs.length === 0)
    throw new ReportError("REPORT_EMPTY_NIGHT", `night ${night.number} of tournament '${t.name}' has no run yet (it is ${night.status}): report an earlier night or wait`);
  const model = assembleReport(
    { kind: "night", title: `Tournament ${t.name} · night ${night.number}`, runs: data.runs.map((r) => r.section), charts: data.runs.flatMap((r) => r.charts) },
    options,
  );
  model.tournament = tournamentInfo(store, t, night);
  if (data.results.length > 0) {
    const board = leaderboard(store, data, nightsPlayed(all, night.number));
    model.leaderboard = board.section;
    if (board.chart) model.charts.push(board.chart);
  }
  const rows = allocationRows(store, data, false);
  const alloc = allocationChart(`night-${night.number}-allocation`, rows);
  model.allocation = { chartId: alloc?.id ?? null, rows, totalDeviceSeconds: rows.reduce((s, r) => s + r.deviceSeconds, 0) };
  if (alloc) model.charts.push(alloc);
  const verdicts = mergeVerdicts(store, [data]);
  if (verdicts) model.verdicts = verdicts;
  const chain = championChain(store, t, [data], night.number);
  model.champions = chain;
  if (data.results.length > 0) verifiedHeadline(model, [data], chain, night.number);
  else model.headline.verifiedNote = `night ${night.number} is ${night.status}: nothing verified yet`;
  model.lineage = lineage(store, store.listMembers(t.id), night.number);
  return model;
}

/** The report of a whole tournament: every night's runs, leaderboards, allocations, the champion chain and the lineage. */
export function buildTournamentReport(store: Store, t: Tournament, options: ReportOptions = {}): ReportModel {
  const data = requireFinishedNight(store, t).map((n) => loadNight(store, n));
  const runs = data.flatMap((d) => d.runs);
  // Over many runs the allocation chart stands for the per-run device timelines (each run keeps
  // its utilization table): a week's report stays a page a reader can open.
  for (const r of runs) r.section.utilization.chartId = null;
  const model = assembleReport(
    { kind: "tournament", title: `Tournament ${t.name}`, runs: runs.map((r) => r.section), charts: [], progress: progressSeries(data) },
    options,
  );
  model.tournament = tournamentInfo(store, t);
  const nights: NightSection[] = [];
  const chain = championChain(store, t, data);
  for (const d of data) {
    const board = leaderboard(store, d, nightsPlayed(data, d.night.number));
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
  const rows = data.flatMap((d) => allocationRows(store, d, true));
  const alloc = allocationChart("tournament-allocation", rows);
  model.allocation = { chartId: alloc?.id ?? null, rows, totalDeviceSeconds: rows.reduce((s, r) => s + r.deviceSeconds, 0) };
  if (alloc) model.charts.push(alloc);
  const verdicts = mergeVerdicts(store, data);
  if (verdicts) model.verdicts = verdicts;
  // The tournament's baseline is the first night's base; the headline's keep-rule gain is against it.
  const firstBaseline = data[0]!.runs.find((r) => r.section.baselineBpb !== null)?.section.baselineBpb ?? null;
  verifiedHeadline(model, data, chain);
  if (firstBaseline !== null && model.headline.champion && chain.rows.length > 1) {
    model.headline.baselineBpb = firstBaseline;
    model.headline.naiveGain = firstBaseline - model.headline.champion.valBpb;
  }
  model.lineage = lineage(store, store.listMembers(t.id));
  return model;
}
