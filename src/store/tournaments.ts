/**
 * The tournament's records: tournaments, their population (membership with the nights each org
 * joined and retired), nights, allocations of experiments within a night, each org's result of
 * a night and the champion chain. Every state change is one transaction, so a kill leaves the
 * tournament at exactly one recorded step; the decisions themselves (who gets experiments, who
 * breeds) are made in src/tournament, never here.
 */
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid, sqliteCode } from "./errors.ts";
import { createOrg, getOrg } from "./orgs.ts";
import { type JsonValue, scrubSettings } from "./secrets.ts";
import { recordVerification } from "./statistics.ts";
import type {
  Allocation,
  AllocationState,
  Champion,
  Member,
  MemberState,
  NewAllocation,
  NewNightResult,
  NewTournament,
  Night,
  NightEvolution,
  NightResult,
  NightState,
  Org,
  Tournament,
  TournamentState,
  Verdict,
} from "./types.ts";
import { checkAmount, checkCommit, checkCount, checkId, checkOneOf, checkText } from "./validate.ts";

// ---- rows ------------------------------------------------------------------------------------

interface TournamentRow {
  id: number;
  name: string;
  status: string;
  nights: number;
  settings_json: string;
  base_commit: string;
  champion_commit: string;
  created_at: string;
  ended_at: string | null;
}

const toTournament = (r: TournamentRow): Tournament => ({
  id: r.id,
  name: r.name,
  status: r.status as TournamentState,
  nights: r.nights,
  settings: JSON.parse(r.settings_json) as { [key: string]: JsonValue },
  baseCommit: r.base_commit,
  championCommit: r.champion_commit,
  createdAt: r.created_at,
  endedAt: r.ended_at,
});

interface NightRow {
  id: number;
  tournament_id: number;
  number: number;
  status: string;
  base_commit: string;
  created_at: string;
  finished_at: string | null;
}

const toNight = (r: NightRow): Night => ({
  id: r.id,
  tournamentId: r.tournament_id,
  number: r.number,
  status: r.status as NightState,
  baseCommit: r.base_commit,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

interface AllocationRow {
  id: number;
  night_id: number;
  org_id: number;
  round: number;
  experiments: number;
  run_id: number | null;
  status: string;
  note: string | null;
  created_at: string;
  finished_at: string | null;
}

const toAllocation = (r: AllocationRow): Allocation => ({
  id: r.id,
  nightId: r.night_id,
  orgId: r.org_id,
  round: r.round,
  experiments: r.experiments,
  runId: r.run_id,
  status: r.status as AllocationState,
  note: r.note,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

interface NightResultRow {
  id: number;
  night_id: number;
  org_id: number;
  run_id: number | null;
  experiment_id: number | null;
  verification_id: number | null;
  verdict: string | null;
  claimed_gain: number;
  verified_gain: number;
  device_seconds: number;
  experiments: number;
  score: number;
  rank: number;
  created_at: string;
}

const toNightResult = (r: NightResultRow): NightResult => ({
  id: r.id,
  nightId: r.night_id,
  orgId: r.org_id,
  runId: r.run_id,
  experimentId: r.experiment_id,
  verificationId: r.verification_id,
  verdict: r.verdict as Verdict | null,
  claimedGain: r.claimed_gain,
  verifiedGain: r.verified_gain,
  deviceSeconds: r.device_seconds,
  experiments: r.experiments,
  score: r.score,
  rank: r.rank,
  createdAt: r.created_at,
});

interface ChampionRow {
  id: number;
  tournament_id: number;
  night_id: number | null;
  commit_hash: string;
  org_id: number | null;
  gain: number;
  created_at: string;
}

const toChampion = (r: ChampionRow): Champion => ({
  id: r.id,
  tournamentId: r.tournament_id,
  nightId: r.night_id,
  commit: r.commit_hash,
  orgId: r.org_id,
  gain: r.gain,
  createdAt: r.created_at,
});

const TOURNAMENT_STATES: readonly TournamentState[] = ["running", "stopped", "finished"];

function badTransition(message: string): never {
  throw new StoreError("STORE_BAD_TRANSITION", message);
}

// ---- tournaments -----------------------------------------------------------------------------

export function createTournament(ctx: StoreContext, input: NewTournament): Tournament {
  const where = "createTournament";
  checkKeys(where, input, ["name", "nights", "baseCommit", "settings", "orgIds"]);
  const name = checkText(where, "name", input.name, { nonEmpty: true });
  const nights = checkCount(where, "nights", input.nights);
  if (nights < 1) invalid(`${where}: nights must be at least 1`);
  const base = checkCommit(where, "baseCommit", input.baseCommit);
  if (!Array.isArray(input.orgIds) || input.orgIds.length < 2) invalid(`${where}: a tournament needs at least two orgs`);
  const orgIds = input.orgIds.map((id) => checkId(where, "orgIds[]", id));
  if (new Set(orgIds).size !== orgIds.length) invalid(`${where}: an org is listed twice`);
  const settings = JSON.stringify(scrubSettings(input.settings ?? {}));
  return ctx.write(where, () => {
    let row: TournamentRow;
    try {
      row = ctx
        .stmt(
          `INSERT INTO tournaments (name, nights, settings_json, base_commit, champion_commit, created_at)
           VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(name, nights, settings, base, base, ctx.now()) as TournamentRow;
    } catch (err) {
      if (sqliteCode(err) === "SQLITE_CONSTRAINT_UNIQUE")
        throw new StoreError("STORE_CONFLICT", `${where}: a tournament named ${JSON.stringify(name)} already exists`);
      throw err;
    }
    for (const orgId of orgIds) {
      getOrg(ctx, orgId);
      ctx.stmt("INSERT INTO tournament_orgs (tournament_id, org_id, joined_night) VALUES (?, ?, 1)").run(row.id, orgId);
    }
    ctx.stmt("INSERT INTO champions (tournament_id, night_id, commit_hash, org_id, gain, created_at) VALUES (?, NULL, ?, NULL, 0, ?)").run(row.id, base, ctx.now());
    return toTournament(row);
  });
}

export function getTournament(ctx: StoreContext, id: number): Tournament {
  checkId("getTournament", "id", id);
  const row = ctx.stmt("SELECT * FROM tournaments WHERE id = ?").get(id) as TournamentRow | undefined;
  if (!row) throw new StoreError("STORE_NOT_FOUND", `no tournament with id ${id}`);
  return toTournament(row);
}

export function getTournamentByName(ctx: StoreContext, name: string): Tournament | undefined {
  checkText("getTournamentByName", "name", name);
  const row = ctx.stmt("SELECT * FROM tournaments WHERE name = ?").get(name) as TournamentRow | undefined;
  return row && toTournament(row);
}

export function listTournaments(ctx: StoreContext): Tournament[] {
  return (ctx.stmt("SELECT * FROM tournaments ORDER BY id").all() as TournamentRow[]).map(toTournament);
}

/** running ↔ stopped; finished only through the last night's evolution. */
export function setTournamentStatus(ctx: StoreContext, id: number, status: "running" | "stopped"): Tournament {
  const where = "setTournamentStatus";
  checkOneOf(where, "status", status, TOURNAMENT_STATES.filter((s) => s !== "finished"));
  return ctx.write(where, () => {
    const t = getTournament(ctx, id);
    if (t.status === "finished") badTransition(`${where}: tournament ${t.name} is finished`);
    return toTournament(ctx.stmt("UPDATE tournaments SET status = ? WHERE id = ? RETURNING *").get(status, id) as TournamentRow);
  });
}

// ---- population ------------------------------------------------------------------------------

interface MemberRow {
  tournament_id: number;
  org_id: number;
  status: string;
  joined_night: number;
  retired_night: number | null;
}

export function listMembers(ctx: StoreContext, tournamentId: number): Member[] {
  checkId("listMembers", "tournamentId", tournamentId);
  return (ctx.stmt("SELECT * FROM tournament_orgs WHERE tournament_id = ? ORDER BY id").all(tournamentId) as MemberRow[]).map((r) => ({
    tournamentId: r.tournament_id,
    org: getOrg(ctx, r.org_id),
    status: r.status as MemberState,
    joinedNight: r.joined_night,
    retiredNight: r.retired_night,
  }));
}

// ---- nights ----------------------------------------------------------------------------------

/** Night `number` of the tournament, from the current champion; the previous night must be finished. */
export function startNight(ctx: StoreContext, tournamentId: number, number: number): Night {
  const where = "startNight";
  checkId(where, "tournamentId", tournamentId);
  checkId(where, "number", number);
  return ctx.write(where, () => {
    const t = getTournament(ctx, tournamentId);
    if (number > t.nights) badTransition(`${where}: tournament ${t.name} has ${t.nights} nights, not ${number}`);
    const last = ctx.stmt("SELECT * FROM nights WHERE tournament_id = ? ORDER BY number DESC LIMIT 1").get(tournamentId) as NightRow | undefined;
    if ((last?.number ?? 0) + 1 !== number || (last && last.status !== "finished"))
      badTransition(`${where}: night ${number} cannot start after ${last ? `night ${last.number} (${last.status})` : "no night"}`);
    return toNight(
      ctx
        .stmt("INSERT INTO nights (tournament_id, number, base_commit, created_at) VALUES (?, ?, ?, ?) RETURNING *")
        .get(tournamentId, number, t.championCommit, ctx.now()) as NightRow,
    );
  });
}

export function listNights(ctx: StoreContext, tournamentId: number): Night[] {
  checkId("listNights", "tournamentId", tournamentId);
  return (ctx.stmt("SELECT * FROM nights WHERE tournament_id = ? ORDER BY number").all(tournamentId) as NightRow[]).map(toNight);
}

function getNight(ctx: StoreContext, id: number): Night {
  const row = ctx.stmt("SELECT * FROM nights WHERE id = ?").get(id) as NightRow | undefined;
  if (!row) throw new StoreError("STORE_NOT_FOUND", `no night with id ${id}`);
  return toNight(row);
}

function expectNight(where: string, night: Night, status: NightState): void {
  if (night.status !== status) badTransition(`${where}: night ${night.number} is ${night.status}, not ${status}`);
}

// ---- allocations -----------------------------------------------------------------------------

/** The allocations of one round, all at once (a round is planned whole or not at all). */
export function addAllocations(ctx: StoreContext, nightId: number, round: number, grants: NewAllocation[]): Allocation[] {
  const where = "addAllocations";
  checkId(where, "nightId", nightId);
  checkCount(where, "round", round);
  if (!Array.isArray(grants) || grants.length === 0) invalid(`${where}: a round grants experiments to at least one org`);
  for (const g of grants) {
    checkKeys(where, g, ["orgId", "experiments"]);
    checkId(where, "orgId", g.orgId);
    if (checkCount(where, "experiments", g.experiments) < 1) invalid(`${where}: a grant is at least one experiment`);
  }
  return ctx.write(where, () => {
    expectNight(where, getNight(ctx, nightId), "allocating");
    const open = ctx.stmt("SELECT count(*) AS n FROM allocations WHERE night_id = ? AND status <> 'done'").get(nightId) as { n: number };
    if (open.n > 0) badTransition(`${where}: the night still has ${open.n} allocations in progress`);
    try {
      return grants.map((g) =>
        toAllocation(
          ctx
            .stmt("INSERT INTO allocations (night_id, org_id, round, experiments, created_at) VALUES (?, ?, ?, ?, ?) RETURNING *")
            .get(nightId, g.orgId, round, g.experiments, ctx.now()) as AllocationRow,
        ),
      );
    } catch (err) {
      if (sqliteCode(err) === "SQLITE_CONSTRAINT_UNIQUE") throw new StoreError("STORE_CONFLICT", `${where}: round ${round} is already planned`);
      throw err;
    }
  });
}

export function listAllocations(ctx: StoreContext, nightId: number): Allocation[] {
  checkId("listAllocations", "nightId", nightId);
  return (ctx.stmt("SELECT * FROM allocations WHERE night_id = ? ORDER BY round, id").all(nightId) as AllocationRow[]).map(toAllocation);
}

/** pending → running (running → running after a kill: the allocation is taken up again). */
export function startAllocation(ctx: StoreContext, id: number): Allocation {
  const where = "startAllocation";
  checkId(where, "id", id);
  return ctx.write(where, () => {
    const row = ctx.stmt("UPDATE allocations SET status = 'running' WHERE id = ? AND status IN ('pending', 'running') RETURNING *").get(id) as AllocationRow | undefined;
    if (!row) badTransition(`${where}: allocation ${id} is done or does not exist`);
    return toAllocation(row);
  });
}

export function finishAllocation(ctx: StoreContext, id: number, runId: number | null, note?: string): Allocation {
  const where = "finishAllocation";
  checkId(where, "id", id);
  if (runId !== null) checkId(where, "runId", runId);
  return ctx.write(where, () => {
    const row = ctx
      .stmt("UPDATE allocations SET status = 'done', run_id = ?, note = ?, finished_at = ? WHERE id = ? AND status <> 'done' RETURNING *")
      .get(runId, note === undefined ? null : ctx.redactor.text(note), ctx.now(), id) as AllocationRow | undefined;
    if (!row) badTransition(`${where}: allocation ${id} is done already or does not exist`);
    return toAllocation(row);
  });
}

/** allocating → verifying, once every allocation is done. */
export function endAllocating(ctx: StoreContext, nightId: number): Night {
  const where = "endAllocating";
  checkId(where, "nightId", nightId);
  return ctx.write(where, () => {
    expectNight(where, getNight(ctx, nightId), "allocating");
    const open = ctx.stmt("SELECT count(*) AS n FROM allocations WHERE night_id = ? AND status <> 'done'").get(nightId) as { n: number };
    if (open.n > 0) badTransition(`${where}: ${open.n} allocations are not done`);
    return toNight(ctx.stmt("UPDATE nights SET status = 'verifying' WHERE id = ? RETURNING *").get(nightId) as NightRow);
  });
}

// ---- results and the champion ----------------------------------------------------------------

/**
 * The night's verdicts, every org's result and (on a real gain) the new champion, in one
 * transaction: verifying → evolving.
 */
export function recordNightResults(ctx: StoreContext, nightId: number, results: NewNightResult[], champion: { commit: string; orgId: number; gain: number } | null): NightResult[] {
  const where = "recordNightResults";
  checkId(where, "nightId", nightId);
  for (const r of results) {
    checkKeys(where, r, ["orgId", "runId", "experimentId", "verification", "claimedGain", "verifiedGain", "deviceSeconds", "experiments", "score", "rank"]);
    checkId(where, "orgId", r.orgId);
    checkAmount(where, "verifiedGain", r.verifiedGain);
    checkAmount(where, "deviceSeconds", r.deviceSeconds);
    checkAmount(where, "score", r.score);
    checkCount(where, "experiments", r.experiments);
    if (!Number.isFinite(r.claimedGain)) invalid(`${where}: claimedGain must be finite`);
  }
  if (champion) {
    checkCommit(where, "champion.commit", champion.commit);
    checkAmount(where, "champion.gain", champion.gain);
  }
  return ctx.write(where, () => {
    const night = getNight(ctx, nightId);
    expectNight(where, night, "verifying");
    const out = results.map((r) => {
      const v = r.verification ? recordVerification(ctx, r.verification) : null;
      return toNightResult(
        ctx
          .stmt(
            `INSERT INTO night_results (night_id, org_id, run_id, experiment_id, verification_id, verdict, claimed_gain, verified_gain,
               device_seconds, experiments, score, rank, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
          )
          .get(nightId, r.orgId, r.runId ?? null, r.experimentId ?? null, v?.id ?? null, v?.verdict ?? null, r.claimedGain, r.verifiedGain, r.deviceSeconds, r.experiments, r.score, r.rank, ctx.now()) as NightResultRow,
      );
    });
    if (champion) {
      ctx
        .stmt("INSERT INTO champions (tournament_id, night_id, commit_hash, org_id, gain, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .run(night.tournamentId, nightId, champion.commit, champion.orgId, champion.gain, ctx.now());
      ctx.stmt("UPDATE tournaments SET champion_commit = ? WHERE id = ?").run(champion.commit, night.tournamentId);
    }
    ctx.stmt("UPDATE nights SET status = 'evolving' WHERE id = ?").run(nightId);
    return out;
  });
}

export function listNightResults(ctx: StoreContext, nightId: number): NightResult[] {
  checkId("listNightResults", "nightId", nightId);
  return (ctx.stmt("SELECT * FROM night_results WHERE night_id = ? ORDER BY rank").all(nightId) as NightResultRow[]).map(toNightResult);
}

export function listChampions(ctx: StoreContext, tournamentId: number): Champion[] {
  checkId("listChampions", "tournamentId", tournamentId);
  return (ctx.stmt("SELECT * FROM champions WHERE tournament_id = ? ORDER BY id").all(tournamentId) as ChampionRow[]).map(toChampion);
}

// ---- evolution -------------------------------------------------------------------------------

/**
 * Breeding and retirement after a night, in one transaction: the children are created (with
 * their lineage) and join at the next night, the retired leave, the night and its runs are
 * finished — and after the last night, the tournament too. Returns the children.
 */
export function evolveNight(ctx: StoreContext, nightId: number, evolution: NightEvolution): Org[] {
  const where = "evolveNight";
  checkId(where, "nightId", nightId);
  checkKeys(where, evolution, ["children", "retire"]);
  const retire = evolution.retire.map((id) => checkId(where, "retire[]", id));
  return ctx.write(where, () => {
    const night = getNight(ctx, nightId);
    expectNight(where, night, "evolving");
    const t = getTournament(ctx, night.tournamentId);
    const last = night.number >= t.nights;
    const children: Org[] = [];
    // After the last night nobody joins a next one: lineage is only bred for nights to come.
    if (!last) {
      for (const child of evolution.children) {
        const org = createOrg(ctx, child);
        ctx.stmt("INSERT INTO tournament_orgs (tournament_id, org_id, joined_night) VALUES (?, ?, ?)").run(t.id, org.id, night.number + 1);
        children.push(org);
      }
      for (const orgId of retire) {
        const changed = ctx
          .stmt("UPDATE tournament_orgs SET status = 'retired', retired_night = ? WHERE tournament_id = ? AND org_id = ? AND status = 'active'")
          .run(night.number, t.id, orgId);
        if (changed.changes !== 1) badTransition(`${where}: org ${orgId} is not an active member of ${t.name}`);
      }
    }
    ctx.stmt("UPDATE nights SET status = 'finished', finished_at = ? WHERE id = ?").run(ctx.now(), nightId);
    // The night's runs end with it (a run stopped mid-night, or whose baseline failed, included).
    ctx
      .stmt(
        `UPDATE runs SET status = 'finished', ended_at = COALESCE(ended_at, @now)
         WHERE status <> 'finished' AND id IN (SELECT run_id FROM allocations WHERE night_id = @nightId AND run_id IS NOT NULL)`,
      )
      .run({ now: ctx.now(), nightId });
    if (last) ctx.stmt("UPDATE tournaments SET status = 'finished', ended_at = ? WHERE id = ?").run(ctx.now(), t.id);
    return children;
  });
}
