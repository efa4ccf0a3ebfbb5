/**
 * The recipe's constants as the builtin agent sees them: every top-level line of train.ts of
 * the form `export const NAME[: type] = <number | "string" | [numbers] | { key: number, ... }>;
 * // comment`, with its exact text so an edit can replace that one line and nothing else. An
 * object of numbers holds one value per key (the recipe's per-profile knobs, `{ cpu: 4, gpu: 8 }`).
 * Constants built from expressions (`2 ** 19`, calls, nested objects) are not knobs and are
 * skipped. Reads text only.
 */

/** A constant with one number per key, e.g. `{ cpu: 4, gpu: 8 }`, keys in file order. */
export type KeyedNumbers = Readonly<Record<string, number>>;

export type ConstantValue = number | string | number[] | KeyedNumbers;

export function isKeyed(value: ConstantValue): value is KeyedNumbers {
  return typeof value === "object" && !Array.isArray(value);
}

export interface RecipeConstant {
  name: string;
  /** 1-based line in train.ts. */
  line: number;
  /** The whole line as it stands, the search text of an edit. */
  text: string;
  value: ConstantValue;
  /** The quote a string constant was written with, reused when it is rewritten. */
  quote?: '"' | "'";
  /** The line up to the value and from the end of the value on: a rewrite keeps both. */
  prefix: string;
  suffix: string;
}

const DECLARATION = /^(export const ([A-Za-z_$][\w$]*)(?:\s*:[^=]*)?\s*=\s*)(.+?)(\s*;.*)$/;
const NUMBER = /^-?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?$/;

/** The recipe's knob-like constants by name, in file order. */
export function readRecipeConstants(trainTs: string): Map<string, RecipeConstant> {
  const constants = new Map<string, RecipeConstant>();
  trainTs.split("\n").forEach((raw, i) => {
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const m = DECLARATION.exec(text);
    if (!m) return;
    const parsed = parseLiteral(m[3]!);
    if (parsed === null) return;
    constants.set(m[2]!, { name: m[2]!, line: i + 1, text, prefix: m[1]!, suffix: m[4]!, ...parsed });
  });
  return constants;
}

function parseLiteral(literal: string): { value: ConstantValue; quote?: '"' | "'" } | null {
  if (NUMBER.test(literal)) return { value: Number(literal.replace(/_/g, "")) };
  const str = /^(["'])([^"'\\]*)\1$/.exec(literal);
  if (str) return { value: str[2]!, quote: str[1] as '"' | "'" };
  const arr = /^\[(.*)\]$/.exec(literal);
  if (arr) {
    const items = arr[1]!.split(",").map((s) => s.trim());
    if (items.length > 0 && items[items.length - 1] === "") items.pop(); // a trailing comma
    if (items.length === 0 || !items.every((s) => NUMBER.test(s))) return null;
    return { value: items.map((s) => Number(s.replace(/_/g, ""))) };
  }
  const obj = /^\{(.*)\}$/.exec(literal);
  if (obj) {
    const entries = obj[1]!.split(",").map((s) => s.trim());
    if (entries.length > 0 && entries[entries.length - 1] === "") entries.pop(); // a trailing comma
    const value: Record<string, number> = {};
    for (const entry of entries) {
      const m = /^([A-Za-z_$][\w$]*)\s*:\s*(.+)$/.exec(entry);
      if (!m || m[1] === "__proto__" || !NUMBER.test(m[2]!) || Object.hasOwn(value, m[1]!)) return null;
      value[m[1]!] = Number(m[2]!.replace(/_/g, ""));
    }
    return entries.length > 0 ? { value } : null;
  }
  return null;
}

/** The line with the constant's value replaced, everything else (type, comment) kept. */
export function rewriteConstant(constant: RecipeConstant, value: ConstantValue): string {
  return constant.prefix + formatLiteral(value, constant.quote ?? '"') + constant.suffix;
}

export function formatLiteral(value: ConstantValue, quote: '"' | "'" = '"'): string {
  if (Array.isArray(value)) return `[${value.map(String).join(", ")}]`;
  if (isKeyed(value)) return `{ ${Object.entries(value).map(([k, v]) => `${k}: ${v}`).join(", ")} }`;
  if (typeof value === "number") return String(value);
  return quote === "'" ? `'${value}'` : JSON.stringify(value);
}
