/**
 * Orgs: the research organizations (program.md variants) with their lineage. An org's
 * program.md is stored whole with its sha256, so the tournament can spot exact duplicates and
 * the report can diff a child against its parent.
 */
import { createHash } from "node:crypto";
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid, sqliteCode } from "./errors.ts";
import type { NewOrg, Org } from "./types.ts";
import { checkCount, checkId, checkText, optionalText } from "./validate.ts";

interface OrgRow {
  id: number;
  name: string;
  program_md: string;
  program_md_hash: string;
  parent_id: number | null;
  generation: number;
  mutation_note: string | null;
  created_at: string;
}

const toOrg = (r: OrgRow): Org => ({
  id: r.id,
  name: r.name,
  programMd: r.program_md,
  programMdHash: r.program_md_hash,
  parentId: r.parent_id,
  generation: r.generation,
  mutationNote: r.mutation_note,
  createdAt: r.created_at,
});

export function createOrg(ctx: StoreContext, input: NewOrg): Org {
  const where = "createOrg";
  checkKeys(where, input, ["name", "programMd", "parentId", "generation", "mutationNote"]);
  const name = checkText(where, "name", input.name, { nonEmpty: true });
  if (name !== name.trim() || /[\n\r\t]/.test(name))
    invalid(`${where}: name must be one line without surrounding spaces, got ${JSON.stringify(name)}`);
  const programMd = ctx.redactor.text(checkText(where, "programMd", input.programMd));
  const parentId = input.parentId === undefined ? null : checkId(where, "parentId", input.parentId);
  const generation = input.generation === undefined ? undefined : checkCount(where, "generation", input.generation);
  const mutationNote = ctx.redactor.text(optionalText(where, "mutationNote", input.mutationNote));
  const hash = createHash("sha256").update(programMd).digest("hex");

  return ctx.write(where, () => {
    let gen = generation ?? 0;
    if (parentId !== null) {
      const parent = getOrg(ctx, parentId);
      gen = generation ?? parent.generation + 1;
    }
    try {
      const row = ctx
        .stmt(
          `INSERT INTO orgs (name, program_md, program_md_hash, parent_id, generation, mutation_note, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(name, programMd, hash, parentId, gen, mutationNote, ctx.now()) as OrgRow;
      return toOrg(row);
    } catch (err) {
      if (sqliteCode(err) === "SQLITE_CONSTRAINT_UNIQUE")
        throw new StoreError("STORE_CONFLICT", `${where}: an org named ${JSON.stringify(name)} already exists`);
      throw err;
    }
  });
}

export function getOrg(ctx: StoreContext, id: number): Org {
  checkId("getOrg", "id", id);
  const row = ctx.stmt("SELECT * FROM orgs WHERE id = ?").get(id) as OrgRow | undefined;
  if (!row) throw new StoreError("STORE_UNKNOWN_ORG", `no org with id ${id}`);
  return toOrg(row);
}

export function getOrgByName(ctx: StoreContext, name: string): Org | undefined {
  checkText("getOrgByName", "name", name);
  const row = ctx.stmt("SELECT * FROM orgs WHERE name = ?").get(name) as OrgRow | undefined;
  return row && toOrg(row);
}

export function listOrgs(ctx: StoreContext): Org[] {
  return (ctx.stmt("SELECT * FROM orgs ORDER BY id").all() as OrgRow[]).map(toOrg);
}
