/**
 * Which run a report is about: `--run R` is a run id, a branch, or a tag; no R means the most
 * recent run. Every miss is a one-line ReportError that lists what the workspace does hold.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Run, type Store, type Tournament, openStore } from "../store/index.ts";
import { ReportError } from "./errors.ts";

/** Opens a workspace's store read-only; REPORT_NO_WORKSPACE when there is none. */
export function openWorkspaceStore(workspace: string): Store {
  const dir = resolve(workspace);
  const db = join(dir, "nightshift.db");
  if (!existsSync(db))
    throw new ReportError("REPORT_NO_WORKSPACE", `no nightshift workspace at ${dir} (no nightshift.db): run \`nightshift run\` first or pass --workspace`);
  return openStore(db, { readonly: true });
}

const describeRuns = (runs: readonly Run[]) => {
  const shown = runs.slice(-8).map((r) => `${r.id} (${r.branch})`);
  return (runs.length > shown.length ? "…, " : "") + shown.join(", ");
};

export function resolveRun(store: Store, which: string | undefined): Run {
  const runs = store.listRuns();
  if (runs.length === 0) throw new ReportError("REPORT_NO_RUNS", "this workspace has no runs yet: start one with `nightshift run`");
  if (which === undefined || which === "") return runs.reduce((a, b) => (b.id > a.id ? b : a));
  if (/^\d+$/.test(which)) {
    const byId = runs.find((r) => r.id === Number(which));
    if (byId) return byId;
  }
  const byBranch = runs.find((r) => r.branch === which);
  if (byBranch) return byBranch;
  const byTag = runs.filter((r) => r.tag === which);
  if (byTag.length === 1) return byTag[0]!;
  if (byTag.length > 1)
    throw new ReportError("REPORT_AMBIGUOUS_RUN", `tag '${which}' names ${byTag.length} runs: ${describeRuns(byTag)}; give a run id or branch`);
  throw new ReportError("REPORT_UNKNOWN_RUN", `no run '${which}' (id, branch or tag) in this workspace; runs: ${describeRuns(runs)}`);
}

/**
 * What a plain `nightshift report` is about: the most recent run, or, when that run was one
 * org's run in a tournament's night, the tournament (the page a user wants after `tournament
 * start`, not one org's night). A run belongs to a tournament through its allocations.
 */
export function latestSubject(store: Store): { run: Run } | { tournament: Tournament } {
  const run = resolveRun(store, undefined);
  for (const t of [...store.listTournaments()].reverse())
    for (const night of store.listNights(t.id)) if (store.listAllocations(night.id).some((a) => a.runId === run.id)) return { tournament: t };
  return { run };
}
