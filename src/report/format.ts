/**
 * How numbers, times and money read in a report — one function per kind of value, shared by
 * the HTML and the Markdown templates (through helpers.ts) so both print the very same cells.
 * Absent values print as an em dash.
 */
import type { Interval } from "./types.ts";

export const NONE = "—";

const isNumber = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** val_bpb and differences of it: 6 decimals, like results.tsv. */
export function formatBpb(x: unknown): string {
  return isNumber(x) ? x.toFixed(6) : NONE;
}

/** A signed number with a real minus sign: "+0.001200", "−0.003400". */
export function formatSigned(x: unknown, digits = 6): string {
  if (!isNumber(x)) return NONE;
  const text = Math.abs(x).toFixed(digits);
  if (Number(text) === 0) return (0).toFixed(digits);
  return (x < 0 ? "−" : "+") + text;
}

export function formatFixed(x: unknown, digits = 1): string {
  return isNumber(x) ? x.toFixed(digits) : NONE;
}

/** A 0..1 share as a percentage with one decimal. */
export function formatPercent(x: unknown): string {
  return isNumber(x) ? `${(x * 100).toFixed(1)}%` : NONE;
}

/** Integers with thousands separators (tokens, calls). */
export function formatInt(x: unknown): string {
  return isNumber(x) ? Math.round(x).toLocaleString("en-US") : NONE;
}

/** Dollars: cents for amounts of a dollar and more, four decimals below (agent calls are cheap). */
export function formatUsd(x: unknown): string {
  if (!isNumber(x)) return NONE;
  return `$${Math.abs(x) >= 1 ? x.toFixed(2) : x.toFixed(4)}`;
}

/** Seconds as "42.0 s", "5m 03s" or "2h 07m". */
export function formatDuration(x: unknown): string {
  if (!isNumber(x)) return NONE;
  if (x < 60) return `${x.toFixed(1)} s`;
  const total = Math.round(x);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s).padStart(2, "0")}s`;
}

/** An ISO timestamp as "2025-03-05 22:14 UTC" (reports are read in many time zones). */
export function formatTime(x: unknown): string {
  if (typeof x !== "string" || Number.isNaN(Date.parse(x))) return NONE;
  return new Date(x).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** "−0.004100 [−0.005200, −0.003000] (95%)" */
export function formatInterval(x: unknown, digits = 6): string {
  if (typeof x !== "object" || x === null) return NONE;
  const iv = x as Interval;
  if (!isNumber(iv.estimate)) return NONE;
  const level = isNumber(iv.level) ? ` (${Math.round(iv.level * 100)}%)` : "";
  return `${formatSigned(iv.estimate, digits)} [${formatSigned(iv.low, digits)}, ${formatSigned(iv.high, digits)}]${level}`;
}

/** "[+0.001000, +0.007000] (90%)": an interval without its estimate (shown in its own column). */
export function formatRange(x: unknown, digits = 6): string {
  if (typeof x !== "object" || x === null) return NONE;
  const iv = x as Interval;
  if (!isNumber(iv.low) || !isNumber(iv.high)) return NONE;
  const level = isNumber(iv.level) ? ` (${Math.round(iv.level * 100)}%)` : "";
  return `[${formatSigned(iv.low, digits)}, ${formatSigned(iv.high, digits)}]${level}`;
}

export function plural(n: unknown, word: string): string {
  const count = isNumber(n) ? n : 0;
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}
