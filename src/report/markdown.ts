/**
 * Markdown safety. In a Markdown template, every `{{value}}` is escaped for Markdown just as it
 * is escaped for HTML in an HTML template: the template's AST is rewritten so each escaped
 * mustache goes through escapeMarkdown (`{{x}}` → `{{md x}}`), and `{{{x}}}` stays raw for
 * helpers that build Markdown themselves (fence). Handlebars' own escaping cannot be swapped
 * per environment (it is module-global), hence the rewrite.
 *
 * escapeMarkdown keeps agent-written text text: HTML tags, emphasis, links and table pipes are
 * backslash-escaped (CommonMark lets any ASCII punctuation be escaped), line breaks become
 * spaces so a table row stays one row.
 */
import Handlebars from "handlebars";

type Node = hbs.AST.Node;

/** Escapes text for Markdown inline content (paragraphs, headings, table cells). */
export function escapeMarkdown(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Handlebars.SafeString) return value.toString();
  const text = String(value).replace(/\r?\n|\r/g, " ");
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "_") {
      // Inside a word (MATRIX_LR) an underscore cannot start emphasis: leave it readable.
      const inWord = /[\p{L}\p{N}]/u.test(text[i - 1] ?? "") && /[\p{L}\p{N}]/u.test(text[i + 1] ?? "");
      out += inWord ? c : "\\_";
    } else if (c === "&") {
      // Only an entity-like "&name;" would be decoded by a renderer.
      out += /^&(#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);/i.test(text.slice(i)) ? "&amp;" : c;
    } else if ("\\`*{}[]<>|~#!".includes(c)) out += "\\" + c;
    else out += c;
  }
  return out;
}

/** A fenced code block that no backtick run inside `text` can close early. */
export function fence(text: unknown, language = ""): string {
  const body = text === null || text === undefined ? "" : String(text).replace(/\s+$/, "");
  const longest = Math.max(0, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const marks = "`".repeat(Math.max(3, longest + 1));
  return `${marks}${language}\n${body}\n${marks}`;
}

/**
 * Collapses runs of blank lines outside code fences to one, and ends the text with one line
 * break: templates leave blank lines where an optional section was not shown.
 */
export function tidyMarkdown(text: string): string {
  const out: string[] = [];
  let fenceMarks: string | null = null;
  let blank = false;
  for (const line of text.split("\n")) {
    const opener = /^(`{3,}|~{3,})/.exec(line)?.[1];
    if (fenceMarks === null && opener) fenceMarks = opener;
    else if (fenceMarks !== null && line.trim() === fenceMarks) {
      out.push(line);
      fenceMarks = null;
      blank = false;
      continue;
    }
    if (fenceMarks === null && line.trim() === "") {
      if (blank || out.length === 0) continue;
      blank = true;
      out.push("");
      continue;
    }
    blank = false;
    out.push(line);
  }
  while (out.at(-1) === "") out.pop();
  return out.join("\n") + "\n";
}

function mdPath(loc: hbs.AST.SourceLocation): hbs.AST.PathExpression {
  return { type: "PathExpression", data: false, depth: 0, parts: ["md"], original: "md", loc } as hbs.AST.PathExpression;
}

/**
 * Rewrites every escaped `{{...}}` of a parsed template into `{{md (...)}}`, unescaped.
 * `knownHelpers` tells a bare `{{helperName}}` (a call) from a bare `{{field}}` (a lookup).
 */
export function escapeMustachesForMarkdown(program: hbs.AST.Program, knownHelpers: ReadonlySet<string>): hbs.AST.Program {
  const visit = (node: Node | null | undefined): void => {
    if (!node) return;
    switch (node.type) {
      case "Program":
        (node as hbs.AST.Program).body = (node as hbs.AST.Program).body.map(rewrite);
        break;
      case "BlockStatement":
      case "DecoratorBlock":
      case "PartialBlockStatement": {
        const block = node as hbs.AST.BlockStatement;
        visit(block.program);
        visit(block.inverse);
        break;
      }
    }
  };
  const rewrite = (statement: hbs.AST.Statement): hbs.AST.Statement => {
    visit(statement);
    if (statement.type !== "MustacheStatement") return statement;
    const m = statement as hbs.AST.MustacheStatement;
    if (!m.escaped) return m;
    const path = m.path as hbs.AST.PathExpression;
    const isBareLookup =
      m.params.length === 0 && !m.hash && !(path.type === "PathExpression" && knownHelpers.has(path.original));
    const inner: hbs.AST.Expression = isBareLookup
      ? m.path
      : ({ type: "SubExpression", path: m.path, params: m.params, hash: m.hash, loc: m.loc } as hbs.AST.SubExpression);
    const rewritten = { ...m, path: mdPath(m.loc), params: [inner], hash: undefined as unknown as hbs.AST.Hash, escaped: false };
    return rewritten as hbs.AST.MustacheStatement;
  };
  visit(program);
  return program;
}

