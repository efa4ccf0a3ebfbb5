/**
 * Evolution after a night: the best-ranked orgs breed one child each, the worst-ranked retire,
 * so the population size holds.
 *
 * planEvolution (sync): the builtin meta-mutator. Children are drawn deterministically from the
 * tournament's evolution seed, the night and the draw, so that a breeding killed before it was
 * recorded is redrawn identically on resume. A child whose strategy (normalized) or program.md
 * some org in the store already has is refused and redrawn.
 *
 * breedNight (async): the same selection, bred by the meta-agent settings.meta names. For an
 * LLM meta-agent (src/agents/meta), each winner's child is the LLM's rewrite of its program.md,
 * asked from the parent's program.md, its night (results.tsv) and the leaderboard, under the
 * tournament's current meta prompt (store table meta_prompts). A rewrite is accepted only if it
 * keeps a parseable strategy block that passes checkBuiltinSetup against the champion's train.ts
 * (builtin runs still work) and is no near-duplicate (the builtin check); else the LLM is asked
 * again with the reasons, up to meta.maxAttempts, and then the builtin mutator breeds the child,
 * which its mutation note says. With probability meta.hyperMutationRate (drawn from the seed and
 * the night) the meta prompt is first rewritten by the LLM and stored with its lineage: at most
 * one per night, reused on resume. Every LLM answer is one agent_calls row (purpose "meta", no
 * run). Nothing is recorded of the children here: night.ts hands the plan to store.evolveNight.
 */
import { createHash } from "node:crypto";
import { checkBuiltinSetup } from "../agents/builtin/index.ts";
import { readRecipeConstants } from "../agents/builtin/recipe.ts";
import { AgentError } from "../agents/llm/errors.ts";
import type { MetaAgent, MetaAnswer } from "../agents/meta/agent.ts";
import { DEFAULT_META_PROMPT, HYPER_MUTATION_PROMPT, type LeaderboardRow, breedingMessage, hyperMutationMessage, programMdTooLong } from "../agents/meta/prompt.ts";
import { parseStrategy } from "../agents/strategy.ts";
import { SeededRandom } from "../stats/random.ts";
import type { MetaPrompt, NewOrg, Night, NightResult, Org, Store, Tournament } from "../store/index.ts";
import { TournamentError } from "./errors.ts";
import { mutateProgram, strategyKey, withLineage } from "./mutate.ts";
import type { TournamentSettings } from "./settings.ts";

export interface EvolutionPlan {
  children: NewOrg[];
  retire: number[];
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_HYPER_MUTATION_RATE = 0.2;
const MAX_META_PROMPT_CHARS = 8_000;

/** The name of a child: its root's name, then -g<generation>n<night><letter>, unique in the store. */
function childName(parent: Org, generation: number, night: number, taken: Set<string>): string {
  const root = parent.name.replace(/-g\d+n\d+[a-z]*$/, "");
  for (let i = 0; ; i++) {
    const suffix = i < 26 ? String.fromCharCode(97 + i) : `z${i}`;
    const name = `${root}-g${generation}n${night}${suffix}`;
    if (!taken.has(name)) return name;
  }
}

/** Who breeds and who retires, and what every existing org is compared by. */
function select(ranked: readonly NightResult[], orgs: readonly Org[], settings: TournamentSettings) {
  const byId = new Map(orgs.map((o) => [o.id, o]));
  const n = ranked.length;
  const breed = Math.min(settings.breed, Math.max(0, n - 1));
  const retire = Math.min(settings.retire, n - breed);
  return {
    breeders: ranked.slice(0, breed).map((r) => byId.get(r.orgId)!),
    retire: ranked.slice(n - retire).map((r) => r.orgId),
    taken: {
      keys: new Set(orgs.map((o) => keyOf(o.programMd))),
      hashes: new Set(orgs.map((o) => o.programMdHash)),
      names: new Set(orgs.map((o) => o.name)),
    },
  };
}
type Taken = ReturnType<typeof select>["taken"];

/** strategyKey, or a key of the whole text for a program.md whose block does not parse. */
function keyOf(programMd: string): string {
  try {
    return strategyKey(programMd);
  } catch {
    return `text:${sha(programMd)}`;
  }
}

/** The builtin meta-mutator's child of the k-th breeder (deterministic in seed, night, k). */
function builtinChild(tournament: string, night: number, k: number, parent: Org, name: string, settings: TournamentSettings, taken: Taken, why?: string): NewOrg {
  const generation = parent.generation + 1;
  const lineage = `\`${name}\`, generation ${generation}, bred by the builtin meta-mutator from \`${parent.name}\` after night ${night} of tournament ${tournament}.`;
  for (let draw = 0; draw < settings.meta.maxRedraws; draw++) {
    const seed = (settings.evolutionSeed * 1_000_003 + night * 10_007 + k * 101 + draw) % 2 ** 31;
    const m = mutateProgram(parent.programMd, seed, settings.meta, lineage);
    if (taken.keys.has(m.key) || taken.hashes.has(sha(m.programMd))) continue; // a near-duplicate: redraw
    taken.keys.add(m.key);
    taken.hashes.add(sha(m.programMd));
    return { name, programMd: m.programMd, parentId: parent.id, generation, mutationNote: `night ${night}, ${why ? `${why}; builtin ` : ""}draw ${draw}: ${m.note}` };
  }
  throw new TournamentError("TOURNAMENT_ORGS", `every draw from ${parent.name} was a near-duplicate of an existing org (${settings.meta.maxRedraws} draws): widen the meta settings`);
}

export function planEvolution(
  tournament: string,
  night: number,
  ranked: readonly NightResult[],
  orgs: readonly Org[],
  settings: TournamentSettings,
): EvolutionPlan {
  const { breeders, retire, taken } = select(ranked, orgs, settings);
  const children = breeders.map((parent, k) => {
    const name = childName(parent, parent.generation + 1, night, taken.names);
    taken.names.add(name);
    return builtinChild(tournament, night, k, parent, name, settings, taken);
  });
  return { children, retire };
}

// ---- the LLM meta-agent ---------------------------------------------------------------------

export interface BreedingInput {
  store: Store;
  tournament: Tournament;
  /** The night whose results are recorded (status "evolving"). */
  night: Night;
  settings: TournamentSettings;
  /** The recipe the children will run on (the champion's train.ts after this night). */
  trainTs: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** The meta-agent (default: built from settings.meta, key from the environment). */
  metaAgent?: MetaAgent;
}

/**
 * Builds the LLM meta-agent settings.meta names (null: builtin); throws AgentError without a key.
 * Its module, and the SDKs, load only then.
 */
export async function metaAgentFor(settings: TournamentSettings): Promise<MetaAgent | null> {
  const m = settings.meta;
  if (m.mutator === "builtin") return null;
  const { createMetaAgent } = await import("../agents/meta/agent.ts");
  return createMetaAgent(m.mutator, { ...(m.model ? { model: m.model } : {}), ...(m.baseURL ? { baseURL: m.baseURL } : {}) });
}

/** The tournament's current meta prompt, storing the first one when there is none yet. */
export function currentMetaPrompt(store: Store, tournament: Tournament, settings: TournamentSettings): MetaPrompt {
  return store.listMetaPrompts(tournament.id).at(-1) ?? store.recordMetaPrompt({ tournamentId: tournament.id, prompt: settings.meta.prompt ?? DEFAULT_META_PROMPT, note: settings.meta.prompt ? "the first meta prompt, from the settings" : "the default meta prompt" });
}

export async function breedNight(input: BreedingInput): Promise<EvolutionPlan> {
  const { store, tournament: t, night, settings } = input;
  const ranked = store.listNightResults(night.id);
  const orgs = store.listOrgs();
  if (settings.meta.mutator === "builtin") return planEvolution(t.name, night.number, ranked, orgs, settings);
  const { breeders, retire, taken } = select(ranked, orgs, settings);
  // After the last night no child joins (store.evolveNight): nothing to pay an LLM for.
  if (night.number >= t.nights || breeders.length === 0) return { children: [], retire };
  const log = input.log ?? (() => undefined);
  let agent: MetaAgent | null = input.metaAgent ?? (await metaAgentFor(settings));
  const byId = new Map(orgs.map((o) => [o.id, o]));
  const leaderboard: LeaderboardRow[] = ranked.map((r) => ({
    rank: r.rank,
    org: byId.get(r.orgId)?.name ?? String(r.orgId),
    verdict: r.verdict,
    claimedGain: r.claimedGain,
    verifiedGain: r.verifiedGain,
    experiments: r.experiments,
    score: r.score,
  }));
  const record = (a: MetaAnswer, refusal?: string) =>
    store.recordAgentCall({
      purpose: "meta",
      model: a.usage.model,
      calls: a.usage.calls,
      inputTokens: a.usage.inputTokens,
      outputTokens: a.usage.outputTokens,
      cacheReadTokens: a.usage.cacheReadTokens,
      cacheWriteTokens: a.usage.cacheWriteTokens,
      costUsd: a.usage.costUsd,
      ok: refusal === undefined,
      ...(refusal !== undefined ? { error: refusal } : {}),
      durationMs: a.usage.durationMs,
    });
  /** An AgentError other than an abort: this agent cannot work; the builtin mutator takes over. */
  const disable = (err: unknown): string => {
    if (!(err instanceof AgentError) || err.code === "AGENT_ABORTED") throw err;
    log(`night ${night.number}: the meta-agent cannot work (${err.message}); the builtin meta-mutator breeds instead`);
    agent = null;
    return err.message;
  };

  let prompt = currentMetaPrompt(store, t, settings);
  const hyperRate = settings.meta.hyperMutationRate ?? DEFAULT_HYPER_MUTATION_RATE;
  const draw = new SeededRandom((settings.evolutionSeed * 7_919 + night.number * 104_729 + 13) % 2 ** 31).uniform();
  if (agent && prompt.night !== night.number && draw < hyperRate) {
    try {
      const a = await agent.ask({ tool: "submit_prompt", system: HYPER_MUTATION_PROMPT, user: hyperMutationMessage(prompt.prompt, night.number, leaderboard), ...(input.signal ? { signal: input.signal } : {}) });
      const text = a.ok ? a.text.trim() : "";
      const refusal = !a.ok ? a.error : text === prompt.prompt.trim() ? "the same prompt" : text.length > MAX_META_PROMPT_CHARS ? `longer than ${MAX_META_PROMPT_CHARS} characters` : undefined;
      record(a, refusal);
      if (refusal === undefined && a.ok) {
        prompt = store.recordMetaPrompt({ tournamentId: t.id, parentId: prompt.id, night: night.number, prompt: text, note: a.note || "hyper-mutation", model: a.usage.model });
        log(`night ${night.number}: meta prompt #${prompt.id} (generation ${prompt.generation}) rewritten by the meta-agent: ${a.note}`);
      } else log(`night ${night.number}: the meta prompt's rewrite was refused (${refusal}); meta prompt #${prompt.id} stays`);
    } catch (err) {
      disable(err);
    }
  }

  const knobNames = [...readRecipeConstants(input.trainTs).keys()];
  const maxAttempts = settings.meta.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const children: NewOrg[] = [];
  for (const [k, parent] of breeders.entries()) {
    const generation = parent.generation + 1;
    const name = childName(parent, generation, night.number, taken.names);
    taken.names.add(name);
    const mine = ranked.find((r) => r.orgId === parent.id);
    const facts = { parentName: parent.name, parentProgramMd: parent.programMd, night: night.number, resultsTsv: mine?.runId ? store.resultsTsv(mine.runId) : "", leaderboard, knobNames };
    const refused: string[] = [];
    let child: NewOrg | null = null;
    let unusable: string | undefined;
    for (let attempt = 1; attempt <= maxAttempts && child === null && agent !== null; attempt++) {
      let a: MetaAnswer;
      try {
        a = await agent.ask({ tool: "submit_program", system: prompt.prompt, user: breedingMessage(facts, refused), ...(input.signal ? { signal: input.signal } : {}) });
      } catch (err) {
        unusable = disable(err);
        break;
      }
      const who = `${agent.provider} meta-agent (${a.usage.model}, meta prompt #${prompt.id})`;
      const lineage = `\`${name}\`, generation ${generation}, bred by the ${who} from \`${parent.name}\` after night ${night.number} of tournament ${t.name}.`;
      const checked = a.ok ? checkChild(a.text, lineage, input.trainTs, taken) : { error: a.error };
      record(a, "error" in checked ? `answer refused: ${checked.error}` : undefined);
      if ("error" in checked) {
        refused.push(checked.error);
        log(`night ${night.number}: ${parent.name}'s child, answer ${attempt} of ${maxAttempts} refused: ${checked.error}`);
        continue;
      }
      taken.keys.add(checked.key);
      taken.hashes.add(sha(checked.programMd));
      child = { name, programMd: checked.programMd, parentId: parent.id, generation, mutationNote: `night ${night.number}, ${who}, answer ${attempt}: ${a.ok ? a.note || "(no note)" : ""}` };
    }
    if (!child) {
      const why = unusable
        ? `the meta-agent could not work (${unusable}), bred by the builtin meta-mutator instead`
        : agent === null && refused.length === 0
          ? "the meta-agent could not work, bred by the builtin meta-mutator instead"
          : `the meta-agent's ${refused.length} answers were refused (last: ${refused.at(-1)}), fell back to the builtin meta-mutator`;
      child = builtinChild(t.name, night.number, k, parent, name, settings, taken, why);
    }
    children.push(child);
  }
  return { children, retire };
}

/** A rewrite as the child's program.md, or why it is refused (one line). */
function checkChild(text: string, lineage: string, trainTs: string, taken: Taken): { programMd: string; key: string } | { error: string } {
  const tooLong = programMdTooLong(text);
  if (tooLong) return { error: tooLong };
  const programMd = withLineage(text.replace(/\s+$/, "") + "\n", lineage);
  let ok: boolean;
  try {
    ok = parseStrategy(programMd) !== null;
  } catch (err) {
    return { error: `its nightshift-strategy block does not parse: ${firstLine(err)}` };
  }
  if (!ok) return { error: "it has no nightshift-strategy block" };
  try {
    checkBuiltinSetup(programMd, trainTs);
  } catch (err) {
    return { error: `its strategy block does not work on the champion's train.ts: ${firstLine(err)}` };
  }
  const key = strategyKey(programMd);
  if (taken.keys.has(key)) return { error: "a near-duplicate: an existing org has the same normalized strategy block" };
  if (taken.hashes.has(sha(programMd))) return { error: "a near-duplicate: an existing org has the same program.md" };
  return { programMd, key };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split("\n")[0]!.trim();
  return line.length > 240 ? `${line.slice(0, 240)}…` : line;
}
