/**
 * The meta-agent's data: the meta prompts of a tournament (the instruction text an LLM
 * meta-agent breeds orgs with, versioned with lineage, Promptbreeder-style) and the ledger rows
 * of calls that belong to no run (the meta-agent's), which go to agent_calls with run_id NULL.
 */
import { createHash } from "node:crypto";
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid, sqliteCode } from "./errors.ts";
import { getTournament } from "./tournaments.ts";
import type { AgentCallRecord, MetaPrompt, NewAgentCall, NewMetaPrompt } from "./types.ts";
import { checkAmount, checkCount, checkId, checkText, optionalText } from "./validate.ts";

interface MetaPromptRow {
  id: number;
  tournament_id: number;
  parent_id: number | null;
  generation: number;
  night: number | null;
  prompt: string;
  prompt_hash: string;
  note: string | null;
  model: string | null;
  created_at: string;
}

const toMetaPrompt = (r: MetaPromptRow): MetaPrompt => ({
  id: r.id,
  tournamentId: r.tournament_id,
  parentId: r.parent_id,
  generation: r.generation,
  night: r.night,
  prompt: r.prompt,
  promptHash: r.prompt_hash,
  note: r.note,
  model: r.model,
  createdAt: r.created_at,
});

/** Stores a meta prompt; with a parent, one generation below it (a hyper-mutation of `night`). */
export function recordMetaPrompt(ctx: StoreContext, input: NewMetaPrompt): MetaPrompt {
  const where = "recordMetaPrompt";
  checkKeys(where, input, ["tournamentId", "parentId", "night", "prompt", "note", "model"]);
  const tournamentId = checkId(where, "tournamentId", input.tournamentId);
  const parentId = input.parentId === undefined ? null : checkId(where, "parentId", input.parentId);
  const night = input.night === undefined ? null : checkCount(where, "night", input.night);
  if (night === 0) invalid(`${where}: night must be at least 1`);
  const prompt = ctx.redactor.text(checkText(where, "prompt", input.prompt, { nonEmpty: true }));
  const note = ctx.redactor.text(optionalText(where, "note", input.note));
  const model = optionalText(where, "model", input.model);
  const hash = createHash("sha256").update(prompt).digest("hex");
  return ctx.write(where, () => {
    getTournament(ctx, tournamentId);
    let generation = 0;
    if (parentId !== null) {
      const parent = getMetaPrompt(ctx, parentId);
      if (parent.tournamentId !== tournamentId) invalid(`${where}: meta prompt ${parentId} belongs to another tournament`);
      generation = parent.generation + 1;
    }
    try {
      const row = ctx
        .stmt(
          `INSERT INTO meta_prompts (tournament_id, parent_id, generation, night, prompt, prompt_hash, note, model, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(tournamentId, parentId, generation, night, prompt, hash, note, model, ctx.now()) as MetaPromptRow;
      return toMetaPrompt(row);
    } catch (err) {
      if (sqliteCode(err) === "SQLITE_CONSTRAINT_UNIQUE")
        throw new StoreError("STORE_CONFLICT", `${where}: night ${night} of tournament ${tournamentId} already has a meta prompt`);
      throw err;
    }
  });
}

export function getMetaPrompt(ctx: StoreContext, id: number): MetaPrompt {
  checkId("getMetaPrompt", "id", id);
  const row = ctx.stmt("SELECT * FROM meta_prompts WHERE id = ?").get(id) as MetaPromptRow | undefined;
  if (!row) throw new StoreError("STORE_INVALID_ARGUMENT", `no meta prompt with id ${id}`);
  return toMetaPrompt(row);
}

/** Every meta prompt of a tournament, oldest first; the last is the current one. */
export function listMetaPrompts(ctx: StoreContext, tournamentId: number): MetaPrompt[] {
  checkId("listMetaPrompts", "tournamentId", tournamentId);
  return (ctx.stmt("SELECT * FROM meta_prompts WHERE tournament_id = ? ORDER BY id").all(tournamentId) as MetaPromptRow[]).map(toMetaPrompt);
}

// ---- calls that belong to no run --------------------------------------------------------------

interface CallRow {
  id: number;
  run_id: number | null;
  experiment_id: number | null;
  purpose: string;
  model: string;
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  ok: number;
  error: string | null;
  duration_ms: number | null;
  created_at: string;
}

const toCall = (r: CallRow): AgentCallRecord => ({
  id: r.id,
  runId: r.run_id,
  experimentId: r.experiment_id,
  purpose: r.purpose,
  model: r.model,
  calls: r.calls,
  inputTokens: r.input_tokens,
  outputTokens: r.output_tokens,
  costUsd: r.cost_usd,
  ok: r.ok === 1,
  error: r.error,
  durationMs: r.duration_ms,
  createdAt: r.created_at,
});

/** A ledger row without a run (and so without an experiment): the meta-agent's calls. */
export function recordRunlessCall(ctx: StoreContext, input: NewAgentCall): AgentCallRecord {
  const where = "recordAgentCall";
  checkKeys(where, input, ["runId", "experimentId", "purpose", "model", "calls", "inputTokens", "outputTokens", "costUsd", "ok", "error", "durationMs"]);
  if (input.experimentId !== undefined) invalid(`${where}: a call without a run cannot belong to an experiment`);
  if (typeof input.ok !== "boolean") invalid(`${where}: ok must be a boolean`);
  const purpose = checkText(where, "purpose", input.purpose ?? "", { nonEmpty: true });
  if (purpose === "propose") invalid(`${where}: a proposal's call belongs to a run (runId)`);
  const model = checkText(where, "model", input.model);
  const calls = input.calls === undefined ? 1 : checkCount(where, "calls", input.calls);
  const inputTokens = checkCount(where, "inputTokens", input.inputTokens);
  const outputTokens = checkCount(where, "outputTokens", input.outputTokens);
  const costUsd = checkAmount(where, "costUsd", input.costUsd);
  const error = ctx.redactor.text(optionalText(where, "error", input.error));
  const durationMs = input.durationMs === undefined ? null : checkCount(where, "durationMs", input.durationMs);
  return ctx.write(where, () => {
    const row = ctx
      .stmt(
        `INSERT INTO agent_calls (run_id, experiment_id, purpose, model, calls, input_tokens, output_tokens,
                                  cost_usd, ok, error, duration_ms, created_at)
         VALUES (NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      )
      .get(purpose, model, calls, inputTokens, outputTokens, costUsd, input.ok ? 1 : 0, error, durationMs, ctx.now()) as CallRow;
    return toCall(row);
  });
}

/** The ledger rows without a run, oldest first, optionally of one purpose ("meta"). */
export function listRunlessCalls(ctx: StoreContext, purpose?: string): AgentCallRecord[] {
  const rows =
    purpose === undefined
      ? ctx.stmt("SELECT * FROM agent_calls WHERE run_id IS NULL ORDER BY id").all()
      : ctx.stmt("SELECT * FROM agent_calls WHERE run_id IS NULL AND purpose = ? ORDER BY id").all(checkText("listRunlessCalls", "purpose", purpose));
  return (rows as CallRow[]).map(toCall);
}
