/**
 * The three tools an LLM agent works with, and the scratch copy of train.ts they act on.
 *
 *   view_file(path)            train.ts (with the edits applied so far), program.md, README.md;
 *                              what the opening prompt already holds is not sent again: train.ts
 *                              before any edit points to the prompt's copy, after edits it is the
 *                              diff from that copy (the whole file when the diff is not shorter)
 *   edit_file(search, replace) one exact search/replace on the scratch train.ts (applyEdits)
 *   submit(description, hypothesis)   ends the proposal; needs at least one applied edit
 *
 * Every tool call gets a result string the model reads: a failing edit, malformed arguments, an
 * unknown tool or a file outside the lab come back as error results (never exceptions) so the
 * model can correct itself within its turns. Nothing here touches the disk: the lab applies the
 * proposal later. Provider wire formats live in anthropic.ts / openai.ts, not here.
 */
import { EDITABLE_FILE, EditError, applyEdits } from "../edits.ts";
import type { AgentContext, Proposal, SearchReplaceEdit } from "../types.ts";
import { unifiedDiff } from "./line-diff.ts";

/** A tool as both providers describe it: a name, a description and a JSON Schema for its input. */
export interface ToolSpec {
  name: "view_file" | "edit_file" | "submit";
  description: string;
  parameters: {
    type: "object";
    properties: Record<string, { type: "string"; description: string; enum?: string[] }>;
    required: string[];
    additionalProperties: false;
  };
}

const VIEWABLE = ["train.ts", "program.md", "README.md"] as const;

export const RESEARCH_TOOLS: readonly ToolSpec[] = [
  {
    name: "view_file",
    description: "Read a file of the lab: train.ts (including your edits so far), program.md or README.md.",
    parameters: {
      type: "object",
      properties: { path: { type: "string", description: "Which file.", enum: [...VIEWABLE] } },
      required: ["path"],
      additionalProperties: false,
    },
  },
  {
    name: "edit_file",
    description:
      "Replace text in train.ts. `search` must occur exactly once in the current train.ts, whitespace included. Edits apply in order; a failing edit changes nothing and returns the reason.",
    parameters: {
      type: "object",
      properties: {
        search: { type: "string", description: "Exact text to find in train.ts (copy it from the file)." },
        replace: { type: "string", description: "The text to put in its place." },
      },
      required: ["search", "replace"],
      additionalProperties: false,
    },
  },
  {
    name: "submit",
    description: "Finish this proposal once your edits are in.",
    parameters: {
      type: "object",
      properties: {
        description: { type: "string", description: "One short line saying what the experiment changes." },
        hypothesis: { type: "string", description: "Why this should lower val_bpb." },
      },
      required: ["description", "hypothesis"],
      additionalProperties: false,
    },
  },
];

/** A tool call as the model sent it; `arguments` is the raw JSON text, parsed here. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface ToolOutcome {
  content: string;
  isError: boolean;
}

/** Counts of what went wrong in a conversation, for logs. */
export interface SessionStats {
  malformedArguments: number;
  rejectedEdits: number;
  appliedEdits: number;
}

const MAX_DESCRIPTION_CHARS = 200;

/** What the opening prompt holds whole (train.ts and program.md always; the README unless cut). */
export interface PromptHolds {
  readmeInPrompt: boolean;
}

export class EditSession {
  readonly #original: string;
  readonly #files: Record<string, string>;
  readonly #holds: PromptHolds;
  readonly #inPrompt: boolean;
  #scratch: string;
  readonly applied: SearchReplaceEdit[] = [];
  submission: { description: string; hypothesis: string } | null = null;
  readonly stats: SessionStats = { malformedArguments: 0, rejectedEdits: 0, appliedEdits: 0 };

  /** `holds`: what the conversation's opening prompt carries whole; absent, nothing (view_file sends whole files). */
  constructor(ctx: Pick<AgentContext, "trainTs" | "programMd" | "labReadme">, holds?: PromptHolds) {
    this.#holds = holds ?? { readmeInPrompt: false };
    this.#inPrompt = holds !== undefined;
    this.#original = ctx.trainTs;
    this.#scratch = ctx.trainTs;
    this.#files = { "program.md": ctx.programMd, "README.md": ctx.labReadme };
  }

  /** train.ts with the edits applied so far. */
  get current(): string {
    return this.#scratch;
  }

  handle(call: ToolCall): ToolOutcome {
    let args: unknown;
    try {
      args = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments);
    } catch (err) {
      this.stats.malformedArguments++;
      const why = err instanceof Error ? err.message : String(err);
      return fail(`the arguments of ${call.name} are not valid JSON (${why}); call it again with a JSON object`);
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      this.stats.malformedArguments++;
      return fail(`the arguments of ${call.name} must be a JSON object`);
    }
    const a = args as Record<string, unknown>;
    switch (call.name) {
      case "view_file":
        return this.#view(a);
      case "edit_file":
        return this.#edit(a);
      case "submit":
        return this.#submit(a);
      default:
        return fail(`unknown tool '${call.name}'; the tools are ${RESEARCH_TOOLS.map((t) => t.name).join(", ")}`);
    }
  }

  #view(a: Record<string, unknown>): ToolOutcome {
    if (typeof a.path !== "string") return this.#malformed("view_file needs a string argument 'path'");
    const path = a.path.trim().replace(/^\.\//, "");
    if (path === EDITABLE_FILE) return ok(this.#viewTrainTs());
    const name = VIEWABLE.find((f) => f.toLowerCase() === path.toLowerCase());
    if (name && name !== EDITABLE_FILE) {
      const whole = this.#inPrompt && (name === "program.md" || this.#holds.readmeInPrompt);
      return ok(whole ? `${name} is unchanged and in full in the system prompt (the <${name}> block); read it there.` : this.#files[name]!);
    }
    return fail(`view_file: '${a.path}' cannot be viewed; the files are ${VIEWABLE.join(", ")}`);
  }

  /**
   * train.ts as the model needs it: the prompt's copy is not sent again (it costs its whole
   * length in input tokens on every later turn); after edits, only what changed.
   */
  #viewTrainTs(): string {
    if (!this.#inPrompt) return this.#scratch;
    const lines = this.#scratch.split("\n").length;
    if (this.#scratch === this.#original)
      return `train.ts is unchanged since the prompt: its whole current text (${lines} lines) is the <train.ts> block of the first message. Copy edit_file's search text from there.`;
    const diff = unifiedDiff(this.#original, this.#scratch);
    const edits = `${this.applied.length} applied edit${this.applied.length === 1 ? "" : "s"}`;
    if (diff.length >= this.#scratch.length / 2) return `train.ts with your ${edits}, whole (${lines} lines):\n${this.#scratch}`;
    return `train.ts is the <train.ts> block of the first message with your ${edits}. The changed regions as a unified diff (-: the prompt's copy, +: train.ts now, with their line numbers); every other line is as in the prompt:\n${diff}`;
  }

  #edit(a: Record<string, unknown>): ToolOutcome {
    if (typeof a.search !== "string" || typeof a.replace !== "string")
      return this.#malformed("edit_file needs string arguments 'search' and 'replace'");
    // The tool has no file parameter, but a model may still name one; it must then be train.ts,
    // so an edit meant for another file is rejected rather than silently applied to train.ts.
    const named = typeof a.path === "string" ? a.path : typeof a.file === "string" ? a.file : EDITABLE_FILE;
    const edit: SearchReplaceEdit = { file: named, search: a.search, replace: a.replace };
    try {
      this.#scratch = applyEdits(this.#scratch, [edit]);
    } catch (err) {
      if (!(err instanceof EditError)) throw err;
      this.stats.rejectedEdits++;
      return fail(`edit rejected (${err.code}): ${err.message}. train.ts is unchanged.`);
    }
    // Stored as train.ts: applyEdits accepted the name, and "./train.ts" means the same file.
    this.applied.push({ ...edit, file: EDITABLE_FILE });
    this.stats.appliedEdits++;
    return ok(`edit applied; ${this.applied.length} edit(s) so far. Make more edits or call submit.`);
  }

  #submit(a: Record<string, unknown>): ToolOutcome {
    if (typeof a.description !== "string" || typeof a.hypothesis !== "string")
      return this.#malformed("submit needs string arguments 'description' and 'hypothesis'");
    const description = a.description.replace(/\s+/g, " ").trim().slice(0, MAX_DESCRIPTION_CHARS);
    const hypothesis = a.hypothesis.trim();
    if (description === "") return fail("submit: the description is empty; give one short line");
    if (this.applied.length === 0)
      return fail("submit rejected: no edit has applied yet; change train.ts with edit_file first");
    this.submission = { description, hypothesis };
    return ok("submitted");
  }

  #malformed(message: string): ToolOutcome {
    this.stats.malformedArguments++;
    return fail(message);
  }

  /**
   * The submitted proposal, its edits re-validated together against the original train.ts
   * (they applied one by one to the scratch copy; this checks the sequence the lab will apply).
   */
  proposal(): Proposal {
    if (!this.submission) throw new Error("EditSession.proposal() before submit");
    const replayed = applyEdits(this.#original, this.applied);
    if (replayed !== this.#scratch) throw new Error("the edits do not replay to the same train.ts");
    return { edits: this.applied.map((e) => ({ ...e })), ...this.submission };
  }
}

const ok = (content: string): ToolOutcome => ({ content, isError: false });
const fail = (content: string): ToolOutcome => ({ content: `error: ${content}`, isError: true });
