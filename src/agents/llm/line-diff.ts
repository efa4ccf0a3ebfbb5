/**
 * A unified diff of two versions of a text file, small enough to send to a model instead of the
 * whole file: what view_file("train.ts") answers after edits (tools.ts). Lines are compared
 * exactly; the middle that differs is aligned by a longest common subsequence of lines.
 * Not a general diff tool: no options, no binary files, no "\ No newline at end of file".
 */

/** The largest middle section (lines × lines) aligned line by line; past it, one block replaces the other. */
const MAX_LCS_CELLS = 4_000_000;

type Op = { kind: " " | "-" | "+"; line: string };

/** The middle ops: an LCS alignment of a and b (small inputs), else all of a removed then b added. */
function alignLines(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_LCS_CELLS) return [...a.map((line): Op => ({ kind: "-", line })), ...b.map((line): Op => ({ kind: "+", line }))];
  // lcs[i][j]: LCS length of a[i..] and b[j..], stored row-major in one array of (n+1)(m+1).
  const width = m + 1;
  const lcs = new Int32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i * width + j] = a[i] === b[j] ? lcs[(i + 1) * width + j + 1]! + 1 : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ kind: " ", line: a[i]! });
      i++;
      j++;
    } else if (lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!) ops.push({ kind: "-", line: a[i++]! });
    else ops.push({ kind: "+", line: b[j++]! });
  }
  while (i < n) ops.push({ kind: "-", line: a[i++]! });
  while (j < m) ops.push({ kind: "+", line: b[j++]! });
  return ops;
}

/**
 * The unified diff from `before` to `after` with `context` lines around each change, as hunks
 * ("@@ -l,s +l,s @@" then " ", "-", "+" lines); "" when they are equal.
 */
export function unifiedDiff(before: string, after: string, context = 2): string {
  if (before === after) return "";
  const a = before.split("\n");
  const b = after.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const ops: Op[] = [
    ...a.slice(0, head).map((line): Op => ({ kind: " ", line })),
    ...alignLines(a.slice(head, a.length - tail), b.slice(head, b.length - tail)),
    ...a.slice(a.length - tail).map((line): Op => ({ kind: " ", line })),
  ];

  // Which ops are shown: every change and `context` unchanged lines either side.
  const shown = new Uint8Array(ops.length);
  ops.forEach((op, k) => {
    if (op.kind === " ") return;
    for (let d = Math.max(0, k - context); d <= Math.min(ops.length - 1, k + context); d++) shown[d] = 1;
  });
  const hunks: string[] = [];
  let lineA = 1;
  let lineB = 1;
  for (let k = 0; k < ops.length; ) {
    if (!shown[k]) {
      if (ops[k]!.kind !== "+") lineA++;
      if (ops[k]!.kind !== "-") lineB++;
      k++;
      continue;
    }
    const startA = lineA;
    const startB = lineB;
    const body: string[] = [];
    for (; k < ops.length && shown[k]; k++) {
      const op = ops[k]!;
      body.push(`${op.kind}${op.line}`);
      if (op.kind !== "+") lineA++;
      if (op.kind !== "-") lineB++;
    }
    const countA = lineA - startA;
    const countB = lineB - startB;
    hunks.push(`@@ -${countA === 0 ? startA - 1 : startA},${countA} +${countB === 0 ? startB - 1 : startB},${countB} @@\n${body.join("\n")}`);
  }
  return hunks.join("\n");
}
