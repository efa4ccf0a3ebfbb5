/**
 * The research prompt an LLM agent starts from, and how it is kept under a token budget.
 *
 *   system = role and tool rules + the org's program.md + the lab's README.md
 *   user   = stable part:  the research memory (results of earlier runs) + train.ts (whole)
 *            varying part: the run's history as autoresearch's results.tsv + the request
 *            (with the crash log tail when asking for a fix)
 *
 * Caching. The system text depends only on program.md, the README and the budget, so it is
 * byte-identical for every call of a run: the providers' prompt caches can serve it (Anthropic
 * through cache_control breakpoints, see ../anthropic.ts; OpenAI caches repeated prefixes by
 * itself). The stable user part changes only when train.ts does (a kept experiment) and comes
 * next, so it is cached too; everything that changes per call (history, crash log) comes last.
 * Nothing that varies per call — history, seed, dates — may move into the system text.
 *
 * Budget (`contextTokenBudget`, tokens estimated as characters / 4: close for English with BPE
 * tokenizers; code is denser, about 3 to 3.5 characters per token, so for train.ts the estimate
 * runs up to ~25% low — the default budget leaves room for that). Fixed shares bound what grows:
 *   system   at most SHARES.system of the budget; only the README is cut (from its end) to fit
 *   memory   at most SHARES.memory; entries left out are counted ("N more not shown")
 *   history  at most SHARES.history; the newest rows are kept, a line counts the older ones
 * so input tokens per proposal do not grow with the length of the run. When train.ts and a
 * crash log push the whole over the budget: more of the oldest history rows are dropped, then
 * memory entries, then the crash log is cut from its start, keeping at least its last
 * MIN_LOG_CHARS characters (the error is at the end). program.md (the org's instructions) and
 * train.ts (edits must match it exactly) are never cut; if they alone exceed the budget the
 * prompt goes out over budget and the trim report says so. The budget covers this opening
 * prompt only; tool results and answers add to it turn by turn.
 */
import type { AgentContext, HistoryEntry, MemoryEntry, ResearchMemory } from "../types.ts";

export const CHARS_PER_TOKEN = 4;
/** Shares of the budget: the most the stable system text, the research memory and the history may take. */
export const SHARES = Object.freeze({ system: 0.45, memory: 0.08, history: 0.04 });
const MIN_LOG_CHARS = 1_000;
const MIN_README_CHARS = 500;
/** One memory entry's description, touched list and crash cause are clipped to these lengths. */
const MEMORY_DESCRIPTION_CHARS = 160;
const MEMORY_TOUCHED_CHARS = 160;
const MEMORY_REASON_CHARS = 120;

export const estimateTokens = (text: string): number => Math.ceil(text.length / CHARS_PER_TOKEN);

export interface ResearchPrompt {
  /** Role + program.md + README: the same bytes for every call of a run (the cached prefix). */
  system: string;
  /** The opening user message: `userStable` + `userVarying`. */
  user: string;
  /** Research memory + train.ts: the same until train.ts changes. */
  userStable: string;
  /** History, crash log and the request: new each call. */
  userVarying: string;
  /** What trimming did, for logs and tests. */
  trim: PromptTrim;
}

export interface PromptTrim {
  budgetTokens: number;
  estimatedTokens: number;
  historyShown: number;
  historyDropped: number;
  /** Memory entries shown, and left out (here or, `memory.omitted`, before the agent got it). */
  memoryShown: number;
  memoryOmitted: number;
  crashLogCutChars: number;
  readmeCutChars: number;
  /** program.md + train.ts alone exceed the budget: sent as they are. */
  overBudget: boolean;
}

const ROLE = `You are an autonomous ML researcher in a nightshift lab. The lab trains a small GPT from train.ts for a fixed wall-clock budget and measures validation bits per byte (val_bpb, lower is better). Each of your answers proposes ONE experiment: a change to train.ts that you expect to lower val_bpb.

You work only through tools:
- view_file(path): read train.ts (as edited so far), program.md or README.md. The prompt already holds all three: before your first edit, view_file("train.ts") only points you to the copy in the first message; after edits it shows the changed regions.
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

function renderUserStable(memorySection: string, trainTs: string): string {
  const memory = memorySection === "" ? "" : `${memorySection}\n\n`;
  return `${memory}train.ts as it stands now:\n<train.ts>\n${trainTs}\n</train.ts>\n\n`;
}

function renderUserVarying(rows: string[], dropped: number, crashLog: string | undefined): string {
  const parts: string[] = [];
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

// ---- research memory -------------------------------------------------------------------------

const MEMORY_GROUPS: readonly { title: string; outcomes: readonly MemoryEntry["outcome"][] }[] = [
  { title: "Verified real (keep building on these):", outcomes: ["real"] },
  { title: "Refuted by reruns (do not retry):", outcomes: ["noise", "negligible"] },
  { title: "Crashed (avoid, or fix the cause first):", outcomes: ["crash"] },
];

const MEMORY_HEAD =
  "Research memory: what earlier runs of this org, its ancestors and (shared) other orgs established, checked by reruns with fresh seeds. gain = how much lower val_bpb went, in bpb.\n<memory>";
const MEMORY_TAIL = "</memory>";

const clip = (text: string, max: number): string => {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

export function formatMemoryEntry(e: MemoryEntry): string {
  const from = e.source === "own" ? e.org : `${e.org} (${e.source})`;
  const where = e.night === null ? from : `night ${e.night}, ${from}`;
  const gain = e.gain === null || !Number.isFinite(e.gain) ? "" : ` gain ${e.gain >= 0 ? "+" : ""}${e.gain.toFixed(4)}`;
  const verdict = e.outcome === "noise" || e.outcome === "negligible" ? ` (${e.outcome})` : "";
  const touched = e.touched.length > 0 ? `; touched: ${clip(e.touched.join(", "), MEMORY_TOUCHED_CHARS)}` : "";
  const reason = e.reason ? `; cause: ${clip(e.reason, MEMORY_REASON_CHARS)}` : "";
  return `- ${where}:${gain}${verdict} — ${clip(e.description, MEMORY_DESCRIPTION_CHARS)}${touched}${reason}`;
}

interface RenderedMemory {
  /** The section, or "" when there is nothing to show. */
  text: string;
  shown: number;
  /** Entries left out here plus memory.omitted. */
  omitted: number;
}

/**
 * The memory as a grouped section of at most `maxChars` characters: entries are taken in the
 * order the memory gives them (its builder ranks them) while they fit, then shown by group.
 */
export function renderMemory(memory: ResearchMemory | undefined, maxChars: number): RenderedMemory {
  const entries = memory?.entries ?? [];
  const before = memory?.omitted ?? 0;
  if (entries.length === 0 && before === 0) return { text: "", shown: 0, omitted: 0 };
  const total = entries.length + before;
  const omittedLine = (n: number) => `(${n} more ${n === 1 ? "entry" : "entries"} not shown)`;
  // Everything but the entry lines, at its longest: head, tail, every group title, the omitted line.
  const overhead =
    MEMORY_HEAD.length + MEMORY_TAIL.length + MEMORY_GROUPS.reduce((n, g) => n + g.title.length + 1, 0) + omittedLine(total).length + 3;
  let room = maxChars - overhead;
  if (room <= 0) return { text: "", shown: 0, omitted: total };
  const chosen: { entry: MemoryEntry; line: string }[] = [];
  for (const entry of entries) {
    const line = formatMemoryEntry(entry);
    if (line.length + 1 > room) continue;
    room -= line.length + 1;
    chosen.push({ entry, line });
  }
  const omitted = total - chosen.length;
  const lines = [MEMORY_HEAD];
  for (const g of MEMORY_GROUPS) {
    const group = chosen.filter((c) => g.outcomes.includes(c.entry.outcome));
    if (group.length > 0) lines.push(g.title, ...group.map((c) => c.line));
  }
  if (omitted > 0) lines.push(omittedLine(omitted));
  lines.push(MEMORY_TAIL);
  return { text: lines.join("\n"), shown: chosen.length, omitted };
}

// ---- trimming --------------------------------------------------------------------------------

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

/** The system text within `maxChars`, cutting only the README; depends on nothing but its arguments. */
function fitSystem(programMd: string, readme: string, maxChars: number): { system: string; readmeCutChars: number } {
  const whole = renderSystem(programMd, readme);
  const overflow = whole.length - maxChars;
  if (overflow <= 0 || readme.length <= MIN_README_CHARS + CUT_MARKER_CHARS) return { system: whole, readmeCutChars: 0 };
  const keep = Math.max(MIN_README_CHARS, readme.length - overflow - CUT_MARKER_CHARS);
  return { system: renderSystem(programMd, keepHead(readme, keep)), readmeCutChars: readme.length - keep };
}

export function buildResearchPrompt(ctx: AgentContext, budgetTokens: number): ResearchPrompt {
  const budgetChars = budgetTokens * CHARS_PER_TOKEN;
  const { system, readmeCutChars } = fitSystem(ctx.programMd, ctx.labReadme, Math.floor(budgetChars * SHARES.system));
  let memory = renderMemory(ctx.memory, Math.floor(budgetChars * SHARES.memory));
  const rows = ctx.history.map(formatHistoryRow);
  const omitted = ctx.historyOmitted ?? 0;
  const crashLog = ctx.crashLog;

  // The newest rows that fit the history's share.
  let dropped = rows.length;
  for (let room = Math.floor(budgetChars * SHARES.history); dropped > 0 && rows[dropped - 1]!.length + 1 <= room; dropped--)
    room -= rows[dropped - 1]!.length + 1;

  // Everything but the history rows and the log text, measured once: rendered with the
  // "(N older experiments not shown)" line at its longest, so the sums below never undercount.
  // The slack covers rounding each part up to whole tokens.
  const SLACK_CHARS = 3 * CHARS_PER_TOKEN;
  const userVaryingFrame = renderUserVarying([], omitted + rows.length, crashLog === undefined ? undefined : "").length;
  const fixedChars = system.length + renderUserStable("", ctx.trainTs).length + userVaryingFrame + SLACK_CHARS;
  const rowChars = rows.slice(dropped).reduce((n, r) => n + r.length + 1, 0);
  // The memory section adds its own length plus the blank line after it.
  const memoryChars = () => (memory.text === "" ? 0 : memory.text.length + 2);
  let overflow = fixedChars + memoryChars() + rowChars + (crashLog?.length ?? 0) - budgetChars;

  while (overflow > 0 && dropped < rows.length) {
    overflow -= rows[dropped]!.length + 1;
    dropped++;
  }

  if (overflow > 0 && memory.text !== "") {
    const before = memoryChars();
    memory = renderMemory(ctx.memory, Math.max(0, memory.text.length - overflow));
    overflow -= before - memoryChars();
  }

  let log = crashLog;
  let crashLogCutChars = 0;
  if (overflow > 0 && log !== undefined && log.length > MIN_LOG_CHARS + CUT_MARKER_CHARS) {
    const cut = keepTail(log, Math.max(MIN_LOG_CHARS, log.length - overflow - CUT_MARKER_CHARS));
    overflow -= log.length - cut.text.length;
    log = cut.text;
    crashLogCutChars = cut.cut;
  }

  const userStable = renderUserStable(memory.text, ctx.trainTs);
  const userVarying = renderUserVarying(rows.slice(dropped), omitted + dropped, log);
  const estimatedTokens = estimateTokens(system) + estimateTokens(userStable) + estimateTokens(userVarying);
  return {
    system,
    user: userStable + userVarying,
    userStable,
    userVarying,
    trim: {
      budgetTokens,
      estimatedTokens,
      historyShown: rows.length - dropped,
      historyDropped: dropped,
      memoryShown: memory.shown,
      memoryOmitted: memory.omitted,
      crashLogCutChars,
      readmeCutChars,
      overBudget: estimatedTokens > budgetTokens,
    },
  };
}
