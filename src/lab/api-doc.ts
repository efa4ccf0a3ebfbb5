/**
 * Reads the API that train.ts may use straight from the running modules and their sources, so
 * the agents' README can never go stale: the NAMES come from the modules' runtime exports (an op
 * that exists is listed, one that was removed is not), and signatures and doc comments come
 * from the TypeScript source beside them. Read-only; it never imports anything train.ts cannot.
 */
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as engine from "../engine/index.ts";
import { LabError } from "./errors.ts";

export interface ApiFunction {
  name: string;
  /** e.g. `add(a: Tensor, b: Operand): Tensor` — from the source, or the JS parameters. */
  signature: string;
  /** The doc comment, on one line ("" when it has none). */
  doc: string;
}

export interface ApiClass {
  name: string;
  doc: string;
  /** Public members: methods as signatures, getters as `name: Type`. */
  members: ApiFunction[];
}

export interface EngineApi {
  /** Every runtime export of nightshift/engine except the ops and optim namespaces. */
  top: ApiFunction[];
  classes: ApiClass[];
  ops: ApiFunction[];
  optim: ApiFunction[];
  /**
   * The type aliases and interfaces the signatures above mention (op options, DType, ...),
   * verbatim with their docs: ops.ts and optim.ts first, then the rest by name.
   */
  types: string[];
}

interface Declaration {
  kind: "function" | "const" | "interface" | "type" | "class";
  name: string;
  doc: string;
  signature: string;
  /** The whole declaration text (interfaces and classes). */
  block: string;
}

/** Reads a source file next to this one (src/lab/...); LAB_README when it is missing. */
export function readSource(relativeToLab: string): string {
  const url = new URL(relativeToLab, import.meta.url);
  try {
    return readFileSync(fileURLToPath(url), "utf8");
  } catch (err) {
    throw new LabError("LAB_README", `cannot read ${fileURLToPath(url)} to document it: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** A doc comment's text on one line, with @tags dropped. */
function docText(comment: string | undefined): string {
  if (!comment) return "";
  return comment
    .replace(/^\/\*\*|\*\/$/g, "")
    .split("\n")
    .map((l) => l.replace(/^\s*\* ?/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("@"))
    .join(" ")
    .trim();
}

/** Index just past the bracket that closes the one at `open`. */
function closingIndex(text: string, open: number): number {
  const pairs: Record<string, string> = { "(": ")", "{": "}", "[": "]", "<": ">" };
  const opener = text[open]!;
  const closer = pairs[opener]!;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === opener) depth++;
    else if (c === closer && !(closer === ">" && text[i - 1] === "=")) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return text.length;
}

const oneLine = (s: string): string =>
  s
    .replace(/\s*\n\s*/g, " ")
    .replace(/,\s*\)/g, ")")
    .replace(/\(\s+/g, "(")
    .trim();

/**
 * `name<T>(params): Ret` of a function or arrow declaration starting at `at` (the position of
 * the name). The return type runs to the end of the line of the closing parenthesis, minus the
 * body's `{` or an arrow's `=> ...`.
 */
function signatureAt(source: string, at: number, name: string): string {
  const paren = source.indexOf("(", at);
  const lineEnd = source.indexOf("\n", at);
  if (paren < 0) return name;
  let generics = source.slice(at + name.length, paren).replace(/^\s*=\s*/, "");
  generics = generics.startsWith("<") ? generics.trim() : "";
  const close = closingIndex(source, paren);
  if (lineEnd >= 0 && paren > lineEnd && !generics) return name;
  const params = source.slice(paren, close);
  const restEnd = source.indexOf("\n", close);
  let ret = source.slice(close, restEnd < 0 ? source.length : restEnd);
  const arrow = ret.indexOf("=>");
  if (arrow >= 0) ret = ret.slice(0, arrow);
  ret = ret.replace(/\{\s*$/, "").replace(/;\s*$/, "").trim();
  return oneLine(`${name}${generics}${params}${ret}`);
}

const DECLARATION =
  /^(\/\*\*(?:(?!\*\/)[\s\S])*\*\/)?[ \t]*\n?export (?:declare )?(async function|function|const|interface|type|class) (\w+)/gm;

/** The exported top-level declarations of a TypeScript source, by name. */
export function parseDeclarations(source: string): Map<string, Declaration> {
  const found = new Map<string, Declaration>();
  for (const m of source.matchAll(DECLARATION)) {
    const [, comment, keyword = "", name = ""] = m;
    const nameAt = m.index + m[0].length - name.length;
    const kind = keyword === "async function" ? "function" : (keyword as Declaration["kind"]);
    let block = "";
    let signature = name;
    if (kind === "interface" || kind === "class") {
      const open = source.indexOf("{", nameAt);
      block = source.slice(m.index, closingIndex(source, open));
    } else if (kind === "function" || kind === "const") {
      signature = signatureAt(source, nameAt, name);
    } else {
      const end = source.indexOf(";\n", nameAt);
      block = source.slice(m.index, end < 0 ? source.length : end + 1);
    }
    found.set(name, { kind, name, doc: docText(comment), signature, block });
  }
  return found;
}

/** An interface or type declaration, verbatim with its doc comment, for the README. */
export function declarationText(source: string, name: string): string | undefined {
  return parseDeclarations(source).get(name)?.block || undefined;
}

const MEMBER =
  /^(  \/\*\*(?:(?!\*\/)[\s\S])*\*\/\n)?  (?:(get|set|static|readonly) )?(\w+)(\??[(:<])/gm;

/** Public members of a class declaration (doc comments tagged @internal are skipped). */
function classMembers(className: string, block: string): ApiFunction[] {
  const members: ApiFunction[] = [];
  const seen = new Set<string>();
  for (const m of block.matchAll(MEMBER)) {
    const [, comment = "", modifier, name = ""] = m;
    if (comment.includes("@internal") || modifier === "set" || seen.has(name)) continue;
    seen.add(name);
    const at = m.index + m[0].length - m[4]!.length - name.length;
    let signature: string;
    if (name === "constructor") {
      signature = `new ${signatureAt(block, at, name).replace(/^constructor/, className)}`;
    } else if (modifier === "get" || modifier === "readonly") {
      const line = block.slice(at, block.indexOf("\n", at));
      const type = /\)\s*:\s*([^{]+)\{?\s*$/.exec(line)?.[1] ?? /:\s*([^;=]+)/.exec(line)?.[1] ?? "";
      signature = `${modifier === "readonly" ? "readonly " : ""}${name}: ${type.trim()}`;
    } else {
      signature = signatureAt(block, at, name);
    }
    members.push({ name, signature, doc: docText(comment.trim()) });
  }
  return members;
}

/**
 * Interfaces merged into an engine class from another module: `declare module "./tensor.ts" {
 * interface Tensor extends TensorMethods {} }` adds TensorMethods' members (declared in that
 * module) to class Tensor, as tensor-methods.ts does.
 */
function mergedInterfaces(className: string, sourceOf: (file: string) => string): { doc: string; members: ApiFunction[] }[] {
  const engineDir = fileURLToPath(new URL("../engine/", import.meta.url));
  const out: { doc: string; members: ApiFunction[] }[] = [];
  const augmentation = new RegExp(String.raw`^declare module "\./[\w.-]+" \{[^}]*?\binterface ${className} extends ([\w, ]+)\{`, "m");
  for (const file of readdirSync(engineDir).filter((f) => f.endsWith(".ts")).sort()) {
    const source = sourceOf(file);
    const m = augmentation.exec(source);
    if (!m) continue;
    const declared = parseDeclarations(source);
    for (const base of m[1]!.split(",").map((b) => b.trim()).filter((b) => b !== "")) {
      const d = declared.get(base);
      if (d?.kind === "interface") out.push({ doc: d.doc, members: classMembers(className, d.block) });
    }
  }
  return out;
}

/** JS parameter list of a runtime function, when no source declaration is found. */
function runtimeSignature(name: string, value: unknown): string {
  if (typeof value !== "function") return name;
  const text = Function.prototype.toString.call(value);
  const open = text.indexOf("(");
  if (open < 0) return `${name}(...)`;
  return oneLine(`${name}${text.slice(open, closingIndex(text, open))}`);
}

function describeModule(namespace: object, source: string): ApiFunction[] {
  const declared = parseDeclarations(source);
  const names = Object.keys(namespace);
  // Source order reads better than alphabetical (related ops sit together); a runtime export
  // the parser did not see still gets listed, after the others.
  const order = [...declared.keys()];
  names.sort((a, b) => rank(order, a) - rank(order, b) || a.localeCompare(b));
  return names.map((name) => {
    const d = declared.get(name);
    return {
      name,
      signature: d && (d.kind === "function" || d.kind === "const") ? d.signature : runtimeSignature(name, (namespace as Record<string, unknown>)[name]),
      doc: d?.doc ?? "",
    };
  });
}

function rank(order: string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? Number.MAX_SAFE_INTEGER : i;
}

/**
 * Where each name re-exported by the engine's index.ts is declared: `export { a, b } from
 * "./x.ts"` maps a and b to x.ts; names declared in index.ts itself map to index.ts.
 */
function engineExportSources(): Map<string, string> {
  const index = readSource("../engine/index.ts");
  const files = new Map<string, string>();
  for (const m of index.matchAll(/export\s*\{([^}]*)\}\s*from\s*"\.\/([\w.-]+)"/g)) {
    for (const part of m[1]!.split(",")) {
      const spec = part.trim().replace(/^type\s+/, "");
      if (spec === "") continue;
      const [, original = spec, alias] = /^(\w+)(?:\s+as\s+(\w+))?$/.exec(spec) ?? [];
      files.set(alias ?? original, `${original}@${m[2]}`);
    }
  }
  return files;
}

/** The engine's API as train.ts sees it through "nightshift/engine". */
export function engineApi(): EngineApi {
  const opsSource = readSource("../engine/ops.ts");
  const optimSource = readSource("../engine/optim.ts");
  const indexSource = readSource("../engine/index.ts");
  const exportsAt = engineExportSources();
  const sources = new Map<string, string>();
  const sourceOf = (file: string) => {
    if (!sources.has(file)) sources.set(file, readSource(`../engine/${file}`));
    return sources.get(file)!;
  };

  const top: ApiFunction[] = [];
  const classes: ApiClass[] = [];
  for (const name of Object.keys(engine).sort()) {
    if (name === "ops" || name === "optim") continue;
    const value = (engine as Record<string, unknown>)[name];
    const at = exportsAt.get(name);
    const [original = name, file] = at ? at.split("@") : [name, undefined];
    const decl = parseDeclarations(file ? sourceOf(file) : indexSource).get(original);
    if (decl?.kind === "class") {
      const merged = mergedInterfaces(original, sourceOf);
      classes.push({
        name,
        doc: [decl.doc, ...merged.map((m) => m.doc)].filter((d) => d !== "").join(" "),
        members: [...classMembers(name, decl.block), ...merged.flatMap((m) => m.members)],
      });
      continue;
    }
    const signature = decl && (decl.kind === "function" || decl.kind === "const")
      ? decl.signature.replace(new RegExp(`^${original}\\b`), name)
      : runtimeSignature(name, value);
    top.push({ name, signature, doc: decl?.doc ?? "" });
  }

  const opsApi = describeModule(engine.ops, opsSource);
  const optimApi = describeModule(engine.optim, optimSource);
  const signatures = [...top, ...opsApi, ...optimApi, ...classes.flatMap((c) => c.members)].map((f) => f.signature);
  return {
    top,
    classes,
    ops: opsApi,
    optim: optimApi,
    types: referencedTypes(signatures, new Set(classes.map((c) => c.name))),
  };
}

const TYPE_ALIAS = /^(\/\*\*(?:(?!\*\/)[\s\S])*\*\/\n)?(?:export )?type (\w+)(?:<[^>]*>)? =[^;]+;/gm;

/**
 * The declarations of every type that the signatures mention, and of the types those mention,
 * found in the engine's source files (exported or not: `type Operand` is file-local but appears
 * in every arithmetic op's signature).
 */
function referencedTypes(signatures: string[], classNames: Set<string>): string[] {
  const engineDir = fileURLToPath(new URL("../engine/", import.meta.url));
  // ops.ts and optim.ts first (their option types matter most), in source order; then the rest.
  const fileRank = (file: string) => ["ops.ts", "optim.ts"].indexOf(file) >>> 0;
  const declared = new Map<string, { text: string; rank: number; at: number }>();
  for (const file of readdirSync(engineDir).filter((f) => f.endsWith(".ts"))) {
    const source = readSource(`../engine/${file}`);
    const add = (name: string, text: string) =>
      declared.set(name, { text: text.trim(), rank: fileRank(file), at: fileRank(file) < 2 ? source.indexOf(text) : 0 });
    for (const m of source.matchAll(TYPE_ALIAS)) add(m[2]!, m[0]);
    for (const d of parseDeclarations(source).values()) if (d.kind === "interface") add(d.name, d.block);
  }
  const wanted = new Set<string>();
  const queue = [...signatures];
  while (queue.length > 0) {
    for (const [name] of queue.pop()!.matchAll(/\b[A-Z]\w*\b/g)) {
      if (wanted.has(name) || classNames.has(name) || !declared.has(name)) continue;
      wanted.add(name);
      queue.push(declared.get(name)!.text);
    }
  }
  return [...wanted]
    .map((name) => ({ name, ...declared.get(name)! }))
    .sort((a, b) => a.rank - b.rank || a.at - b.at || a.name.localeCompare(b.name))
    .map((t) => t.text);
}
