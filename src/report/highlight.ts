/**
 * Syntax-coloured diffs for the HTML report. Each side of a hunk (context + removed lines, and
 * context + added lines) is highlighted as one piece of source by highlight.js, so a comment or
 * a template string that spans lines is coloured right, then split back into lines. The output
 * is HTML built only from highlight.js's escaped text and its class-only <span>s: agent-written
 * diffs can hold `<script>` and it stays text.
 */
import hljs from "highlight.js/lib/core";
import markdown from "highlight.js/lib/languages/markdown";
import typescript from "highlight.js/lib/languages/typescript";
import type { DiffHunk, DiffLine, DiffView } from "./types.ts";

hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("markdown", markdown);

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** The highlight.js language for a file, or null to show it uncoloured. */
export function languageFor(path: string): string | null {
  if (/\.(m|c)?[jt]sx?$/.test(path)) return "typescript";
  if (/\.(md|markdown)$/i.test(path)) return "markdown";
  return null;
}

/**
 * Splits highlighted HTML into lines, closing the <span>s open at each line break and opening
 * them again on the next line, so every line is well-formed on its own.
 */
export function splitHighlightedLines(html: string): string[] {
  const lines: string[] = [];
  const open: string[] = [];
  let current = "";
  for (const m of html.matchAll(/<span[^>]*>|<\/span>|\n|[^<\n]+/g)) {
    const token = m[0];
    if (token === "\n") {
      lines.push(current + "</span>".repeat(open.length));
      current = open.join("");
    } else if (token === "</span>") {
      open.pop();
      current += token;
    } else {
      if (token.startsWith("<span")) open.push(token);
      current += token;
    }
  }
  lines.push(current + "</span>".repeat(open.length));
  return lines;
}

function highlightSide(lines: DiffLine[], language: string | null): string[] {
  const code = lines.map((l) => l.text).join("\n");
  if (language === null) return lines.map((l) => escapeHtml(l.text));
  const out = splitHighlightedLines(hljs.highlight(code, { language, ignoreIllegals: true }).value);
  // highlight.js keeps every line break, so the counts agree; if they ever did not, plain text.
  return out.length === lines.length ? out : lines.map((l) => escapeHtml(l.text));
}

/** The coloured HTML of one line per hunk line, in the hunk's order. */
function highlightHunk(hunk: DiffHunk, language: string | null): string[] {
  const before = hunk.lines.filter((l) => l.kind === "ctx" || l.kind === "del");
  const after = hunk.lines.filter((l) => l.kind === "ctx" || l.kind === "add");
  const oldHtml = highlightSide(before, language);
  const newHtml = highlightSide(after, language);
  let o = 0;
  let n = 0;
  return hunk.lines.map((l) => {
    if (l.kind === "del") return oldHtml[o++]!;
    if (l.kind === "add") return newHtml[n++]!;
    if (l.kind === "ctx") {
      o++;
      return newHtml[n++]!;
    }
    return escapeHtml(l.text);
  });
}

const MARKERS = { add: "+", del: "-", ctx: " ", note: "\\" } as const;

/** A DiffView as coloured HTML: one <pre> per file, line numbers, +/- markers. */
export function diffToHtml(view: DiffView): string {
  if (view.files.length === 0) return `<p class="diff-empty">no change to the code</p>`;
  const parts: string[] = [];
  for (const file of view.files) {
    const path = file.newPath === "/dev/null" ? file.oldPath : file.newPath;
    const language = languageFor(path);
    parts.push(`<div class="diff"><div class="diff-file">${escapeHtml(path)}</div><pre><code>`);
    for (const hunk of file.hunks) {
      // Lines are display:block spans, so no "\n" between them (it would double the spacing).
      parts.push(`<span class="dl dl-hunk">${escapeHtml(hunk.header)}</span>`);
      const html = highlightHunk(hunk, language);
      hunk.lines.forEach((l, i) => {
        const oldNo = l.oldNo === null ? "" : String(l.oldNo);
        const newNo = l.newNo === null ? "" : String(l.newNo);
        parts.push(
          `<span class="dl dl-${l.kind}"><span class="ln">${oldNo}</span><span class="ln">${newNo}</span>` +
            `<span class="mk">${MARKERS[l.kind]}</span>${html[i]}</span>`,
        );
      });
    }
    parts.push(`</code></pre></div>`);
  }
  if (view.omittedLines > 0)
    parts.push(`<p class="diff-more">… ${view.omittedLines} more diff lines not shown</p>`);
  return parts.join("");
}
