/**
 * What `tournament status` shows: the tournament as the store has it, as data and as text. Each
 * table is read once (the orgs, the nights, per night its allocations and results, the
 * verifications of the results' runs in one read): no lookup per org, result or champion.
 */
import type { Store, Tournament } from "../store/index.ts";

export function tournamentStatus(store: Store, t: Tournament) {
  const orgs = new Map(store.listOrgs().map((o) => [o.id, o.name]));
  const name = (id: number | null) => (id === null ? null : (orgs.get(id) ?? null));
  const nights = store.listNights(t.id).map((n) => ({ night: n, allocations: store.listAllocations(n.id), results: store.listNightResults(n.id) }));
  const runIds = [...new Set(nights.flatMap((n) => n.results.map((r) => r.runId)).filter((id): id is number => id !== null))];
  const verifications = new Map(store.verificationsOfRuns(runIds).map((v) => [v.id, v]));
  /** δ_min the result's verification judged by (null: none recorded, or no verification). */
  const marginOf = (r: { runId: number | null; verificationId: number | null }): number | null => {
    if (r.runId === null || r.verificationId === null) return null;
    const margin = verifications.get(r.verificationId)?.details.margin;
    return typeof margin === "number" ? margin : null;
  };
  const numberOf = new Map(nights.map(({ night }) => [night.id, night.number]));
  return {
    tournament: { name: t.name, status: t.status, nights: t.nights, baseCommit: t.baseCommit, championCommit: t.championCommit, settings: t.settings },
    nights: nights.map(({ night: n, allocations, results }) => ({
      number: n.number,
      status: n.status,
      baseCommit: n.baseCommit,
      allocations: allocations.map((a) => ({ org: name(a.orgId), round: a.round, experiments: a.experiments, status: a.status, runId: a.runId })),
      results: results.map((r) => ({ rank: r.rank, org: name(r.orgId), verdict: r.verdict, margin: marginOf(r), claimedGain: r.claimedGain, verifiedGain: r.verifiedGain, deviceSeconds: r.deviceSeconds, experiments: r.experiments, score: r.score })),
    })),
    champions: store.listChampions(t.id).map((c) => ({ night: c.nightId === null ? 0 : numberOf.get(c.nightId)!, commit: c.commit, org: name(c.orgId), gain: c.gain })),
    population: store.listMembers(t.id).map((m) => ({
      org: m.org.name,
      status: m.status,
      joinedNight: m.joinedNight,
      retiredNight: m.retiredNight,
      parent: name(m.org.parentId),
      generation: m.org.generation,
      mutationNote: m.org.mutationNote,
      programMdHash: m.org.programMdHash,
    })),
  };
}

export type TournamentStatus = ReturnType<typeof tournamentStatus>;

export function formatStatus(s: TournamentStatus): string {
  const out: string[] = [];
  const t = s.tournament;
  out.push(`tournament ${t.name}: ${t.status}, ${s.nights.filter((n) => n.status === "finished").length}/${t.nights} nights, champion ${t.championCommit.slice(0, 7)}`);
  for (const n of s.nights) {
    out.push(`night ${n.number} (${n.status}) from ${n.baseCommit.slice(0, 7)}`);
    for (const a of n.allocations) out.push(`  round ${a.round}: ${a.org} ${a.experiments} experiments (${a.status})`);
    // Why the champion may not be #1: the rank is a rate, the champion the largest gain.
    if (n.results.length > 0) out.push("  ranked by score = credited gain per device-hour (the champion moves on the largest real gain)");
    for (const r of n.results)
      out.push(`  #${r.rank} ${r.org}: ${r.verdict ?? "no claim"}${r.margin !== null ? ` (δ_min ${r.margin.toPrecision(3)})` : ""}, claimed ${r.claimedGain.toFixed(5)}, credited ${r.verifiedGain.toFixed(5)}${r.verdict && r.verdict !== "real" ? " (not real: nothing credited)" : ""}, ${r.experiments} experiments, ${r.deviceSeconds.toFixed(0)} device-s, score ${r.score.toFixed(4)}/h`);
  }
  out.push("champion chain:");
  for (const c of s.champions) out.push(`  night ${c.night}: ${c.commit.slice(0, 7)}${c.org ? ` by ${c.org} (+${c.gain.toFixed(5)})` : " (the base)"}`);
  out.push("population:");
  for (const m of s.population)
    out.push(`  ${m.org} gen ${m.generation}${m.parent ? ` from ${m.parent}` : ""}, ${m.status} (joined night ${m.joinedNight}${m.retiredNight ? `, retired after night ${m.retiredNight}` : ""})${m.mutationNote ? ` — ${m.mutationNote}` : ""}`);
  return out.join("\n");
}
