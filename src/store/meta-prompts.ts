/**
 * The meta-agent's data: the meta prompts of a tournament (the instruction text an LLM
 * meta-agent breeds orgs with, versioned with lineage, Promptbreeder-style) and the ledger rows
 * of calls that belong to no run (the meta-agent's), which go to agent_calls with run_id NULL.
 */
import { createHash } from "node:crypto";
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid, sqliteCode } from "./errors.ts";
import { getTournament } from "./tournaments.ts";
import type { MetaPrompt, NewMetaPrompt } from "./types.ts";
import { checkCount, checkId, checkText, optionalText } from "./validate.ts";

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
