/**
 * Integrity flag for kept changes: does a unified diff of train.ts (git format) change only a
 * seed, comments or whitespace? Such a keep is flagged and never credited — autoresearch's own
 * chart ends with a kept "random seed 42 → 137". It matters most when train.ts hard-codes its
 * seed: then reruns "with fresh seeds" rerun the same two trainings, the paired gains are a
 * constant, and no test on them can tell luck from skill. Only this check can.
 *
 * Each hunk is rebuilt as its old text (context + removed lines) and its new text (context +
 * added lines), and both are tokenized the way TypeScript reads them, minus comments and
 * whitespace: identifiers, numbers, whole string literals, single punctuation characters. A
 * hunk is
 *   - "whitespace-or-comments" when both token sequences are equal;
 *   - "seed" when the lines whose tokens differ are all single assignments to names matching
 *     /seed/i (`const SEED = 42;`, `seed: 42,`, `this.seed = 7`), the same names before and after;
 *   - "code" otherwise.
 * The diff is trivial when every hunk is whitespace-or-comments or seed (or it has no hunk).
 *
 * Limits, all on the side of calling a change "code" (credited) rather than trivial: a block
 * comment that opens before the hunk is recognised only when the hunk shows the comment's end
 * marker before any start marker, or when every line of the hunk starts with "*"; regex literals are read as code; a
 * seed assignment split over several lines is not recognised.
 */
import { StatsError } from "./errors.ts";

export type ChangeKind = "empty" | "whitespace-or-comments" | "seed" | "code";

export interface IntegrityResult {
  trivial: boolean;
  /** The most substantial kind of change found (code > seed > whitespace-or-comments > empty). */
  kind: ChangeKind;
  /** One line: what changed, or the first line of code that changed. */
  reason: string;
  /** Seed names whose values changed (empty unless kind is "seed"). */
  seedNames: string[];
}

interface Hunk {
  header: string;
  file: string;
  old: string[];
  new: string[];
}

/** Classifies a unified diff (see the file comment). */
export function classifyDiff(diff: string): IntegrityResult {
  if (typeof diff !== "string") throw new StatsError("STATS_INVALID_DIFF", "classifyDiff: the diff must be a string");
  const { hunks, binary } = parseUnifiedDiff(diff);
  if (binary) return { trivial: false, kind: "code", reason: `binary change to ${binary}`, seedNames: [] };
  if (hunks.length === 0) return { trivial: true, kind: "empty", reason: "the diff changes nothing", seedNames: [] };

  const seedNames = new Set<string>();
  let sawComments = false;
  for (const hunk of hunks) {
    const before = tokenLines(hunk.old);
    const after = tokenLines(hunk.new);
    const a = before.map((l) => l.join(" "));
    const b = after.map((l) => l.join(" "));
    if (a.join("\n") === b.join("\n")) {
      sawComments = true;
      continue;
    }
    const { removed, added } = lineDiff(a, b);
    const removedSeeds = removed.map(seedAssignment);
    const addedSeeds = added.map(seedAssignment);
    const names = (list: (string | undefined)[]): string => [...new Set(list)].sort().join(",");
    const allSeeds = [...removedSeeds, ...addedSeeds].every((s) => s !== undefined);
    if (!allSeeds || names(removedSeeds) !== names(addedSeeds) || removed.length !== added.length) {
      const line =
        added.find((_, i) => addedSeeds[i] === undefined) ??
        removed.find((_, i) => removedSeeds[i] === undefined) ??
        added[0] ??
        removed[0] ??
        "";
      return {
        trivial: false,
        kind: "code",
        reason: `code changes in ${hunk.file} ${hunk.header}: ${line.length > 80 ? `${line.slice(0, 77)}...` : line}`,
        seedNames: [],
      };
    }
    for (const s of removedSeeds) seedNames.add(s!);
  }
  if (seedNames.size > 0) {
    const list = [...seedNames].sort();
    return {
      trivial: true,
      kind: "seed",
      reason: `only the seed ${list.length === 1 ? "constant" : "constants"} ${list.join(", ")} changed${sawComments ? " (besides comments or whitespace)" : ""}`,
      seedNames: list,
    };
  }
  return {
    trivial: true,
    kind: "whitespace-or-comments",
    reason: "only comments or whitespace changed",
    seedNames: [],
  };
}

/** Hunks of a git-format unified diff; the hunk line counts decide where each hunk ends. */
function parseUnifiedDiff(diff: string): { hunks: Hunk[]; binary?: string } {
  const lines = diff.replace(/\r\n/g, "\n").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const hunks: Hunk[] = [];
  let file = "train.ts";
  let sawHeader = false;
  for (let i = 0; i < lines.length;) {
    const line = lines[i]!;
    if (line.startsWith("diff --git ")) {
      sawHeader = true;
      const m = / b\/(.+)$/.exec(line);
      if (m) file = m[1]!;
      i++;
      continue;
    }
    if (line.startsWith("Binary files ") || line === "GIT binary patch") return { hunks, binary: file };
    if (line.startsWith("+++ ")) {
      sawHeader = true;
      const name = line.slice(4).replace(/^b\//, "");
      if (name !== "/dev/null") file = name;
      i++;
      continue;
    }
    const m = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
    if (!m) {
      if (!sawHeader && line.trim() !== "")
        throw new StatsError(
          "STATS_INVALID_DIFF",
          `classifyDiff: line ${i + 1} is not part of a unified diff: ${line.slice(0, 60)}`,
        );
      i++; // index, mode, rename and --- lines, or text before the first header
      continue;
    }
    sawHeader = true;
    let oldLeft = m[1] === undefined ? 1 : Number(m[1]);
    let newLeft = m[2] === undefined ? 1 : Number(m[2]);
    const hunk: Hunk = { header: m[0], file, old: [], new: [] };
    i++;
    while (i < lines.length && (oldLeft > 0 || newLeft > 0)) {
      const body = lines[i]!;
      const mark = body[0];
      const text = body.slice(1);
      if (mark === "\\") {
        i++; // "\ No newline at end of file"
        continue;
      }
      if (mark === " " || body === "") {
        hunk.old.push(text);
        hunk.new.push(text);
        oldLeft--;
        newLeft--;
      } else if (mark === "-") {
        hunk.old.push(text);
        oldLeft--;
      } else if (mark === "+") {
        hunk.new.push(text);
        newLeft--;
      } else {
        throw new StatsError(
          "STATS_INVALID_DIFF",
          `classifyDiff: line ${i + 1} of hunk ${m[0]} is not a diff line: ${body.slice(0, 60)}`,
        );
      }
      i++;
    }
    if (oldLeft > 0 || newLeft > 0)
      throw new StatsError("STATS_INVALID_DIFF", `classifyDiff: hunk ${m[0]} ends early (the diff is truncated)`);
    if (i < lines.length && lines[i]!.startsWith("\\")) i++;
    hunks.push(hunk);
  }
  return { hunks };
}

const NUMBER = /^(?:0[xXbBoO][\da-fA-F_]+n?|\d[\d_]*(?:\.[\d_]*)?(?:[eE][+-]?\d+)?n?|\.\d[\d_]*(?:[eE][+-]?\d+)?)/;
const IDENTIFIER = /^[A-Za-z_$][\w$]*/;

/** Tokens of each line, without comments and whitespace; lines left empty are dropped. */
function tokenLines(lines: readonly string[]): string[][] {
  let state: "code" | "block" | "template" = startsInsideBlockComment(lines) ? "block" : "code";
  const result: string[][] = [];
  let template = ""; // a template literal spanning lines is one token
  for (const line of lines) {
    const tokens: string[] = [];
    let i = 0;
    while (i < line.length) {
      if (state === "block") {
        const end = line.indexOf("*/", i);
        if (end < 0) i = line.length;
        else {
          i = end + 2;
          state = "code";
        }
        continue;
      }
      if (state === "template") {
        const end = findClosing(line, i, "`");
        template += line.slice(i, end < 0 ? line.length : end + 1);
        if (end < 0) {
          template += "\n";
          i = line.length;
        } else {
          tokens.push(template);
          template = "";
          i = end + 1;
          state = "code";
        }
        continue;
      }
      const c = line[i]!;
      if (c === " " || c === "\t") {
        i++;
        continue;
      }
      if (line.startsWith("//", i)) break;
      if (line.startsWith("/*", i)) {
        state = "block";
        i += 2;
        continue;
      }
      if (c === "'" || c === '"') {
        const end = findClosing(line, i + 1, c);
        const stop = end < 0 ? line.length : end + 1;
        tokens.push(line.slice(i, stop));
        i = stop;
        continue;
      }
      if (c === "`") {
        state = "template";
        template = "`";
        i++;
        continue;
      }
      const rest = line.slice(i);
      const word = NUMBER.exec(rest) ?? IDENTIFIER.exec(rest);
      if (word) {
        tokens.push(word[0]);
        i += word[0].length;
        continue;
      }
      tokens.push(c);
      i++;
    }
    if (tokens.length > 0) result.push(tokens);
  }
  if (state === "template" && template !== "") result.push([template]);
  return result;
}

/** Index of the unescaped closing quote at or after `from`, or -1. */
function findClosing(line: string, from: number, quote: string): number {
  for (let i = from; i < line.length; i++) {
    if (line[i] === "\\") i++;
    else if (line[i] === quote) return i;
  }
  return -1;
}

/** The hunk begins inside a block comment that opened above it (heuristics of the file comment). */
function startsInsideBlockComment(lines: readonly string[]): boolean {
  const text = lines.join("\n");
  const close = text.indexOf("*/");
  const open = text.indexOf("/*");
  if (close >= 0 && (open < 0 || close < open)) return true;
  const nonEmpty = lines.filter((l) => l.trim() !== "");
  return nonEmpty.length > 0 && nonEmpty.every((l) => l.trimStart().startsWith("*") && !l.trimStart().startsWith("*/"));
}

/** Removed and added lines between two sequences of normalized lines (longest common subsequence). */
function lineDiff(a: readonly string[], b: readonly string[]): { removed: string[]; added: string[] } {
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const removed: string[] = [];
  const added: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) removed.push(a[i++]!);
    else added.push(b[j++]!);
  }
  while (i < n) removed.push(a[i++]!);
  while (j < m) added.push(b[j++]!);
  return { removed, added };
}

const MODIFIERS = new Set(["export", "const", "let", "var", "readonly", "static", "public", "private", "protected"]);

/**
 * The name assigned when a normalized line is one assignment to a seed-named target —
 * `[modifiers] a.b.SEED [: type] = value [;]` or `seed : value [,]` — else undefined.
 */
function seedAssignment(line: string): string | undefined {
  const t = line.split(" ");
  let k = 0;
  while (k < t.length && MODIFIERS.has(t[k]!)) k++;
  if (t[k] === "this" && t[k + 1] === ".") k += 2;
  let name = t[k];
  if (name === undefined || !IDENTIFIER.test(name)) return undefined;
  k++;
  while (t[k] === "." && t[k + 1] !== undefined && IDENTIFIER.test(t[k + 1]!)) {
    name = t[k + 1]!;
    k += 2;
  }
  if (!/seed/i.test(name)) return undefined;
  if (t[k] !== "=" && t[k] !== ":") return undefined;
  const value = t.slice(k + 1);
  // One statement only: no further assignment, and ; or , only as the last token.
  const last = value.length - 1;
  if (value.some((v, i) => (v === ";" || v === ",") && i !== last)) return undefined;
  if (t[k] === "=" && (value[0] === "=" || value[0] === ">")) return undefined; // == or =>
  if (t[k] === ":" && value.includes("=")) {
    // `const seed: number = 42`: the type annotation ends at the single `=`.
    const eq = value.indexOf("=");
    if (value[eq + 1] === "=" || value[eq + 1] === ">" || value.slice(eq + 1).includes("=")) return undefined;
  } else if (value.includes("=")) return undefined;
  if (value.length === 0 || (value.length === 1 && (value[0] === ";" || value[0] === ","))) return undefined;
  return name;
}
