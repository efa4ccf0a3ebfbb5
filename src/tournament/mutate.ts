/**
 * The builtin meta-mutator: breeds a child org from a parent's program.md by perturbing its
 * strategy block (step size, exploration rate, maxChanges, one knob's range), seeded and
 * deterministic, and by adding a lineage line to the prose. It never touches the house rules.
 * strategyKey gives the normalized form two program.md variants are compared by: children
 * whose key (or whole text) an existing org already has are near-duplicates and are refused.
 */
import { createHash } from "node:crypto";
import { type KnobSpec, STRATEGY_INFO_STRING, type Strategy, parseStrategy } from "../agents/strategy.ts";
import { SeededRandom } from "../stats/random.ts";
import { TournamentError } from "./errors.ts";
import type { MetaSettings } from "./settings.ts";

export interface Mutation {
  programMd: string;
  note: string;
  key: string;
}

const round4 = (v: number) => Number(v.toPrecision(4));
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The strategy in a canonical form: knobs by name, numbers to 4 significant digits. */
export function strategyKey(programMd: string): string {
  const s = parseStrategy(programMd);
  if (!s) return `text:${createHash("sha256").update(programMd.replace(/\s+/g, " ").trim()).digest("hex")}`;
  const knobs = [...s.knobs]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((k) => ({ ...k, ...(k.min !== undefined ? { min: round4(k.min) } : {}), ...(k.max !== undefined ? { max: round4(k.max) } : {}) }));
  return JSON.stringify({
    optimizer: s.optimizer,
    explorationRate: round4(s.explorationRate),
    simplicityThreshold: round4(s.simplicityThreshold),
    stepSize: round4(s.stepSize),
    populationSize: s.populationSize ?? null,
    maxChanges: s.maxChanges ?? null,
    knobs,
  });
}

/** One draw: the parent's strategy perturbed by `seed`. */
export function mutateProgram(parentMd: string, seed: number, meta: MetaSettings, lineage: string): Mutation {
  const parent = parseStrategy(parentMd);
  if (!parent) throw new TournamentError("TOURNAMENT_ORGS", "the builtin meta-mutator needs a nightshift-strategy block in the parent's program.md");
  const rng = new SeededRandom(seed);
  const s: Strategy = { ...parent, knobs: parent.knobs.map((k) => ({ ...k })) };
  const notes: string[] = [];

  const step = round4(clamp(s.stepSize * Math.exp(meta.stepSizeSigma * rng.normal()), 0.02, 1));
  if (step !== s.stepSize) notes.push(`stepSize ${s.stepSize} → ${step}`);
  s.stepSize = step;
  const explore = round4(clamp(s.explorationRate + meta.explorationSigma * rng.normal(), 0, 0.6));
  if (explore !== s.explorationRate) notes.push(`explorationRate ${s.explorationRate} → ${explore}`);
  s.explorationRate = explore;
  if (rng.uniform() < meta.maxChangesProbability) {
    const before = s.maxChanges ?? s.knobs.length;
    const after = clamp(before + (rng.uniform() < 0.5 ? -1 : 1), 1, s.knobs.length);
    if (after !== before) notes.push(`maxChanges ${before} → ${after}`);
    s.maxChanges = after;
  }
  const numeric = s.knobs.filter((k) => k.kind !== "choice");
  if (numeric.length > 0) {
    const k = numeric[rng.integer(numeric.length)]!;
    const widened = widen(k, rng.uniform() * meta.rangeWiden, rng.uniform() < 0.5 ? "min" : "max");
    if (widened) notes.push(widened);
  }
  const programMd = withLineage(replaceBlock(parentMd, s), lineage);
  const note = notes.length > 0 ? notes.join("; ") : "no change drawn";
  return { programMd, note, key: strategyKey(programMd) };
}

/** Widens one side of a knob's range (widening keeps every value the parent could reach). */
function widen(k: KnobSpec, fraction: number, side: "min" | "max"): string | null {
  const min = k.min!;
  const max = k.max!;
  let next: number;
  if (k.kind === "log") {
    const width = Math.log(max / min);
    next = side === "min" ? min * Math.exp(-fraction * width) : max * Math.exp(fraction * width);
  } else {
    const width = max - min;
    next = side === "min" ? min - fraction * width : max + fraction * width;
    // Ratios, betas and fractions of [0, 1] stay valid: a linear knob that starts at ≥ 0 stays ≥ 0.
    if (side === "min" && min >= 0) next = Math.max(0, next);
    if (side === "max" && max <= 1 && min >= 0) next = Math.min(max < 1 ? 0.999 : 1, next);
  }
  if (k.kind === "int") next = side === "min" ? Math.floor(next) : Math.ceil(next);
  else next = round4(next);
  if (next === k[side] || (side === "min" ? next >= max : next <= min)) return null;
  const before = k[side];
  k[side] = next;
  return `${k.name} ${side} ${before} → ${next}`;
}

/** The program.md with its strategy block rewritten from `s`. */
export function replaceBlock(programMd: string, s: Strategy): string {
  const fence = new RegExp("(^|\\n)(```+|~~~+)" + STRATEGY_INFO_STRING + "[^\\n]*\\n[\\s\\S]*?\\n\\2[ \\t]*(?=\\n|$)");
  const m = fence.exec(programMd);
  if (!m) throw new TournamentError("TOURNAMENT_ORGS", "no nightshift-strategy block to rewrite");
  const head: Record<string, unknown> = {
    optimizer: s.optimizer,
    explorationRate: s.explorationRate,
    simplicityThreshold: s.simplicityThreshold,
    stepSize: s.stepSize,
    ...(s.populationSize !== undefined ? { populationSize: s.populationSize } : {}),
    ...(s.maxChanges !== undefined ? { maxChanges: s.maxChanges } : {}),
  };
  const lines = Object.entries(head).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  const knobs = s.knobs.map((k) => `    ${JSON.stringify(k).replace(/,"/g, ', "').replace(/":/g, '": ').replace(/^\{/, "{ ").replace(/\}$/, " }")}`);
  const block = `${m[2]}${STRATEGY_INFO_STRING}\n{\n${lines.join("\n")}\n  "knobs": [\n${knobs.join(",\n")}\n  ]\n}\n${m[2]}`;
  return programMd.slice(0, m.index + m[1]!.length) + block + programMd.slice(m.index + m[0].length);
}

const LINEAGE_MARK = "> Tournament lineage:";

/** The prose says where the org came from: one marked line under the title, replaced on each breeding. */
export function withLineage(programMd: string, lineage: string): string {
  const line = `${LINEAGE_MARK} ${lineage}`;
  const lines = programMd.split("\n");
  const at = lines.findIndex((l) => l.startsWith(LINEAGE_MARK));
  if (at >= 0) lines[at] = line;
  else {
    const title = lines.findIndex((l) => l.startsWith("# "));
    lines.splice(title + 1, 0, "", line);
  }
  return lines.join("\n");
}
