/**
 * StatsError: every input the statistics core refuses — too few seeds, lists of different
 * lengths, a NaN, an empty claim list, an option out of range — surfaces as this class with a
 * stable `code` and a one-line message. The statistics are pure functions: nothing here reads
 * the store, prints or exits.
 */
import { CodedError } from "../util/errors.ts";
import { unknownOption } from "../util/suggest.ts";

export type StatsErrorCode =
  | "STATS_TOO_FEW_VALUES" // fewer values than the method needs (k < 2 seeds, a group of one)
  | "STATS_LENGTH_MISMATCH" // paired lists of different lengths
  | "STATS_NOT_FINITE" // a NaN or an infinity among the values (a crashed or diverged run)
  | "STATS_EMPTY" // an empty list where at least one item is needed (claims, p-values, players)
  | "STATS_INVALID_OPTION" // an unknown option key, or an option out of its range
  | "STATS_INVALID_ARGUMENT" // any other malformed argument (a non-square win matrix, a negative count)
  | "STATS_INVALID_DIFF"; // text that is not a unified diff

export class StatsError extends CodedError<StatsErrorCode> {}

/** Rejects option keys a function does not know, suggesting the closest known one. */
export function checkOptions(where: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null || Array.isArray(options))
    throw new StatsError("STATS_INVALID_OPTION", `${where}: options must be an object`);
  const problem = unknownOption(options, known);
  if (problem) throw new StatsError("STATS_INVALID_OPTION", `${where}: ${problem}`);
}
