/**
 * Imported runs: a run nightshift did not train (an autoresearch branch and its results.tsv,
 * mapped by src/import) written whole — org, run and every experiment — in one transaction, so
 * a kill at any moment leaves either the complete run or nothing. Importing the same source
 * again (same results.tsv bytes, same branch head) finds the run already there and writes
 * nothing. Reads of imported runs go through the ordinary run and experiment reads.
 */
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid } from "./errors.ts";
import { createOrg, getOrgByName } from "./orgs.ts";
import { PROFILES, type Profile } from "../harness/constants.ts";
import { RUN_COLUMNS, findRunByBranch, toRun, type RunRow } from "./runs.ts";
import type { ImportOutcome, ImportSource, NewImportedExperiment, NewImportedRun } from "./types.ts";
import { checkCommit, checkOneOf, checkText, show } from "./validate.ts";

/** A commit as an imported row may name it: whole, or abbreviated as results.tsv has it (7+). */
const SOME_COMMIT = /^[0-9a-f]{7,64}$/;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

const RUN_KEYS = ["tag", "org", "branch", "profile", "timeBudget", "deviceKind", "agent", "baseCommit", "startedAt", "endedAt", "source", "experiments"] as const;
const SOURCE_KEYS = ["kind", "repo", "branch", "tag", "head", "resultsPath", "resultsSha256"] as const;
const EXPERIMENT_KEYS = ["parentCommit", "commit", "diff", "description", "status", "valBpb", "peakVramMb", "reason"] as const;

function checkTime(where: string, name: string, value: unknown): string {
  if (typeof value !== "string" || !ISO_TIME.test(value) || Number.isNaN(Date.parse(value)))
    invalid(`${where}: ${name} must be an ISO 8601 UTC time, got ${show(value)}`);
  return value;
}

function checkSource(where: string, source: unknown): Omit<ImportSource, "importedAt"> {
  checkKeys(`${where}: source`, source, SOURCE_KEYS);
  if (source === undefined) invalid(`${where}: source is required (where the run came from)`);
  const s = source as Omit<ImportSource, "importedAt">;
  checkOneOf(where, "source.kind", s.kind, ["autoresearch"] as const);
  for (const k of ["repo", "branch", "tag", "resultsPath"] as const) checkText(where, `source.${k}`, s[k], { nonEmpty: true });
  checkCommit(where, "source.head", s.head);
  if (typeof s.resultsSha256 !== "string" || !/^[0-9a-f]{64}$/.test(s.resultsSha256))
    invalid(`${where}: source.resultsSha256 must be a sha256 hex digest, got ${show(s.resultsSha256)}`);
  return { kind: s.kind, repo: s.repo, branch: s.branch, tag: s.tag, head: s.head, resultsPath: s.resultsPath, resultsSha256: s.resultsSha256 };
}

function checkExperiment(where: string, e: NewImportedExperiment): void {
  checkKeys(where, e, EXPERIMENT_KEYS);
  for (const k of ["parentCommit", "commit"] as const)
    if (typeof e[k] !== "string" || !SOME_COMMIT.test(e[k])) invalid(`${where}: ${k} must be 7 to 64 lowercase hex digits, got ${show(e[k])}`);
  if (e.diff !== null) checkText(where, "diff", e.diff);
  checkText(where, "description", e.description);
  const status = checkOneOf(where, "status", e.status, ["keep", "discard", "crash"] as const);
  const hasResult = status !== "crash";
  if (hasResult !== (e.valBpb !== null))
    invalid(`${where}: valBpb must be ${hasResult ? `a number for a ${status}` : "null for a crash"}, got ${show(e.valBpb)}`);
  if (e.valBpb !== null && (typeof e.valBpb !== "number" || !Number.isFinite(e.valBpb) || e.valBpb < 0))
    invalid(`${where}: valBpb must be a finite number >= 0, got ${show(e.valBpb)}`);
  if (e.peakVramMb !== null && (!hasResult || typeof e.peakVramMb !== "number" || !Number.isFinite(e.peakVramMb) || e.peakVramMb < 0))
    invalid(`${where}: peakVramMb must be null${hasResult ? " or a finite number >= 0" : " for a crash"}, got ${show(e.peakVramMb)}`);
  if (status === "crash") checkText(where, "reason", e.reason, { nonEmpty: true });
  else if (e.reason !== undefined) checkText(where, "reason", e.reason);
}

/** Writes the run, or finds it already imported from the same source; one transaction either way. */
export function importRun(ctx: StoreContext, input: NewImportedRun): ImportOutcome {
  const where = "importRun";
  checkKeys(where, input, RUN_KEYS);
  const tag = checkText(where, "tag", input.tag, { nonEmpty: true });
  checkKeys(`${where}: org`, input.org, ["name", "programMd"]);
  const branch = checkText(where, "branch", input.branch, { nonEmpty: true });
  const profile = checkOneOf(where, "profile", input.profile, Object.keys(PROFILES) as Profile[]);
  if (typeof input.timeBudget !== "number" || !Number.isFinite(input.timeBudget) || input.timeBudget <= 0)
    invalid(`${where}: timeBudget must be a positive number of seconds, got ${show(input.timeBudget)}`);
  const deviceKind = checkText(where, "deviceKind", input.deviceKind, { nonEmpty: true });
  const agent = checkText(where, "agent", input.agent, { nonEmpty: true });
  const baseCommit = checkCommit(where, "baseCommit", input.baseCommit);
  const startedAt = checkTime(where, "startedAt", input.startedAt);
  const endedAt = checkTime(where, "endedAt", input.endedAt);
  if (Date.parse(endedAt) < Date.parse(startedAt)) invalid(`${where}: endedAt (${endedAt}) is before startedAt (${startedAt})`);
  const source = checkSource(where, input.source);
  if (!Array.isArray(input.experiments) || input.experiments.length === 0) invalid(`${where}: experiments must be a non-empty array`);
  input.experiments.forEach((e, i) => checkExperiment(`${where}: experiments[${i}]`, e));

  return ctx.write(where, () => {
    const existing = findRunByBranch(ctx, branch);
    if (existing) {
      const from = existing.importedFrom;
      if (from && from.resultsSha256 === source.resultsSha256 && from.head === source.head) return { run: existing, created: false };
      throw new StoreError(
        "STORE_CONFLICT",
        from
          ? `${where}: run ${JSON.stringify(branch)} was imported before from ${from.repo} (${from.branch} at ${from.head.slice(0, 7)}, results.tsv ${from.resultsSha256.slice(0, 12)}), not from this source: import this one under another name`
          : `${where}: a run named ${JSON.stringify(branch)} already exists (trained by nightshift): import under another name`,
      );
    }
    const programMd = ctx.redactor.text(checkText(where, "org.programMd", input.org.programMd, { nonEmpty: true }));
    const known = getOrgByName(ctx, input.org.name);
    if (known && known.programMd !== programMd)
      throw new StoreError("STORE_CONFLICT", `${where}: org '${input.org.name}' already exists in this store with a different program.md: import under another org name`);
    const org = known ?? createOrg(ctx, { name: input.org.name, programMd, mutationNote: `imported from ${source.kind}` });

    const importJson = JSON.stringify({ ...source, importedAt: ctx.now() } satisfies ImportSource);
    const row = ctx
      .stmt(
        `INSERT INTO runs (tag, org_id, branch, profile, time_budget, device_kind, agent, model, base_commit,
                           status, settings_json, started_at, ended_at, import_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, 'finished', '{}', ?, ?, ?) RETURNING ${RUN_COLUMNS}`,
      )
      .get(tag, org.id, branch, profile, input.timeBudget, deviceKind, agent, baseCommit, startedAt, endedAt, importJson) as RunRow;
    const insert = ctx.stmt(
      `INSERT INTO experiments (run_id, seq, parent_commit, commit_hash, diff, description, status, outcome, reason,
                                val_bpb, peak_vram_mb, created_at, imported)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
    );
    const now = ctx.now();
    input.experiments.forEach((e, i) => {
      insert.run(
        row.id,
        i + 1,
        e.parentCommit,
        e.commit,
        e.diff === null ? null : ctx.redactor.text(e.diff),
        ctx.redactor.text(e.description),
        e.status,
        e.status === "crash" ? "crash" : "ok",
        e.reason === undefined ? null : ctx.redactor.text(e.reason),
        e.valBpb,
        e.peakVramMb,
        now,
      );
    });
    return { run: toRun(row), created: true };
  });
}
