/**
 * The report's small parts, each against what it must guarantee: unified-diff parsing (line
 * numbers, hunk ends, truncation), syntax colouring that keeps agent text escaped, Markdown
 * escaping and fences, the Markdown rewrite of templates, and the number formats.
 */
import Handlebars from "handlebars";
import MarkdownIt from "markdown-it";
import { describe, expect, it } from "vitest";
import { isEmptyDiff, parseUnifiedDiff, textDiff } from "../../src/report/diff.ts";
import { formatBpb, formatDuration, formatInterval, formatSigned, formatUsd } from "../../src/report/format.ts";
import { diffToHtml, splitHighlightedLines } from "../../src/report/highlight.ts";
import { escapeMarkdown, escapeMustachesForMarkdown, fence, tidyMarkdown } from "../../src/report/markdown.ts";

// What git prints when the line "-- b" is removed: a "--- b" that is no file header.
const GIT_DIFF = [
  "diff --git a/f.txt b/f.txt",
  "index e32e7f2..a3e1ab4 100644",
  "--- a/f.txt",
  "+++ b/f.txt",
  "@@ -1,3 +1,3 @@",
  " a",
  "--- b",
  " c",
  "+d",
  "\\ No newline at end of file",
  "",
].join("\n");

describe("parseUnifiedDiff", () => {
  it("numbers old and new lines and ends a hunk by its counts, not by a '--- ' line", () => {
    const view = parseUnifiedDiff(GIT_DIFF);
    expect(view.files).toHaveLength(1);
    expect(view.files[0]).toMatchObject({ oldPath: "f.txt", newPath: "f.txt" });
    const lines = view.files[0]!.hunks[0]!.lines;
    expect(lines.map((l) => [l.kind, l.oldNo, l.newNo, l.text])).toEqual([
      ["ctx", 1, 1, "a"],
      ["del", 2, null, "-- b"],
      ["ctx", 3, 2, "c"],
      ["add", null, 3, "d"],
      ["note", null, null, "No newline at end of file"],
    ]);
    expect(view).toMatchObject({ added: 1, removed: 1, omittedLines: 0 });
  });

  it("keeps at most maxLines hunk lines and counts the rest", () => {
    const before = Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n") + "\n";
    const after = Array.from({ length: 50 }, (_, i) => `LINE ${i}`).join("\n") + "\n";
    const view = textDiff("t.txt", before, after, 30);
    const shown = view.files.flatMap((f) => f.hunks.flatMap((h) => h.lines)).length;
    expect(shown).toBe(30);
    expect(view.omittedLines).toBe(70);
    expect(view.added).toBe(50);
    expect(view.text.split("\n").length).toBeLessThan(40);
  });

  it("reads jsdiff's patches (no 'diff --git' line) for program.md diffs", () => {
    const view = textDiff("program.md", "# org\nbe bold\n", "# org\nbe careful\n");
    expect(view.files[0]).toMatchObject({ oldPath: "program.md", newPath: "program.md" });
    expect(view).toMatchObject({ added: 1, removed: 1 });
  });

  it("tells an empty diff (the baseline's empty commit) from a real one", () => {
    expect(isEmptyDiff("")).toBe(true);
    expect(isEmptyDiff(null)).toBe(true);
    expect(isEmptyDiff(GIT_DIFF)).toBe(false);
  });
});

describe("syntax-coloured diffs", () => {
  it("closes and reopens spans at line breaks so every line stands alone", () => {
    const lines = splitHighlightedLines(`<span class="hljs-comment">/* a\nb */</span> x`);
    expect(lines).toEqual([`<span class="hljs-comment">/* a</span>`, `<span class="hljs-comment">b */</span> x`]);
  });

  it("colours TypeScript and keeps a <script> in the code as text", () => {
    const diff = textDiff("train.ts", "const a = 1;\n", `const a = 2; // <script>alert(1)</script>\n`);
    const html = diffToHtml(diff);
    expect(html).toContain(`<span class="hljs-keyword">const</span>`);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).not.toMatch(/<script/i);
  });
});

describe("Markdown escaping", () => {
  const md = new MarkdownIt({ html: true }); // the worst case: a renderer that passes raw HTML
  const inline = (s: string) => md.renderInline(escapeMarkdown(s));

  it("shows hostile text as the same text, never as HTML, emphasis, links or table cells", () => {
    for (const text of ["<script>alert(1)</script>", "*bold* and _em_", "[x](http://e.invalid)", "a | b", "`code`", "a\\b", "&lt; stays"]) {
      const rendered = inline(text);
      expect(rendered).not.toMatch(/<script|<em>|<strong>|<a |<code>/);
      // Decoding the rendered HTML gives the original text back.
      const decoded = rendered.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
      expect(decoded).toBe(text);
    }
  });

  it("leaves underscores inside words readable and puts line breaks on one line", () => {
    expect(escapeMarkdown("MATRIX_LR")).toBe("MATRIX_LR");
    expect(escapeMarkdown("a\nb")).toBe("a b");
  });

  it("fences code with more backticks than the code holds", () => {
    expect(fence("a ``` b", "text")).toBe("````text\na ``` b\n````");
    expect(fence("plain")).toBe("```\nplain\n```");
  });

  it("collapses blank lines left by hidden sections, but never inside a code block", () => {
    expect(tidyMarkdown("\n\n# a\n\n\n\nb\n```\nx\n\n\ny\n```\n\n\n")).toBe("# a\n\nb\n```\nx\n\n\ny\n```\n");
  });

  it("rewrites {{x}} of a Markdown template into an escape, and leaves {{{x}}} raw", () => {
    const env = Handlebars.create();
    env.registerHelper("md", (v: unknown) => escapeMarkdown(v));
    env.registerHelper("shout", (v: unknown) => String(v).toUpperCase());
    env.registerHelper("now", () => "<now>");
    const ast = escapeMustachesForMarkdown(Handlebars.parse("{{x}} {{{x}}} {{shout x}} {{now}} {{#each xs}}{{this}}{{/each}}"), new Set(["md", "shout", "now"]));
    const out = env.compile(ast)({ x: "<b>", xs: ["*"] });
    expect(out).toBe("\\<b\\> <b> \\<B\\> \\<now\\> \\*");
  });
});

describe("formats", () => {
  it("prints bpb, signed differences, money, durations and intervals the same everywhere", () => {
    expect(formatBpb(1.8)).toBe("1.800000");
    expect(formatBpb(null)).toBe("—");
    expect(formatSigned(-0.0012)).toBe("−0.001200");
    expect(formatSigned(0.0012)).toBe("+0.001200");
    expect(formatSigned(-0.0000001)).toBe("0.000000");
    expect(formatUsd(0.0421)).toBe("$0.0421");
    expect(formatUsd(12.5)).toBe("$12.50");
    expect(formatDuration(42)).toBe("42.0 s");
    expect(formatDuration(303)).toBe("5m 03s");
    expect(formatDuration(7620)).toBe("2h 07m");
    expect(formatInterval({ estimate: 0.004, low: 0.001, high: 0.007, level: 0.95 })).toBe("+0.004000 [+0.001000, +0.007000] (95%)");
  });
});
