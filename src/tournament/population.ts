/**
 * The seed population: every orgs/<name>/program.md of a directory (plus the top-level
 * program.md, the "default" org, when the directory is the project's own orgs/), loaded like
 * `--org` loads one, and registered in the store (an org whose name is taken by a different
 * program.md is refused: rename the directory).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type OrgSource, loadOrg } from "../workspace/org.ts";
import type { Org, Store } from "../store/index.ts";
import { TournamentError } from "./errors.ts";

export function loadPopulation(dir: string, extra: string[] = []): OrgSource[] {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new TournamentError("TOURNAMENT_ORGS", `--orgs ${dir}: no such directory`);
  const names = readdirSync(root)
    .filter((n) => existsSync(join(root, n, "program.md")))
    .sort();
  const orgs = [...extra.map((p) => loadOrg(p)), ...names.map((n) => loadOrg(join(root, n)))];
  if (orgs.length === 0) throw new TournamentError("TOURNAMENT_ORGS", `--orgs ${dir}: no orgs there (each org is a directory holding a program.md)`);
  return orgs;
}

export function registerOrgs(store: Store, sources: readonly OrgSource[]): Org[] {
  return sources.map((s) => {
    const known = store.getOrgByName(s.name);
    if (known && known.programMd !== s.programMd)
      throw new TournamentError("TOURNAMENT_ORGS", `org '${s.name}' already exists in this workspace with a different program.md: rename its directory or use another --workspace`);
    return known ?? store.createOrg({ name: s.name, programMd: s.programMd, mutationNote: "seed org, written by hand" });
  });
}
