/**
 * Boundary checks shared by the statistics functions: every public function validates its
 * values and options here before computing, so that a NaN from a crashed run or a typo in an
 * option name becomes a StatsError with a clear message, never a silently wrong p-value.
 */
import { StatsError } from "./errors.ts";

/** A list of finite numbers with at least `min` entries, copied so later mutation cannot reach us. */
export function finiteSample(where: string, name: string, values: unknown, min: number): number[] {
  if (!Array.isArray(values) && !ArrayBuffer.isView(values))
    throw new StatsError("STATS_INVALID_ARGUMENT", `${where}: ${name} must be an array of numbers`);
  const list = Array.from(values as ArrayLike<unknown>);
  if (list.length === 0 && min > 0) throw new StatsError("STATS_EMPTY", `${where}: ${name} is empty`);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new StatsError("STATS_NOT_FINITE", `${where}: ${name}[${i}] is ${String(v)}, not a finite number`);
  }
  if (list.length < min)
    throw new StatsError(
      "STATS_TOO_FEW_VALUES",
      `${where}: ${name} has ${list.length} value${list.length === 1 ? "" : "s"}, at least ${min} needed`,
    );
  return list as number[];
}

/** Two lists measured on the same seeds, in the same order: same length, both finite. */
export function pairedSamples(
  where: string,
  names: [string, string],
  a: unknown,
  b: unknown,
  min: number,
): [number[], number[]] {
  const x = finiteSample(where, names[0], a, 0);
  const y = finiteSample(where, names[1], b, 0);
  if (x.length !== y.length)
    throw new StatsError(
      "STATS_LENGTH_MISMATCH",
      `${where}: ${names[0]} has ${x.length} values but ${names[1]} has ${y.length}; pair them seed by seed`,
    );
  if (x.length < min)
    throw new StatsError(
      x.length === 0 ? "STATS_EMPTY" : "STATS_TOO_FEW_VALUES",
      `${where}: ${x.length} pair${x.length === 1 ? "" : "s"}, at least ${min} needed`,
    );
  return [x, y];
}

/** A probability strictly between 0 and 1 (alpha, power, confidence). */
export function probability(where: string, name: string, value: unknown, fallback: number): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== "number" || !(v > 0 && v < 1))
    throw new StatsError(
      "STATS_INVALID_OPTION",
      `${where}: ${name} must be a number strictly between 0 and 1, got ${String(v)}`,
    );
  return v;
}

/** An integer ≥ min. */
export function integerAtLeast(where: string, name: string, value: unknown, min: number, fallback?: number): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min)
    throw new StatsError("STATS_INVALID_OPTION", `${where}: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/** A finite number, optionally required to be > 0 or ≥ 0. */
export function finiteNumber(
  where: string,
  name: string,
  value: unknown,
  fallback?: number,
  sign?: "positive" | "non-negative",
): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new StatsError("STATS_INVALID_OPTION", `${where}: ${name} must be a finite number, got ${String(v)}`);
  if (sign === "positive" && !(v > 0))
    throw new StatsError("STATS_INVALID_OPTION", `${where}: ${name} must be > 0, got ${v}`);
  if (sign === "non-negative" && !(v >= 0))
    throw new StatsError("STATS_INVALID_OPTION", `${where}: ${name} must be ≥ 0, got ${v}`);
  return v;
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(
  where: string,
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  const v = value === undefined ? fallback : value;
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v))
    throw new StatsError(
      "STATS_INVALID_OPTION",
      `${where}: ${name} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${JSON.stringify(v)}`,
    );
  return v as T;
}
