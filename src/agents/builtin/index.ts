/**
 * The builtin agent: offline, free, deterministic for a seed. It searches the recipe's numeric
 * and choice knobs (the top-level `export const` lines of train.ts) that the org's program.md
 * strategy block names, with CMA-ES or random search, and proposes one experiment at a time as
 * search/replace edits of those constant lines. It never edits anything else in train.ts and
 * cannot repair a crash (it says so, and the loop records the crash and moves on).
 *
 *   const agent = new BuiltinAgent();
 *   checkBuiltinSetup(programMd, trainTs);            // throws at startup what propose would throw
 *   const { proposal } = await agent.propose({ programMd, trainTs, labReadme, history, seed });
 *   // proposal.description: "MATRIX_LR 0.04 -> 0.0512; WARMDOWN_RATIO 0.5 -> 0.41"
 *
 * Its memory is the run's history: every proposal replays the past experiments' descriptions
 * and val_bpb (see history.ts), so it needs no state of its own and survives any restart. The
 * CMA-ES mean starts at the knob values the replayed history started from; kept experiments
 * move the base the edits apply to (train.ts as it stands). With probability explorationRate
 * a proposal is a uniform sample of the knob ranges instead. The random source mixes the seed
 * with the history's length, so the same seed never repeats a proposal within a run; the loop
 * should still pass each proposal its own seed, since two proposals prepared over the same
 * history (pipelining) would otherwise coincide.
 *
 * Errors: StrategyError (a bad strategy block), BuiltinAgentError (no block; a knob train.ts
 * lacks or whose kind does not fit), thrown from propose because no retry can fix them.
 */
import { applyEdits, EDITABLE_FILE } from "../edits.ts";
import { parseStrategy, type Strategy } from "../strategy.ts";
import type { Agent, AgentContext, AgentUsage, Proposal, ProposalResult, SearchReplaceEdit } from "../types.ts";
import { cmaInit, cmaParameters, cmaSample, cmaUpdate, defaultPopulation, type CmaState } from "./cmaes.ts";
import { formatChanges, type KnobChange } from "./description.ts";
import { BuiltinAgentError } from "./errors.ts";
import { replayHistory, type Observation } from "./history.ts";
import { fromUnit, knobValue, resolveKnobs, toUnit, withElement, type Knob, type KnobValue } from "./knobs.ts";
import { readRecipeConstants, rewriteConstant, type RecipeConstant } from "./recipe.ts";
import { SeededRandom } from "./random.ts";

export { BuiltinAgentError, type BuiltinAgentErrorCode } from "./errors.ts";
export { formatChanges, parseChanges, type KnobChange } from "./description.ts";
export { readRecipeConstants, type RecipeConstant } from "./recipe.ts";
export type { Knob, KnobValue } from "./knobs.ts";

/** Draws before a proposal that changes nothing gives up on the optimizer for a uniform sample. */
const MAX_DRAWS = 50;

export class BuiltinAgent implements Agent {
  readonly name = "builtin";

  async propose(context: AgentContext): Promise<ProposalResult> {
    context.signal?.throwIfAborted();
    const usage: AgentUsage = { model: "builtin", calls: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 };
    if (context.crashLog !== undefined)
      return {
        proposal: null,
        usage,
        attempts: 1,
        error: "the builtin agent only changes knob values and cannot repair a crash; the crash stays recorded and teaches the search",
      };
    const setup = resolveSetup(context.programMd, context.trainTs);
    const proposal = proposeChanges(setup, context);
    return { proposal, usage, attempts: 1 };
  }
}

interface Setup {
  strategy: Strategy;
  constants: Map<string, RecipeConstant>;
  knobs: Knob[];
}

function resolveSetup(programMd: string, trainTs: string): Setup {
  const strategy = parseStrategy(programMd);
  if (!strategy)
    throw new BuiltinAgentError(
      "NO_STRATEGY",
      "program.md has no ```nightshift-strategy block: the builtin agent needs one to know which knobs of train.ts to search",
    );
  const constants = readRecipeConstants(trainTs);
  return { strategy, constants, knobs: resolveKnobs(strategy, constants) };
}

/**
 * Throws the setup errors propose would throw (no strategy block, a knob train.ts lacks), so a
 * run can fail at startup instead of at its first proposal; returns the knobs' current values.
 */
export function checkBuiltinSetup(programMd: string, trainTs: string): { name: string; value: KnobValue }[] {
  const { knobs, constants } = resolveSetup(programMd, trainTs);
  return knobs.map((k) => ({ name: k.spec.name, value: knobValue(k, constants) }));
}

function proposeChanges(setup: Setup, context: AgentContext): Proposal {
  const { strategy, knobs, constants } = setup;
  const current = new Map(knobs.map((k) => [k.spec.name, knobValue(k, constants)]));
  const currentUnit = knobs.map((k) => toUnit(k.spec, current.get(k.spec.name)!));
  const replay = replayHistory(context.history, current);
  const rng = new SeededRandom(context.seed, context.history.length);

  const explore = strategy.optimizer === "random" || rng.uniform() < strategy.explorationRate;
  const search = explore ? null : searchState(strategy, knobs, replay.observations, replay.start);
  const draw = (uniform: boolean): number[] =>
    uniform || !search ? knobs.map(() => rng.uniform()) : cmaSample(search, () => rng.normal());

  let changes: KnobChange[] = [];
  for (let attempt = 0; attempt < 2 * MAX_DRAWS && changes.length === 0; attempt++) {
    const unit = draw(attempt >= MAX_DRAWS);
    changes = selectChanges(knobs, unit, current, currentUnit, strategy.maxChanges);
  }
  if (changes.length === 0)
    throw new BuiltinAgentError("NO_CHANGE", `no draw in ${2 * MAX_DRAWS} changed any knob; widen the knobs' ranges`);

  const edits = buildEdits(knobs, constants, changes);
  // The edits must apply exactly as the loop will apply them; a failure here is a bug of ours.
  applyEdits(context.trainTs, edits);
  const hypothesis = search
    ? `CMA-ES generation ${search.generation + 1} (σ ${search.sigma.toFixed(3)} in normalized knob space, ` +
      `${replay.observations.length} runs observed${bestNote(replay.observations)}): a sample of the search distribution ` +
      "fitted to the best runs so far should lower val_bpb"
    : strategy.optimizer === "random"
      ? "random search: a uniform sample of the knob ranges; one point of the map of val_bpb over them"
      : `exploration (rate ${strategy.explorationRate}): a uniform sample of the knob ranges, so the search does not settle in one basin`;
  return { edits, description: formatChanges(changes), hypothesis };
}

/** The CMA-ES state after replaying every complete generation of the observations. */
function searchState(strategy: Strategy, knobs: Knob[], observations: Observation[], start: Map<string, KnobValue>): CmaState {
  const d = knobs.length;
  const params = cmaParameters(d, strategy.populationSize ?? defaultPopulation(d));
  let state = cmaInit(knobs.map((k) => toUnit(k.spec, start.get(k.spec.name)!)), strategy.stepSize);
  for (let g = 0; (g + 1) * params.lambda <= observations.length; g++) {
    const generation = observations.slice(g * params.lambda, (g + 1) * params.lambda);
    const points = generation.map((o) => knobs.map((k) => toUnit(k.spec, o.values.get(k.spec.name)!)));
    const fitness = generation.map((o) => o.valBpb ?? Infinity);
    state = cmaUpdate(state, params, points, fitness);
  }
  return state;
}

/** The knobs whose drawn value differs from train.ts's, at most `maxChanges` of them (the largest moves). */
function selectChanges(
  knobs: Knob[],
  unit: number[],
  current: Map<string, KnobValue>,
  currentUnit: number[],
  maxChanges: number | undefined,
): KnobChange[] {
  const moved = knobs
    .map((k, i) => ({
      name: k.spec.name,
      i,
      from: current.get(k.spec.name)!,
      to: fromUnit(k.spec, unit[i]!),
      distance: Math.abs(unit[i]! - currentUnit[i]!),
    }))
    .filter((c) => c.to !== c.from);
  const kept =
    maxChanges !== undefined && moved.length > maxChanges
      ? [...moved].sort((a, b) => b.distance - a.distance || a.i - b.i).slice(0, maxChanges)
      : moved;
  return kept.sort((a, b) => a.i - b.i).map(({ name, from, to }) => ({ name, from, to }));
}

/** One edit per changed constant line (two elements of one list or object share its line). */
function buildEdits(knobs: Knob[], constants: Map<string, RecipeConstant>, changes: KnobChange[]): SearchReplaceEdit[] {
  const updated = new Map<string, RecipeConstant["value"]>();
  for (const change of changes) {
    const knob = knobs.find((k) => k.spec.name === change.name)!;
    const constant = constants.get(knob.constant)!;
    updated.set(knob.constant, withElement(updated.get(knob.constant) ?? constant.value, knob.element, change.to));
  }
  return [...updated].map(([name, value]) => {
    const constant = constants.get(name)!;
    return { file: EDITABLE_FILE, search: constant.text, replace: rewriteConstant(constant, value) };
  });
}

function bestNote(observations: Observation[]): string {
  const values = observations.map((o) => o.valBpb).filter((v): v is number => v !== null);
  return values.length > 0 ? `, best val_bpb ${Math.min(...values).toFixed(6)}` : "";
}
