/**
 * Diffs for the report: a unified diff (git's, as the lab stores it per experiment, or one made
 * here between two program.md texts) parsed into files, hunks and numbered lines — plain data
 * that the HTML helpers colour and the Markdown templates print as a ```diff block. Parsing
 * never throws on odd input: a line it cannot place is kept as a note, so a report always
 * shows what the store holds.
 */
import { createTwoFilesPatch } from "diff";
import type { DiffFile, DiffHunk, DiffLine, DiffView } from "./types.ts";

/** Hunk lines shown per diff; the rest is counted in omittedLines (a report, not a patch). */
export const MAX_DIFF_LINES = 400;

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

function stripPrefix(path: string): string {
  const p = path.replace(/\t.*$/, ""); // some tools append a tab and a timestamp
  return p === "/dev/null" ? p : p.replace(/^[ab]\//, "");
}

/**
 * Parses a unified diff; at most `maxLines` hunk lines are kept. A hunk ends when the line
 * counts of its @@ header are used up, so a removed line that reads "-- x" is never taken for
 * the next file's "--- x" header.
 */
export function parseUnifiedDiff(text: string, maxLines = MAX_DIFF_LINES): DiffView {
  const files: DiffFile[] = [];
  let file: DiffFile | null = null;
  let hunk: DiffHunk | null = null;
  let lastHunk: DiffHunk | null = null;
  let oldNo = 0;
  let newNo = 0;
  let oldLeft = 0;
  let newLeft = 0;
  let kept = 0;
  let omitted = 0;
  let added = 0;
  let removed = 0;
  let cutAt = -1; // index of the first raw line left out of `text`
  const raw = text.replace(/\r\n/g, "\n").split("\n");
  if (raw.at(-1) === "") raw.pop();

  const push = (h: DiffHunk, entry: DiffLine, index: number) => {
    if (kept >= maxLines) {
      if (cutAt < 0) cutAt = index;
      omitted++;
      return;
    }
    kept++;
    h.lines.push(entry);
  };

  raw.forEach((line, index) => {
    if (hunk !== null) {
      const marker = line[0] ?? " ";
      if (marker === "+" && newLeft > 0) {
        added++;
        newLeft--;
        push(hunk, { kind: "add", oldNo: null, newNo: newNo++, text: line.slice(1) }, index);
      } else if (marker === "-" && oldLeft > 0) {
        removed++;
        oldLeft--;
        push(hunk, { kind: "del", oldNo: oldNo++, newNo: null, text: line.slice(1) }, index);
      } else if (marker === "\\") {
        push(hunk, { kind: "note", oldNo: null, newNo: null, text: line.slice(1).trim() }, index);
      } else if ((marker === " " || line === "") && oldLeft > 0 && newLeft > 0) {
        // Context (an empty line is context whose trailing space an editor removed).
        oldLeft--;
        newLeft--;
        push(hunk, { kind: "ctx", oldNo: oldNo++, newNo: newNo++, text: line.slice(1) }, index);
      } else {
        hunk = null; // a malformed count: fall through to the header rules
      }
      if (hunk !== null) {
        if (oldLeft === 0 && newLeft === 0) hunk = null;
        return;
      }
    }
    if (line.startsWith("diff --git ")) {
      const m = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
      file = { oldPath: m?.[1] ?? "", newPath: m?.[2] ?? "", hunks: [] };
      files.push(file);
      lastHunk = null;
    } else if (line.startsWith("--- ")) {
      // A new file without a "diff --git" line (jsdiff, diff -u), or the old name of this one.
      const path = stripPrefix(line.slice(4));
      if (file === null || file.hunks.length > 0) {
        file = { oldPath: path, newPath: path, hunks: [] };
        files.push(file);
        lastHunk = null;
      } else file.oldPath = path;
    } else if (line.startsWith("+++ ") && file !== null) {
      file.newPath = stripPrefix(line.slice(4));
    } else if (line.startsWith("\\") && lastHunk !== null) {
      push(lastHunk, { kind: "note", oldNo: null, newNo: null, text: line.slice(1).trim() }, index);
    } else {
      const m = HUNK_HEADER.exec(line);
      if (!m) return; // index, mode and rename lines: the file names say enough
      if (file === null) {
        file = { oldPath: "", newPath: "", hunks: [] };
        files.push(file);
      }
      hunk = { header: line, lines: [] };
      lastHunk = hunk;
      file.hunks.push(hunk);
      oldNo = Number(m[1]);
      newNo = Number(m[3]);
      oldLeft = m[2] === undefined ? 1 : Number(m[2]);
      newLeft = m[4] === undefined ? 1 : Number(m[4]);
      if (oldLeft === 0 && newLeft === 0) hunk = null;
    }
  });

  return {
    files: files.filter((f) => f.hunks.length > 0),
    added,
    removed,
    omittedLines: omitted,
    text: (cutAt < 0 ? raw : raw.slice(0, cutAt)).join("\n"),
  };
}

/** The diff between two texts (e.g. a parent's and a child's program.md), as a DiffView. */
export function textDiff(name: string, before: string, after: string, maxLines = MAX_DIFF_LINES): DiffView {
  const patch = createTwoFilesPatch(`a/${name}`, `b/${name}`, before, after, undefined, undefined, { context: 3 });
  // jsdiff opens with an "Index:"/"====" banner that git does not write; the parser skips it.
  return parseUnifiedDiff(patch, maxLines);
}

/** True when a stored diff changes nothing (the baseline's empty commit). */
export function isEmptyDiff(diff: string | null): boolean {
  if (diff === null || diff.trim() === "") return true;
  const view = parseUnifiedDiff(diff, 0);
  return view.added + view.removed === 0;
}
