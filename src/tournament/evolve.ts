/**
 * Evolution after a night: the best-ranked orgs breed one child each (the builtin
 * meta-mutator), the worst-ranked retire, so the population size holds. Children are drawn
 * deterministically from the tournament's evolution seed, the night and the draw, so that a
 * breeding killed before it was recorded is redrawn identically on resume. A child whose
 * strategy (normalized) or program.md some org in the store already has is refused and redrawn.
 */
import { createHash } from "node:crypto";
import type { NewOrg, NightResult, Org } from "../store/index.ts";
import { TournamentError } from "./errors.ts";
import { mutateProgram, strategyKey } from "./mutate.ts";
import type { TournamentSettings } from "./settings.ts";

export interface EvolutionPlan {
  children: NewOrg[];
  retire: number[];
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** The name of a child: its root's name, then -g<generation>n<night><letter>, unique in the store. */
function childName(parent: Org, generation: number, night: number, taken: Set<string>): string {
  const root = parent.name.replace(/-g\d+n\d+[a-z]*$/, "");
  for (let i = 0; ; i++) {
    const suffix = i < 26 ? String.fromCharCode(97 + i) : `z${i}`;
    const name = `${root}-g${generation}n${night}${suffix}`;
    if (!taken.has(name)) return name;
  }
}

export function planEvolution(
  tournament: string,
  night: number,
  ranked: readonly NightResult[],
  orgs: readonly Org[],
  settings: TournamentSettings,
): EvolutionPlan {
  const byId = new Map(orgs.map((o) => [o.id, o]));
  const n = ranked.length;
  const breed = Math.min(settings.breed, Math.max(0, n - 1));
  const retire = Math.min(settings.retire, n - breed);
  const breeders = ranked.slice(0, breed).map((r) => byId.get(r.orgId)!);
  const retirees = ranked.slice(n - retire).map((r) => r.orgId);

  const keys = new Set(orgs.map((o) => strategyKey(o.programMd)));
  const hashes = new Set(orgs.map((o) => o.programMdHash));
  const names = new Set(orgs.map((o) => o.name));
  const children: NewOrg[] = [];
  for (const [k, parent] of breeders.entries()) {
    const generation = parent.generation + 1;
    const name = childName(parent, generation, night, names);
    const lineage = `\`${name}\`, generation ${generation}, bred by the builtin meta-mutator from \`${parent.name}\` after night ${night} of tournament ${tournament}.`;
    let child: NewOrg | null = null;
    for (let draw = 0; draw < settings.meta.maxRedraws && child === null; draw++) {
      const seed = (settings.evolutionSeed * 1_000_003 + night * 10_007 + k * 101 + draw) % 2 ** 31;
      const m = mutateProgram(parent.programMd, seed, settings.meta, lineage);
      if (keys.has(m.key) || hashes.has(sha(m.programMd))) continue; // a near-duplicate: redraw
      keys.add(m.key);
      hashes.add(sha(m.programMd));
      child = { name, programMd: m.programMd, parentId: parent.id, generation, mutationNote: `night ${night}, draw ${draw}: ${m.note}` };
    }
    if (!child) throw new TournamentError("TOURNAMENT_ORGS", `every draw from ${parent.name} was a near-duplicate of an existing org (${settings.meta.maxRedraws} draws): widen the meta settings`);
    names.add(name);
    children.push(child);
  }
  return { children, retire: retirees };
}
