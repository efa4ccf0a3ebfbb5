/**
 * A tournament's settings: stored with it (so `resume` continues under the same rules whatever
 * flags it is given) and checked at the boundary. The meta-mutator's settings are data here
 * too; an LLM meta-agent's prompt starts here and its later versions are stored with lineage.
 */
import { type LauncherSettings, launcherFromStore } from "../launcher/index.ts";
import { checkConfirmSeeds } from "../verification/confirm.ts";
import type { Profile } from "../harness/constants.ts";
import { SANDBOX_MODES, type SandboxMode } from "../harness/runner/index.ts";
import type { JsonValue } from "../store/index.ts";
import { TournamentError } from "./errors.ts";

import type { AgentKind, LlmLimits } from "../agents/factory.ts";

export const ALLOCATION_POLICIES = ["halving", "round-robin", "bandit"] as const;
export type AllocationPolicy = (typeof ALLOCATION_POLICIES)[number];

export const META_AGENTS = ["builtin", "anthropic", "openai"] as const;
export type MetaAgentKind = (typeof META_AGENTS)[number];

/**
 * Who breeds the winners, and how. "builtin" perturbs a winner's strategy block (the numbers
 * below); an LLM meta-agent rewrites its program.md (src/agents/meta), falling back to the
 * builtin perturbation when no acceptable answer comes within `maxAttempts`.
 */
export interface MetaSettings {
  mutator: MetaAgentKind;
  /** The meta-agent's model and server (LLM mutators); the key comes from the environment. */
  model?: string;
  baseURL?: string;
  /** Answers asked of the LLM per child before the builtin mutator breeds it instead (default 3). */
  maxAttempts?: number;
  /** Probability that a night's breeding first rewrites the meta prompt (hyper-mutation; default 0.2). */
  hyperMutationRate?: number;
  /** The first meta prompt (default DEFAULT_META_PROMPT); later versions live in the store. */
  prompt?: string;
  /** stepSize is multiplied by exp(N(0, σ)). */
  stepSizeSigma: number;
  /** explorationRate moves by N(0, σ), clamped to [0, 0.6]. */
  explorationSigma: number;
  /** Probability that maxChanges moves by ±1. */
  maxChangesProbability: number;
  /** One knob's range widens on one side by up to this fraction of its width (log knobs: of log-width). */
  rangeWiden: number;
  /** Draws before a near-duplicate child is given up. */
  maxRedraws: number;
}

export interface TournamentSettings {
  profile: Profile;
  timeBudget: number;
  datasetDir: string;
  /** The night's experiment budget over all orgs (each grant is at least 2 in round 0: baseline + 1). */
  experimentsPerNight: number;
  allocation: AllocationPolicy;
  /** The harness seed of every experiment of every run (gains are comparable across orgs). */
  seed: number;
  /** Seeds the meta-mutator (children are deterministic given it and the night). */
  evolutionSeed: number;
  devices: string;
  /**
   * Verification of each night's claims. margin: δ_min for every claim (absent: per claim, the
   * org's simplicity threshold or half the seed-noise sd, whichever is larger). championAlpha:
   * the stricter level a real claim's p-value must also pass to move the champion (absent in
   * tournaments started before it: DEFAULT_CHAMPION_ALPHA). confirmSeeds: paired seeds that
   * estimate a real claim's credited gain after the verdict (absent: none, the sequential mean).
   */
  verify: { maxSeeds: number; minSeeds: number; alpha: number; effect: number; margin?: number; championAlpha?: number; confirmSeeds?: number };
  /** Orgs that breed and orgs that retire after each night (equal: the population holds). */
  breed: number;
  retire: number;
  meta: MetaSettings;
  /**
   * Who proposes the orgs' experiments (default builtin); LLM keys come from the environment.
   * limits: the price of a model the pricing table lacks (--price), the prompt-cache switch.
   */
  agent?: { kind: AgentKind; model?: string; baseURL?: string; limits?: Pick<LlmLimits, "pricing" | "promptCache"> };
  /** Agent spending allowed per night over all orgs, USD; allocations stop once it is spent. */
  maxCostPerNight?: number;
  /**
   * Each org's research memory also holds the other orgs' verified results of earlier nights
   * (--shared-memory). Absent: each org remembers only its own lineage's nights, so strategies
   * are compared on their own.
   */
  sharedMemory?: boolean;
  /**
   * Where every train.ts trains, experiments and verification reruns alike: "auto" (in the
   * bubblewrap sandbox when it works here) or "off" (--no-sandbox). Absent (tournaments started
   * before it was stored): "auto".
   */
  sandbox?: SandboxMode;
  /**
   * Where every training runs, experiments and verification reruns alike (--launcher and its
   * --slurm-* flags). Absent (tournaments started before launchers): local child processes.
   */
  launcher?: LauncherSettings;
}

/** A champion moves only on a claim whose p-value also passes this (stricter than a keep's 0.05). */
export const DEFAULT_CHAMPION_ALPHA = 0.01;

export const DEFAULT_META: MetaSettings = {
  mutator: "builtin",
  stepSizeSigma: 0.35,
  explorationSigma: 0.05,
  maxChangesProbability: 0.3,
  rangeWiden: 0.25,
  maxRedraws: 12,
};

export function checkSettings(s: TournamentSettings): void {
  const fail = (m: string): never => {
    throw new TournamentError("TOURNAMENT_SETTINGS", m);
  };
  if (!Number.isInteger(s.experimentsPerNight) || s.experimentsPerNight < 2) fail(`--experiments must be an integer ≥ 2 per night, got ${s.experimentsPerNight}`);
  if (!(s.timeBudget > 0)) fail(`--time-budget must be positive, got ${s.timeBudget}`);
  if (!ALLOCATION_POLICIES.includes(s.allocation)) fail(`--allocation must be one of ${ALLOCATION_POLICIES.join(", ")}, got ${s.allocation}`);
  if (s.maxCostPerNight !== undefined && !(s.maxCostPerNight > 0)) fail(`--max-cost-per-night must be a positive number of US dollars, got ${s.maxCostPerNight}`);
  if (!META_AGENTS.includes(s.meta.mutator)) fail(`--meta-agent must be one of ${META_AGENTS.join(", ")}, got ${s.meta.mutator}`);
  if (s.meta.maxAttempts !== undefined && (!Number.isInteger(s.meta.maxAttempts) || s.meta.maxAttempts < 1)) fail(`the meta-agent's maxAttempts must be an integer ≥ 1, got ${s.meta.maxAttempts}`);
  if (s.meta.hyperMutationRate !== undefined && !(s.meta.hyperMutationRate >= 0 && s.meta.hyperMutationRate <= 1)) fail(`the hyper-mutation rate must be in [0, 1], got ${s.meta.hyperMutationRate}`);
  if (!Number.isInteger(s.verify.maxSeeds) || s.verify.maxSeeds < 2) fail(`verification needs at least 2 seeds, got ${s.verify.maxSeeds}`);
  if (!(s.verify.effect > 0)) fail(`the verification effect must be positive, got ${s.verify.effect}`);
  if (s.verify.margin !== undefined && !(s.verify.margin >= 0)) fail(`--margin must be a gain in val_bpb ≥ 0, got ${s.verify.margin}`);
  const championAlpha = s.verify.championAlpha;
  if (championAlpha !== undefined && !(championAlpha > 0 && championAlpha <= s.verify.alpha))
    fail(`--champion-alpha must be in (0, ${s.verify.alpha}] (no looser than the verification's alpha), got ${championAlpha}`);
  const confirmProblem = s.verify.confirmSeeds === undefined ? null : checkConfirmSeeds(s.verify.confirmSeeds);
  if (confirmProblem) fail(confirmProblem);
  if (s.launcher !== undefined) launcherFromStore(s.launcher); // throws BAD_LAUNCHER_OPTION, naming what is wrong
  if (s.sandbox !== undefined && !SANDBOX_MODES.includes(s.sandbox)) fail(`the sandbox setting must be one of ${SANDBOX_MODES.join(", ")}, got ${String(s.sandbox)}`);
}

export function settingsToJson(s: TournamentSettings): { [key: string]: JsonValue } {
  return JSON.parse(JSON.stringify(s)) as { [key: string]: JsonValue };
}

export function settingsFromJson(json: { [key: string]: JsonValue }): TournamentSettings {
  return json as unknown as TournamentSettings;
}
