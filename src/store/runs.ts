/**
 * Runs: one org on one branch under one profile, budget and device kind. A run is "running"
 * until the loop stops it; a process killed mid-run leaves it "running", which is how
 * findRunningRuns tells `--resume` what to pick up.
 */
import type { Profile } from "../harness/constants.ts";
import { PROFILES } from "../harness/constants.ts";
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid, sqliteCode } from "./errors.ts";
import { getOrg } from "./orgs.ts";
import { scrubSettings, type JsonValue } from "./secrets.ts";
import type { ImportSource, NewRun, Run, RunFilter, RunState } from "./types.ts";
import { checkAmount, checkCommit, checkId, checkOneOf, checkText, optionalText } from "./validate.ts";

export const RUN_STATES: readonly RunState[] = ["running", "stopped", "finished"];

export interface RunRow {
  id: number;
  tag: string;
  org_id: number;
  branch: string;
  profile: string;
  time_budget: number;
  device_kind: string;
  agent: string;
  model: string | null;
  base_commit: string;
  status: RunState;
  settings_json: string;
  cost_cap_usd: number | null;
  started_at: string;
  ended_at: string | null;
  import_json: string | null;
}

/**
 * The columns a Run is made of: never memory_json (memory.ts reads it), which can be kilobytes
 * and would otherwise come along with every getRun — once per proposal among others.
 * import_json is a few hundred bytes, and every command that reads a run must know whether it
 * was imported (verify and noise refuse one).
 */
export const RUN_COLUMNS = "id, tag, org_id, branch, profile, time_budget, device_kind, agent, model, base_commit, status, settings_json, cost_cap_usd, started_at, ended_at, import_json";

export const toRun = (r: RunRow): Run => ({
  id: r.id,
  tag: r.tag,
  orgId: r.org_id,
  branch: r.branch,
  profile: r.profile as Profile,
  timeBudget: r.time_budget,
  deviceKind: r.device_kind,
  agent: r.agent,
  model: r.model,
  baseCommit: r.base_commit,
  status: r.status,
  settings: JSON.parse(r.settings_json) as { [key: string]: JsonValue },
  costCapUsd: r.cost_cap_usd,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  importedFrom: r.import_json === null ? null : (JSON.parse(r.import_json) as ImportSource),
});

const NEW_RUN_KEYS = [
  "tag",
  "orgId",
  "branch",
  "profile",
  "timeBudget",
  "deviceKind",
  "agent",
  "model",
  "baseCommit",
  "settings",
  "costCapUsd",
] as const;

export function createRun(ctx: StoreContext, input: NewRun): Run {
  const where = "createRun";
  checkKeys(where, input, NEW_RUN_KEYS);
  const tag = checkText(where, "tag", input.tag, { nonEmpty: true });
  const orgId = checkId(where, "orgId", input.orgId);
  const branch = checkText(where, "branch", input.branch, { nonEmpty: true });
  const profile = checkOneOf(where, "profile", input.profile, Object.keys(PROFILES) as Profile[]);
  if (typeof input.timeBudget !== "number" || !Number.isFinite(input.timeBudget) || input.timeBudget <= 0)
    invalid(`${where}: timeBudget must be a positive number of seconds, got ${String(input.timeBudget)}`);
  const deviceKind = checkText(where, "deviceKind", input.deviceKind, { nonEmpty: true });
  const agent = checkText(where, "agent", input.agent, { nonEmpty: true });
  const model = optionalText(where, "model", input.model);
  const baseCommit = checkCommit(where, "baseCommit", input.baseCommit);
  const costCap = input.costCapUsd === undefined ? null : checkAmount(where, "costCapUsd", input.costCapUsd);
  const settings = input.settings ?? {};
  if (typeof settings !== "object" || settings === null || Array.isArray(settings))
    invalid(`${where}: settings must be a plain object`);
  let settingsJson: string;
  try {
    // Scrubbed, then redacted: a known secret under an innocent key ("note") goes too.
    settingsJson = ctx.redactor.text(JSON.stringify(scrubSettings(settings)));
  } catch (err) {
    invalid(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }

  return ctx.write(where, () => {
    getOrg(ctx, orgId);
    try {
      const row = ctx
        .stmt(
          `INSERT INTO runs (tag, org_id, branch, profile, time_budget, device_kind, agent, model, base_commit,
                             status, settings_json, cost_cap_usd, started_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?) RETURNING ${RUN_COLUMNS}`,
        )
        .get(tag, orgId, branch, profile, input.timeBudget, deviceKind, agent, model, baseCommit, settingsJson, costCap, ctx.now()) as RunRow;
      return toRun(row);
    } catch (err) {
      if (sqliteCode(err) === "SQLITE_CONSTRAINT_UNIQUE")
        throw new StoreError("STORE_CONFLICT", `${where}: a run on branch ${JSON.stringify(branch)} already exists`);
      throw err;
    }
  });
}

export function getRun(ctx: StoreContext, id: number): Run {
  checkId("getRun", "id", id);
  const row = ctx.stmt(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`).get(id) as RunRow | undefined;
  if (!row) throw new StoreError("STORE_UNKNOWN_RUN", `no run with id ${id}`);
  return toRun(row);
}

export function findRunByBranch(ctx: StoreContext, branch: string): Run | undefined {
  checkText("findRunByBranch", "branch", branch);
  const row = ctx.stmt(`SELECT ${RUN_COLUMNS} FROM runs WHERE branch = ?`).get(branch) as RunRow | undefined;
  return row && toRun(row);
}

export function listRuns(ctx: StoreContext, filter: RunFilter = {}): Run[] {
  checkKeys("listRuns", filter, ["orgId", "status"]);
  const orgId = filter.orgId === undefined ? null : checkId("listRuns", "orgId", filter.orgId);
  const status = filter.status === undefined ? null : checkOneOf("listRuns", "status", filter.status, RUN_STATES);
  const rows = ctx
    .stmt(`SELECT ${RUN_COLUMNS} FROM runs WHERE (@orgId IS NULL OR org_id = @orgId) AND (@status IS NULL OR status = @status) ORDER BY id`)
    .all({ orgId, status }) as RunRow[];
  return rows.map(toRun);
}

/** Runs a killed process left "running": what `--resume` picks up. */
export function findRunningRuns(ctx: StoreContext): Run[] {
  return listRuns(ctx, { status: "running" });
}

/** Moves a run to `status`; ended_at is set on leaving "running" and cleared on a resume. */
export function setRunStatus(ctx: StoreContext, id: number, status: RunState): Run {
  const where = "setRunStatus";
  checkId(where, "id", id);
  checkOneOf(where, "status", status, RUN_STATES);
  return ctx.write(where, () => {
    const row = ctx
      .stmt(
        `UPDATE runs SET status = @status,
           ended_at = CASE WHEN @status = 'running' THEN NULL WHEN status = @status THEN ended_at ELSE @now END
         WHERE id = @id RETURNING ${RUN_COLUMNS}`,
      )
      .get({ status, now: ctx.now(), id }) as RunRow | undefined;
    if (!row) throw new StoreError("STORE_UNKNOWN_RUN", `${where}: no run with id ${id}`);
    return toRun(row);
  });
}
