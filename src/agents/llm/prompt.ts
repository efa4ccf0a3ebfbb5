/**
 * The research prompt an LLM agent starts from, and how it is kept under a token budget.
 *
 *   system = role and tool rules + the org's program.md + the lab's README.md
 *   user   = train.ts (whole) + the run's history as autoresearch's results.tsv
 *            + the crash log tail when asking for a fix
 *
 * Trimming (budget = `contextTokenBudget`, tokens estimated as characters / 4: close for
 * English with BPE tokenizers; code is denser, about 3 to 3.5 characters per token, so for
 * train.ts the estimate runs up to ~25% low — the default budget leaves room for that):
 *   1. the oldest history rows are dropped first (a line says how many), newest kept;
 *   2. then the crash log is cut from its start, keeping at least its last MIN_LOG_CHARS
 *      characters (the error is at the end);
 *   3. then the README is cut from its end (reference material, least specific to this run).
 * program.md (the org's instructions) and train.ts (edits must match it exactly) are never cut;
 * if they alone exceed the budget the prompt goes out over budget and the report says so.
 * The budget covers this opening prompt only; tool results and answers add to it turn by turn.
 */
import type { AgentContext, HistoryEntry } from "../types.ts";

export const CHARS_PER_TOKEN = 4;
const MIN_LOG_CHARS = 1_000;
const MIN_README_CHARS = 500;

export const estimateTokens = (text: string): number => Math.ceil(text.length / CHARS_PER_TOKEN);

export interface ResearchPrompt {
  system: string;
  user: string;
  /** What trimming did, for logs and tests. */
  trim: PromptTrim;
}

export interface PromptTrim {
  budgetTokens: number;
  estimatedTokens: number;
  historyShown: number;
  historyDropped: number;
  crashLogCutChars: number;
  readmeCutChars: number;
  /** program.md + train.ts alone exceed the budget: sent as they are. */
  overBudget: boolean;
}

const ROLE = `You are an autonomous ML researcher in a nightshift lab. The lab trains a small GPT from train.ts for a fixed wall-clock budget and measures validation bits per byte (val_bpb, lower is better). Each of your answers proposes ONE experiment: a change to train.ts that you expect to lower val_bpb.

You work only through tools:
- view_file(path): read train.ts (as edited so far), program.md or README.md.
- edit_file(search, replace): replace text in train.ts. \`search\` must occur exactly once in the current train.ts, whitespace included; copy it from the file. Edits apply in order, each to the result of the previous ones. A failing edit changes nothing and its error tells you why; correct it and try again.
- submit(description, hypothesis): end the proposal once your edits are in. description: one short line for results.tsv; hypothesis: why it should lower val_bpb.
You cannot run code; the lab commits your edits, trains, measures and keeps or discards the result. Only train.ts may change.`;

export function formatHistoryRow(h: HistoryEntry): string {
  const bpb = h.val_bpb === null || !Number.isFinite(h.val_bpb) ? "0.000000" : h.val_bpb.toFixed(6);
  const desc = h.description.replace(/[\t\r\n]+/g, " ").trim();
  return `${h.commit.slice(0, 7)}\t${bpb}\t${h.memory_gb.toFixed(1)}\t${h.status}\t${desc}`;
}

const TSV_HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription";

function renderSystem(programMd: string, readme: string): string {
  return `${ROLE}\n\n<program.md>\n${programMd.trimEnd()}\n</program.md>\n\n<README.md>\n${readme.trimEnd()}\n</README.md>\n`;
}

function renderUser(trainTs: string, rows: string[], dropped: number, crashLog: string | undefined): string {
  const parts = [`train.ts as it stands now:\n<train.ts>\n${trainTs}\n</train.ts>`];
  if (rows.length === 0 && dropped === 0) {
    parts.push("History of this run: no experiments yet.");
  } else {
    const omitted = dropped > 0 ? `(${dropped} older experiments not shown)\n` : "";
    parts.push(
      `History of this run, oldest first (results.tsv; val_bpb 0.000000 = no result; status invalid = the harness caught the model looking ahead at future tokens, or answering differently for the same rows):\n<results.tsv>\n${omitted}${[TSV_HEADER, ...rows].join("\n")}\n</results.tsv>`,
    );
  }
  if (crashLog !== undefined) {
    parts.push(
      `The experiment with this train.ts crashed. The end of its log:\n<crash-log>\n${crashLog.trimEnd()}\n</crash-log>\nFix the crash with edit_file (keep the experiment's idea if it can work), then submit.`,
    );
  } else {
    parts.push("Propose the next experiment: edit train.ts with edit_file, then call submit.");
  }
  return parts.join("\n\n") + "\n";
}

/** Room for the "[… N characters cut]" marker a cut adds. */
const CUT_MARKER_CHARS = 48;

/** The end of `text`, about `keep` characters, starting at a line when one starts near the cut. */
function keepTail(text: string, keep: number): { text: string; cut: number } {
  let tail = text.slice(text.length - keep);
  const nl = tail.indexOf("\n");
  if (nl >= 0 && nl < 200) tail = tail.slice(nl + 1);
  const cut = text.length - tail.length;
  return { text: `[… ${cut} earlier characters cut]\n${tail}`, cut };
}

function keepHead(text: string, keep: number): string {
  return `${text.slice(0, keep)}\n[… ${text.length - keep} more characters cut]`;
}

export function buildResearchPrompt(ctx: AgentContext, budgetTokens: number): ResearchPrompt {
  const budgetChars = budgetTokens * CHARS_PER_TOKEN;
  const rows = ctx.history.map(formatHistoryRow);
  const omitted = ctx.historyOmitted ?? 0;
  const crashLog = ctx.crashLog;
  let readme = ctx.labReadme;

  // Everything but the history rows and the log text, measured once: rendered with the
  // "(N older experiments not shown)" line at its longest, so the sums below never undercount.
  // The slack covers rounding each part up to whole tokens.
  const SLACK_CHARS = 2 * CHARS_PER_TOKEN;
  const fixedChars =
    renderSystem(ctx.programMd, readme).length +
    renderUser(ctx.trainTs, [], omitted + rows.length, crashLog === undefined ? undefined : "").length +
    SLACK_CHARS;
  const rowChars = rows.reduce((n, r) => n + r.length + 1, 0);
  let overflow = fixedChars + rowChars + (crashLog?.length ?? 0) - budgetChars;

  let dropped = 0;
  while (overflow > 0 && dropped < rows.length) {
    overflow -= rows[dropped]!.length + 1;
    dropped++;
  }

  let log = crashLog;
  let crashLogCutChars = 0;
  if (overflow > 0 && log !== undefined && log.length > MIN_LOG_CHARS + CUT_MARKER_CHARS) {
    const cut = keepTail(log, Math.max(MIN_LOG_CHARS, log.length - overflow - CUT_MARKER_CHARS));
    overflow -= log.length - cut.text.length;
    log = cut.text;
    crashLogCutChars = cut.cut;
  }

  let readmeCutChars = 0;
  if (overflow > 0 && readme.length > MIN_README_CHARS + CUT_MARKER_CHARS) {
    const keep = Math.max(MIN_README_CHARS, readme.length - overflow - CUT_MARKER_CHARS);
    readmeCutChars = readme.length - keep;
    readme = keepHead(readme, keep);
  }

  const system = renderSystem(ctx.programMd, readme);
  const user = renderUser(ctx.trainTs, rows.slice(dropped), omitted + dropped, log);
  const estimatedTokens = estimateTokens(system) + estimateTokens(user);
  return {
    system,
    user,
    trim: {
      budgetTokens,
      estimatedTokens,
      historyShown: rows.length - dropped,
      historyDropped: dropped,
      crashLogCutChars,
      readmeCutChars,
      overBudget: estimatedTokens > budgetTokens,
    },
  };
}
