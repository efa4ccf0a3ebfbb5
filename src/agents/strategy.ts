/**
 * The org's machine-readable strategy: the fenced block with info string `nightshift-strategy`
 * in a program.md, holding strict JSON. It tells the builtin agent which knobs of train.ts to
 * search and how, and tells the loop the simplicity threshold of the keep rule. This module
 * only parses and validates; it never reads train.ts (the builtin agent checks that every knob
 * exists there) and never touches files.
 *
 *   const strategy = parseStrategy(programMd); // Strategy, or null when there is no block
 *
 * Errors are StrategyError with a stable `code` and the 1-based `line` of program.md they are
 * about, so "program.md line 57: knob 'MATRIX_LR': min 0.1 must be below max 0.01" points the
 * human at the line to fix. The JSON is parsed by a small parser of our own because
 * JSON.parse's messages carry no line on Node 20, and validation errors need each value's line.
 */
import { closestName } from "../util/suggest.ts";
import { CodedError } from "../util/errors.ts";

export type KnobKind = "log" | "linear" | "int" | "choice";

export interface KnobSpec {
  /**
   * A top-level `export const NAME = ...;` of train.ts, `NAME[i]` for an element of an array
   * constant, or `NAME.key` for one value of an object constant (`DEPTH.cpu`).
   */
  name: string;
  /** log: searched on a log scale (min > 0); linear: uniformly; int: integers; choice: one of `choices`. */
  kind: KnobKind;
  /** Bounds of log, linear and int knobs (inclusive). Absent for choice knobs. */
  min?: number;
  max?: number;
  /** The values a choice knob may take: at least two, all numbers or all strings. */
  choices?: (number | string)[];
}

export type OptimizerName = "cma-es" | "random";

export interface Strategy {
  knobs: KnobSpec[];
  /** Probability that a proposal is a uniform sample of the knob space instead of the optimizer's. Default 0.1. */
  explorationRate: number;
  /** A change must lower val_bpb by more than this to be kept (the loop applies it). Default 0. */
  simplicityThreshold: number;
  /** Default "cma-es". */
  optimizer: OptimizerName;
  /** CMA-ES population size λ; default 4 + ⌊3 ln d⌋ for d knobs. */
  populationSize?: number;
  /** CMA-ES initial step size σ in the normalized [0,1]^d knob space. Default 0.3. */
  stepSize: number;
  /** At most this many knobs change per experiment (those the sample moves most); default: all. */
  maxChanges?: number;
}

export const STRATEGY_INFO_STRING = "nightshift-strategy";

export type StrategyErrorCode =
  | "STRATEGY_SYNTAX" // the block is not valid JSON, or its fence is not closed
  | "STRATEGY_DUPLICATE" // two strategy blocks, a repeated key, or a knob named twice
  | "STRATEGY_UNKNOWN_KEY"
  | "STRATEGY_MISSING_KEY"
  | "STRATEGY_INVALID"; // a value of the wrong type or out of range

export class StrategyError extends CodedError<StrategyErrorCode> {
  /** 1-based line of program.md. */
  readonly line: number;
  constructor(code: StrategyErrorCode, line: number, message: string) {
    super(code, `program.md line ${line}: ${message}`);
    this.line = line;
  }
}

const STRATEGY_KEYS = [
  "knobs",
  "explorationRate",
  "simplicityThreshold",
  "optimizer",
  "populationSize",
  "stepSize",
  "maxChanges",
] as const;
const KNOB_KEYS = ["name", "kind", "min", "max", "choices"] as const;
const KNOB_KINDS: readonly KnobKind[] = ["log", "linear", "int", "choice"];
const OPTIMIZERS: readonly OptimizerName[] = ["cma-es", "random"];
const KNOB_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*(\[\d+\]|\.[A-Za-z_$][A-Za-z0-9_$]*)?$/;

/** The strategy of a program.md, or null when it has no `nightshift-strategy` block. */
export function parseStrategy(programMd: string): Strategy | null {
  const block = findBlock(programMd);
  if (!block) return null;
  const root = new JsonParser(block.text, block.firstLine).parseDocument();
  return validateStrategy(root);
}

// ---------------------------------------------------------------------------------------------
// Finding the block
// ---------------------------------------------------------------------------------------------

interface Block {
  text: string;
  /** program.md line of the block's first content line. */
  firstLine: number;
}

function findBlock(markdown: string): Block | null {
  const lines = markdown.split(/\r?\n/);
  let found: Block | null = null;
  let fence: { char: string; length: number } | null = null;
  let openedAt = 0;
  let isStrategy = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (fence === null) {
      const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
      if (!open) continue;
      fence = { char: open[1]![0]!, length: open[1]!.length };
      openedAt = i;
      isStrategy = open[2] === STRATEGY_INFO_STRING;
      if (isStrategy && found)
        throw new StrategyError("STRATEGY_DUPLICATE", i + 1, `a second ${STRATEGY_INFO_STRING} block; keep one`);
      continue;
    }
    const close = new RegExp(`^ {0,3}\\${fence.char}{${fence.length},}\\s*$`).exec(line);
    if (!close) continue;
    if (isStrategy) found = { text: lines.slice(openedAt + 1, i).join("\n"), firstLine: openedAt + 2 };
    fence = null;
  }
  if (fence && isStrategy)
    throw new StrategyError("STRATEGY_SYNTAX", openedAt + 1, `the ${STRATEGY_INFO_STRING} block is never closed`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Strict JSON, every value tagged with its line
// ---------------------------------------------------------------------------------------------

type JsonNode =
  | { type: "object"; line: number; entries: { key: string; line: number; value: JsonNode }[] }
  | { type: "array"; line: number; items: JsonNode[] }
  | { type: "string"; line: number; value: string }
  | { type: "number"; line: number; value: number }
  | { type: "boolean"; line: number; value: boolean }
  | { type: "null"; line: number };

class JsonParser {
  private pos = 0;
  private line: number;

  constructor(
    private readonly text: string,
    firstLine: number,
  ) {
    this.line = firstLine;
  }

  parseDocument(): JsonNode {
    this.skipSpace();
    if (this.pos >= this.text.length) this.fail("the block is empty; it must hold a JSON object");
    const value = this.parseValue();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`unexpected ${this.describeHere()} after the JSON value`);
    return value;
  }

  private parseValue(): JsonNode {
    this.skipSpace();
    const c = this.text[this.pos];
    const line = this.line;
    if (c === "{") return this.parseObject();
    if (c === "[") return this.parseArray();
    if (c === '"') return { type: "string", line, value: this.parseString() };
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.parseNumber();
    if (this.consumeWord("true")) return { type: "boolean", line, value: true };
    if (this.consumeWord("false")) return { type: "boolean", line, value: false };
    if (this.consumeWord("null")) return { type: "null", line };
    return this.fail(`expected a JSON value, found ${this.describeHere()}`);
  }

  private consumeWord(word: string): boolean {
    if (!this.text.startsWith(word, this.pos) || /[A-Za-z0-9_]/.test(this.text[this.pos + word.length] ?? "")) return false;
    this.pos += word.length;
    return true;
  }

  private parseObject(): JsonNode {
    const line = this.line;
    this.pos++; // {
    const entries: { key: string; line: number; value: JsonNode }[] = [];
    this.skipSpace();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return { type: "object", line, entries };
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.fail(`expected a quoted key, found ${this.describeHere()}`);
      const keyLine = this.line;
      const key = this.parseString();
      if (entries.some((e) => e.key === key))
        throw new StrategyError("STRATEGY_DUPLICATE", keyLine, `key '${key}' appears twice in the same object`);
      this.skipSpace();
      if (this.text[this.pos] !== ":") this.fail(`expected ':' after key "${key}", found ${this.describeHere()}`);
      this.pos++;
      entries.push({ key, line: keyLine, value: this.parseValue() });
      this.skipSpace();
      const c = this.text[this.pos];
      this.pos++;
      if (c === "}") return { type: "object", line, entries };
      if (c !== ",") this.fail(`expected ',' or '}' in an object, found ${this.describeAt(this.pos - 1)}`);
      const commaLine = this.line;
      this.skipSpace();
      if (this.text[this.pos] === "}") this.fail("trailing comma before '}' (strict JSON has none)", commaLine);
    }
  }

  private parseArray(): JsonNode {
    const line = this.line;
    this.pos++; // [
    const items: JsonNode[] = [];
    this.skipSpace();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return { type: "array", line, items };
    }
    for (;;) {
      items.push(this.parseValue());
      this.skipSpace();
      const c = this.text[this.pos];
      this.pos++;
      if (c === "]") return { type: "array", line, items };
      if (c !== ",") this.fail(`expected ',' or ']' in an array, found ${this.describeAt(this.pos - 1)}`);
      const commaLine = this.line;
      this.skipSpace();
      if (this.text[this.pos] === "]") this.fail("trailing comma before ']' (strict JSON has none)", commaLine);
    }
  }

  private parseString(): string {
    const start = this.pos;
    this.pos++; // opening quote
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (c === "\n" || (c === "\\" && this.text[this.pos + 1] === "\n")) break;
      if (c === "\\") this.pos += 2;
      else if (c === '"') {
        this.pos++;
        try {
          return JSON.parse(this.text.slice(start, this.pos)) as string;
        } catch {
          this.fail(`invalid escape in string ${this.text.slice(start, this.pos)}`);
        }
      } else this.pos++;
    }
    return this.fail("unterminated string");
  }

  private parseNumber(): JsonNode {
    const line = this.line;
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.pos));
    if (!m) return this.fail(`invalid number ${this.describeHere()}`);
    this.pos += m[0].length;
    return { type: "number", line, value: Number(m[0]) };
  }

  private skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (c === "\n") this.line++;
      else if (c !== " " && c !== "\t" && c !== "\r") return;
      this.pos++;
    }
  }

  private describeHere(): string {
    return this.describeAt(this.pos);
  }

  private describeAt(at: number): string {
    if (at >= this.text.length) return "the end of the block";
    const c = this.text[at]!;
    if (c === "'") return "a single quote (JSON strings use double quotes)";
    if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(at))![0];
      return `'${word}' (keys and strings need double quotes)`;
    }
    return `'${c}'`;
  }

  private fail(message: string, line = this.line): never {
    throw new StrategyError("STRATEGY_SYNTAX", line, `invalid JSON in the ${STRATEGY_INFO_STRING} block: ${message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

function validateStrategy(root: JsonNode): Strategy {
  if (root.type !== "object")
    throw new StrategyError("STRATEGY_INVALID", root.line, `the ${STRATEGY_INFO_STRING} block must hold a JSON object`);
  const fields = checkKeys(root, STRATEGY_KEYS, "strategy");
  const knobsNode = fields.get("knobs");
  if (!knobsNode) throw new StrategyError("STRATEGY_MISSING_KEY", root.line, "the strategy needs 'knobs': a list of knobs to search");
  if (knobsNode.type !== "array" || knobsNode.items.length === 0)
    throw new StrategyError("STRATEGY_INVALID", knobsNode.line, "'knobs' must be a non-empty list of knob objects");
  const knobs: KnobSpec[] = [];
  for (const item of knobsNode.items) {
    const knob = validateKnob(item);
    if (knobs.some((k) => k.name === knob.name))
      throw new StrategyError("STRATEGY_DUPLICATE", item.line, `knob '${knob.name}' is listed twice`);
    knobs.push(knob);
  }

  const strategy: Strategy = {
    knobs,
    explorationRate: optionalNumber(fields, "explorationRate", 0.1, (v) => v >= 0 && v <= 1, "a number from 0 to 1"),
    simplicityThreshold: optionalNumber(fields, "simplicityThreshold", 0, (v) => v >= 0, "a number ≥ 0 (val_bpb)"),
    optimizer: "cma-es",
    stepSize: optionalNumber(fields, "stepSize", 0.3, (v) => v > 0 && v <= 1, "a number in (0, 1] (normalized knob space)"),
  };
  const optimizer = fields.get("optimizer");
  if (optimizer) {
    if (optimizer.type !== "string" || !(OPTIMIZERS as readonly string[]).includes(optimizer.value))
      throw new StrategyError(
        "STRATEGY_INVALID",
        optimizer.line,
        `'optimizer' must be one of ${OPTIMIZERS.map((o) => `"${o}"`).join(", ")}, got ${show(optimizer)}`,
      );
    strategy.optimizer = optimizer.value as OptimizerName;
  }
  if (fields.has("populationSize"))
    strategy.populationSize = optionalNumber(fields, "populationSize", 0, (v) => Number.isInteger(v) && v >= 2, "an integer ≥ 2");
  if (fields.has("maxChanges"))
    strategy.maxChanges = optionalNumber(fields, "maxChanges", 0, (v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1");
  return strategy;
}

function validateKnob(node: JsonNode): KnobSpec {
  if (node.type !== "object")
    throw new StrategyError(
      "STRATEGY_INVALID",
      node.line,
      `each knob must be an object like {"name": "MATRIX_LR", "kind": "log", "min": 0.01, "max": 0.1}, got ${show(node)}`,
    );
  const fields = checkKeys(node, KNOB_KEYS, "knob");
  const nameNode = fields.get("name");
  if (!nameNode) throw new StrategyError("STRATEGY_MISSING_KEY", node.line, "a knob needs a 'name' (a constant of train.ts)");
  if (nameNode.type !== "string" || !KNOB_NAME.test(nameNode.value))
    throw new StrategyError(
      "STRATEGY_INVALID",
      nameNode.line,
      `knob 'name' must be a constant's name such as "MATRIX_LR", "ADAM_BETAS[0]" or "DEPTH.cpu", got ${show(nameNode)}`,
    );
  const name = nameNode.value;
  const kindNode = fields.get("kind");
  if (!kindNode) throw new StrategyError("STRATEGY_MISSING_KEY", node.line, `knob '${name}' needs a 'kind': ${KNOB_KINDS.join(", ")}`);
  if (kindNode.type !== "string" || !(KNOB_KINDS as readonly string[]).includes(kindNode.value))
    throw new StrategyError(
      "STRATEGY_INVALID",
      kindNode.line,
      `knob '${name}': 'kind' must be one of ${KNOB_KINDS.join(", ")}, got ${show(kindNode)}`,
    );
  const kind = kindNode.value as KnobKind;

  if (kind === "choice") {
    for (const bound of ["min", "max"] as const) {
      const b = fields.get(bound);
      if (b) throw new StrategyError("STRATEGY_INVALID", b.line, `knob '${name}': a choice knob takes 'choices', not '${bound}'`);
    }
    const choicesNode = fields.get("choices");
    if (!choicesNode) throw new StrategyError("STRATEGY_MISSING_KEY", node.line, `choice knob '${name}' needs 'choices': a list of values`);
    if (choicesNode.type !== "array" || choicesNode.items.length < 2)
      throw new StrategyError("STRATEGY_INVALID", choicesNode.line, `knob '${name}': 'choices' must list at least two values`);
    const first = choicesNode.items[0]!.type;
    const choices: (number | string)[] = [];
    for (const item of choicesNode.items) {
      if ((item.type !== "number" && item.type !== "string") || item.type !== first)
        throw new StrategyError("STRATEGY_INVALID", item.line, `knob '${name}': choices must be all numbers or all strings, got ${show(item)}`);
      if (choices.includes(item.value))
        throw new StrategyError("STRATEGY_DUPLICATE", item.line, `knob '${name}': choice ${JSON.stringify(item.value)} is listed twice`);
      choices.push(item.value);
    }
    return { name, kind, choices };
  }

  const choices = fields.get("choices");
  if (choices) throw new StrategyError("STRATEGY_INVALID", choices.line, `knob '${name}': only choice knobs take 'choices'`);
  const bound = (key: "min" | "max"): number => {
    const b = fields.get(key);
    if (!b) throw new StrategyError("STRATEGY_MISSING_KEY", node.line, `knob '${name}' (${kind}) needs '${key}'`);
    if (b.type !== "number") throw new StrategyError("STRATEGY_INVALID", b.line, `knob '${name}': '${key}' must be a number, got ${show(b)}`);
    if (kind === "int" && !Number.isInteger(b.value))
      throw new StrategyError("STRATEGY_INVALID", b.line, `knob '${name}' is an int knob: '${key}' must be an integer, got ${b.value}`);
    if (kind === "log" && b.value <= 0)
      throw new StrategyError("STRATEGY_INVALID", b.line, `knob '${name}' is searched on a log scale: '${key}' must be > 0, got ${b.value}`);
    return b.value;
  };
  const min = bound("min");
  const max = bound("max");
  if (!(min < max))
    throw new StrategyError("STRATEGY_INVALID", fields.get("max")!.line, `knob '${name}': min ${min} must be below max ${max}`);
  return { name, kind, min, max };
}

/** The object's fields by key; an unknown key is an error that names it (and its likely fix). */
function checkKeys(node: Extract<JsonNode, { type: "object" }>, known: readonly string[], what: string): Map<string, JsonNode> {
  const fields = new Map<string, JsonNode>();
  for (const entry of node.entries) {
    if (!known.includes(entry.key)) {
      const guess = closestName(entry.key, known);
      throw new StrategyError(
        "STRATEGY_UNKNOWN_KEY",
        entry.line,
        `unknown ${what} key '${entry.key}'${guess ? ` — did you mean '${guess}'?` : ""} (known: ${known.join(", ")})`,
      );
    }
    fields.set(entry.key, entry.value);
  }
  return fields;
}

function optionalNumber(
  fields: Map<string, JsonNode>,
  key: string,
  fallback: number,
  valid: (v: number) => boolean,
  expected: string,
): number {
  const node = fields.get(key);
  if (!node) return fallback;
  if (node.type !== "number" || !valid(node.value))
    throw new StrategyError("STRATEGY_INVALID", node.line, `'${key}' must be ${expected}, got ${show(node)}`);
  return node.value;
}

function show(node: JsonNode): string {
  switch (node.type) {
    case "object":
      return "an object";
    case "array":
      return "a list";
    case "null":
      return "null";
    case "string":
      return JSON.stringify(node.value);
    default:
      return String(node.value);
  }
}
