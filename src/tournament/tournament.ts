/**
 * The outer loop: start a tournament (population, settings, base commit) and drive it night by
 * night until its last night is finished, a stop is asked (a STOP file in the tournament's
 * folder, or the signal), or a kill; `resumeTournament` continues from whatever the store
 * recorded last. Everything it decides is written to the store before it acts on it.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { SandboxMode } from "../harness/runner/index.ts";
import type { DeviceSlot } from "../workspace/devices.ts";
import type { OrgSource } from "../workspace/org.ts";
import type { Workspace } from "../workspace/workspace.ts";
import type { Tournament } from "../store/index.ts";
import { TournamentError } from "./errors.ts";
import { nightTag, runNight } from "./night.ts";
import { registerOrgs } from "./population.ts";
import { type TournamentSettings, checkSettings, settingsFromJson, settingsToJson } from "./settings.ts";

export interface DriveOptions {
  slots: DeviceSlot[];
  /** This invocation's sandbox mode, over the stored setting (`resume --no-sandbox`); not stored. */
  sandbox?: SandboxMode;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** The STOP file `tournament stop` writes; the tournament's loops see it between experiments. */
export function stopFile(ws: Workspace | string, name: string): string {
  return join(typeof ws === "string" ? ws : ws.dir, "tournaments", name, "STOP");
}

export function checkTournamentName(name: string): void {
  // The name becomes part of a git ref (tag <name>-n<k>).
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$/.test(name))
    throw new TournamentError("TOURNAMENT_SETTINGS", `--name '${name}': use letters, digits, '_' and '-' (at most 41, starting with a letter or digit)`);
}

export async function startTournament(
  ws: Workspace,
  input: { name: string; nights: number; population: OrgSource[]; settings: TournamentSettings },
): Promise<Tournament> {
  checkTournamentName(input.name);
  checkSettings(input.settings);
  if (!Number.isInteger(input.nights) || input.nights < 1) throw new TournamentError("TOURNAMENT_SETTINGS", `--nights must be an integer ≥ 1, got ${input.nights}`);
  if (input.population.length < 2) throw new TournamentError("TOURNAMENT_ORGS", `a tournament needs at least 2 orgs, got ${input.population.length}`);
  if (ws.store.getTournamentByName(input.name))
    throw new TournamentError("TOURNAMENT_EXISTS", `tournament '${input.name}' already exists: \`nightshift tournament resume ${input.name}\` continues it, or pick another --name`);
  const base = await ws.lab.branchHead("main");
  if (!base) throw new TournamentError("TOURNAMENT_SETTINGS", `the lab in ${ws.dir} has no main branch`);
  const orgs = registerOrgs(ws.store, input.population);
  return ws.store.createTournament({ name: input.name, nights: input.nights, baseCommit: base, settings: settingsToJson(input.settings), orgIds: orgs.map((o) => o.id) });
}

export function findTournament(ws: Workspace, name: string | undefined): Tournament {
  const all = ws.store.listTournaments();
  if (name === undefined) {
    const latest = all.at(-1);
    if (!latest) throw new TournamentError("TOURNAMENT_UNKNOWN", "this workspace has no tournament yet: start one with `nightshift tournament start`");
    return latest;
  }
  const t = ws.store.getTournamentByName(name);
  if (!t) throw new TournamentError("TOURNAMENT_UNKNOWN", `no tournament '${name}' in this workspace${all.length ? ` (there: ${all.map((x) => x.name).join(", ")})` : ""}`);
  return t;
}

/** Runs nights until the tournament is finished or stopped; returns its final state. */
export async function driveTournament(ws: Workspace, tournament: Tournament, o: DriveOptions): Promise<Tournament> {
  const { store } = ws;
  const settings = { ...settingsFromJson(tournament.settings), ...(o.sandbox !== undefined ? { sandbox: o.sandbox } : {}) };
  const stop = stopFile(ws, tournament.name);
  mkdirSync(join(stop, ".."), { recursive: true });
  rmSync(stop, { force: true }); // a stop asked of an earlier invocation was already obeyed
  if (tournament.status === "stopped") store.setTournamentStatus(tournament.id, "running");
  const log = o.log ?? (() => undefined);
  const stopRequested = () => existsSync(stop) || o.signal?.aborted === true;
  for (;;) {
    const t = store.getTournament(tournament.id);
    if (t.status === "finished") return t;
    const last = store.listNights(t.id).at(-1);
    const night = !last || last.status === "finished" ? store.startNight(t.id, (last?.number ?? 0) + 1) : last;
    if (night.status === "allocating" && !last) log(`tournament ${t.name}: night ${night.number} of ${t.nights} from ${night.baseCommit.slice(0, 7)} (runs tagged ${nightTag(t.name, night.number)})`);
    const outcome = await runNight(
      { ws, tournament: t, settings, slots: o.slots, stopRequested, ...(o.signal ? { signal: o.signal } : {}), log },
      night,
    );
    if (outcome === "stopped") {
      rmSync(stop, { force: true });
      return store.setTournamentStatus(t.id, "stopped");
    }
  }
}
