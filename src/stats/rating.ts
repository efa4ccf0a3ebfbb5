/**
 * Bradley–Terry ratings from head-to-head results, to rank a population of orgs: player i beats
 * player j with probability p_i / (p_i + p_j). Fitted by Hunter's (2004) MM algorithm,
 *
 *     p_i ← W_i / Σ_j n_ij / (p_i + p_j)          (W_i wins of i, n_ij games between i and j)
 *
 * which increases the likelihood at every step. Regularisation: every player also plays `prior`
 * virtual games against a fixed reference player of strength 1 and wins half of them, i.e.
 *
 *     p_i ← (W_i + prior/2) / (Σ_j n_ij / (p_i + p_j) + prior / (p_i + 1))
 *
 * which is the MM step of the model with that extra player (a MAP estimate). Without it an
 * undefeated org's strength runs off to infinity and a winless one's to 0; with it they stay
 * finite and a player with no games sits at 1, the reference. The reference also fixes the
 * scale, so strengths from nights with the same prior are comparable. With prior = 0 the plain
 * maximum-likelihood fit is returned, which exists only when every split of the players into
 * two groups has a win each way (Hunter's condition); that is checked, and the result is
 * scaled to geometric mean 1.
 */
import { checkOptions, StatsError } from "./errors.ts";
import { finiteNumber, integerAtLeast, oneOf } from "./validate.ts";

export interface BradleyTerryOptions {
  /** Virtual games each player plays (and half wins) against a reference of strength 1. Default 1. */
  prior?: number;
  /** Stop when no log-strength moves more than this. Default 1e-12. */
  tolerance?: number;
  /** Default 100,000. */
  maxIterations?: number;
}

export interface Rating {
  name: string;
  /** 1 for the strongest; equal strengths share a rank. */
  rank: number;
  /** p_i: the odds of beating the reference player. */
  strength: number;
  /** ln p_i (an Elo difference is 400 / ln 10 times a difference of these). */
  logStrength: number;
  wins: number;
  games: number;
}

export interface BradleyTerryResult {
  /** Strongest first. */
  ratings: Rating[];
  iterations: number;
  /** False when maxIterations ran out before the tolerance was met. */
  converged: boolean;
  prior: number;
}

const KNOWN = ["prior", "tolerance", "maxIterations"];

/** Ratings from wins[i][j] = games player i won against player j (halves for draws are fine). */
export function bradleyTerry(
  players: readonly string[],
  wins: readonly (readonly number[])[],
  options: BradleyTerryOptions = {},
): BradleyTerryResult {
  const where = "bradleyTerry";
  checkOptions(where, options, KNOWN);
  const prior = finiteNumber(where, "prior", options.prior, 1, "non-negative");
  const tolerance = finiteNumber(where, "tolerance", options.tolerance, 1e-12, "positive");
  const maxIterations = integerAtLeast(where, "maxIterations", options.maxIterations, 1, 100_000);
  const n = checkPlayers(where, players);
  checkWins(where, wins, n);

  const W = players.map((_, i) => wins[i]!.reduce((s, v) => s + v, 0));
  const games = players.map((_, i) => players.reduce((s, _p, j) => s + wins[i]![j]! + wins[j]![i]!, 0));
  if (prior === 0) checkConnected(where, players, wins);

  let p = new Array<number>(n).fill(1);
  let iterations = 0;
  let converged = n === 1 && prior === 0; // a lone player is at the reference already
  for (; iterations < maxIterations && !converged; iterations++) {
    const next = p.map((pi, i) => {
      let denominator = prior / (pi + 1);
      for (let j = 0; j < n; j++) {
        const played = wins[i]![j]! + wins[j]![i]!;
        if (j !== i && played > 0) denominator += played / (pi + p[j]!);
      }
      return (W[i]! + prior / 2) / denominator;
    });
    if (prior === 0) {
      const logMean = next.reduce((s, v) => s + Math.log(v), 0) / n;
      for (let i = 0; i < n; i++) next[i] = next[i]! / Math.exp(logMean);
    }
    const moved = next.reduce((m, v, i) => Math.max(m, Math.abs(Math.log(v) - Math.log(p[i]!))), 0);
    p = next;
    converged = moved < tolerance;
  }

  const order = players.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  const ratings: Rating[] = [];
  order.forEach((i, k) => {
    const previous = ratings[k - 1];
    const rank = previous !== undefined && previous.strength === p[i] ? previous.rank : k + 1;
    ratings.push({
      name: players[i]!,
      rank,
      strength: p[i]!,
      logStrength: Math.log(p[i]!),
      wins: W[i]!,
      games: games[i]!,
    });
  });
  return { ratings, iterations, converged, prior };
}

export interface Series {
  name: string;
  /** One result per night (or game), the same nights for every series, in the same order. */
  values: readonly number[];
}

/**
 * Head-to-head win counts from results paired by night: on each night, the org with the better
 * value beats the other (lower is better for val_bpb); a tie is half a win each.
 */
export function headToHead(
  series: readonly Series[],
  better: "lower" | "higher" = "lower",
): { players: string[]; wins: number[][] } {
  const where = "headToHead";
  oneOf(where, "better", better, ["lower", "higher"] as const, "lower");
  const players = series.map((s) => s.name);
  const n = checkPlayers(where, players);
  const nights = series[0]!.values.length;
  for (const s of series) {
    if (!Array.isArray(s.values) || s.values.length !== nights)
      throw new StatsError(
        "STATS_LENGTH_MISMATCH",
        `${where}: ${s.name} has ${s.values?.length} results but ${series[0]!.name} has ${nights}`,
      );
    s.values.forEach((v, k) => {
      if (!Number.isFinite(v)) throw new StatsError("STATS_NOT_FINITE", `${where}: ${s.name}[${k}] is ${v}`);
    });
  }
  const wins = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let k = 0; k < nights; k++)
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const a = series[i]!.values[k]!;
        const b = series[j]!.values[k]!;
        if (a === b) {
          wins[i]![j]! += 0.5;
          wins[j]![i]! += 0.5;
        } else if (a < b === (better === "lower")) wins[i]![j]! += 1;
        else wins[j]![i]! += 1;
      }
  return { players, wins };
}

function checkPlayers(where: string, players: readonly string[]): number {
  if (!Array.isArray(players) || players.length === 0) throw new StatsError("STATS_EMPTY", `${where}: no players`);
  const seen = new Set<string>();
  for (const p of players) {
    if (typeof p !== "string" || p === "")
      throw new StatsError("STATS_INVALID_ARGUMENT", `${where}: player names must be non-empty strings`);
    if (seen.has(p)) throw new StatsError("STATS_INVALID_ARGUMENT", `${where}: player '${p}' appears twice`);
    seen.add(p);
  }
  return players.length;
}

function checkWins(where: string, wins: readonly (readonly number[])[], n: number): void {
  if (!Array.isArray(wins) || wins.length !== n || wins.some((row) => !Array.isArray(row) || row.length !== n))
    throw new StatsError(
      "STATS_INVALID_ARGUMENT",
      `${where}: wins must be a ${n} × ${n} matrix, one row and column per player`,
    );
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const v = wins[i]![j]!;
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
        throw new StatsError("STATS_INVALID_ARGUMENT", `${where}: wins[${i}][${j}] = ${String(v)} is not a count ≥ 0`);
      if (i === j && v !== 0)
        throw new StatsError(
          "STATS_INVALID_ARGUMENT",
          `${where}: wins[${i}][${i}] must be 0 (a player does not play itself)`,
        );
    }
}

/** Hunter's condition for the unregularised fit: the "beat" graph is strongly connected. */
function checkConnected(where: string, players: readonly string[], wins: readonly (readonly number[])[]): void {
  const n = players.length;
  const reach = (forward: boolean): boolean[] => {
    const seen = new Array<boolean>(n).fill(false);
    const stack = [0];
    seen[0] = true;
    while (stack.length > 0) {
      const i = stack.pop()!;
      for (let j = 0; j < n; j++) {
        const edge = forward ? wins[i]![j]! > 0 : wins[j]![i]! > 0;
        if (edge && !seen[j]) {
          seen[j] = true;
          stack.push(j);
        }
      }
    }
    return seen;
  };
  const out = reach(true);
  const back = reach(false);
  const stuck = players.find((_, i) => !out[i] || !back[i]);
  if (stuck !== undefined && n > 1)
    throw new StatsError(
      "STATS_INVALID_ARGUMENT",
      `${where}: with prior 0 the ratings are infinite ('${stuck}' and ${players[0]} are not linked by wins both ways); use prior > 0`,
    );
}
