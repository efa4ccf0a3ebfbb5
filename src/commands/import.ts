/**
 * `nightshift import`: an autoresearch run — its git repository, branch autoresearch/<tag> and
 * results.tsv — recorded in the workspace's store as a run marked imported, so that `results`,
 * `report` and `compare` read it like the runs nightshift trained. Nothing is trained and the
 * foreign repository is only read. Everything is checked before anything is written (a bad repo,
 * tag or results.tsv leaves no workspace behind), the run is written in one transaction, and the
 * same source imported again changes nothing.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { CommandModule } from "yargs";
import { ForeignRepo, LabError } from "../lab/index.ts";
import { checkRefComponent } from "../lab/names.ts";
import { AUTORESEARCH_BRANCH_PREFIX, DEFAULT_IMPORT_ORG, type MappedRun, mapAutoresearchRun, resultsDigest } from "../import/autoresearch.ts";
import { type Run, type Store, StoreError, openStore } from "../store/index.ts";
import { DEFAULT_WORKSPACE } from "../workspace/workspace.ts";
import { UsageError } from "./common.ts";

interface ImportArgs {
  repo: string;
  tag?: string;
  results?: string;
  name?: string;
  org: string;
  workspace: string;
  json: boolean;
}

export const importCommand: CommandModule<object, ImportArgs> = {
  command: "import <repo>",
  describe: "Import an autoresearch run (its repo's autoresearch/<tag> branch and results.tsv) as a run marked imported",
  builder: (y) =>
    y
      .positional("repo", { type: "string", describe: "the autoresearch repository (read only, never changed)" })
      .option("tag", { type: "string", describe: "the run's tag: its branch is autoresearch/<tag> (required)" })
      .option("results", { type: "string", describe: "the run's results.tsv (default: <repo>/results.tsv)" })
      .option("name", { type: "string", describe: "the run's name in this workspace (default: autoresearch/<tag>)" })
      .option("org", { type: "string", default: DEFAULT_IMPORT_ORG, describe: "the org the run is filed under; its program.md is the repo's" })
      .option("workspace", { type: "string", default: DEFAULT_WORKSPACE, describe: "the workspace to import into (created if missing)" })
      .option("json", { type: "boolean", default: false, describe: "the outcome as JSON" })
      .example("$0 import ~/autoresearch --tag mar5", "the run on branch autoresearch/mar5, with ~/autoresearch/results.tsv")
      .example("$0 import ~/autoresearch --tag mar5 --results saved/mar5.tsv --name mar5-h100", "a results.tsv kept elsewhere, under another name") as never,
  handler: async (argv) => {
    const tag = checkName("--tag", "tag", argv.tag);
    const org = checkName("--org", "org", argv.org);
    const name = argv.name ?? `${AUTORESEARCH_BRANCH_PREFIX}${tag}`;
    if (name.trim() === "" || name !== name.trim() || /[\s\0-\x1f]/.test(name) || name.length > 200)
      throw new UsageError(`--name ${JSON.stringify(name)}: a run name is 1 to 200 characters without spaces or control characters`);

    const workspace = resolve(argv.workspace);
    const db = join(workspace, "nightshift.db");
    const repo = await ForeignRepo.open(argv.repo);
    const resultsPath = resolve(argv.results ?? join(repo.dir, "results.tsv"));
    // The same source again is answered before reading a row of git: a rerun costs nothing.
    const earlier = await alreadyImported(db, name, repo, tag, resultsPath);
    if (earlier) return sayAlreadyImported(earlier, argv.json);

    // Read and check everything first: nothing is created until the whole run is in hand.
    const mapped = await mapAutoresearchRun({ repo, tag, resultsPath, name, org });
    mkdirSync(workspace, { recursive: true });
    const store = openStore(db);
    try {
      checkNotTaken(store, mapped, name, org);
      const { run, created } = store.importRun(mapped.run);
      if (!created) return sayAlreadyImported(run, argv.json); // imported by another process meanwhile
      const counts = { keep: 0, discard: 0, crash: 0 };
      for (const e of mapped.run.experiments) counts[e.status]++;
      if (argv.json) {
        console.log(JSON.stringify({ created, run: { id: run.id, branch: run.branch, tag: run.tag }, importedFrom: run.importedFrom, experiments: mapped.run.experiments.length, ...counts, found: mapped.found, notes: mapped.notes }));
        return;
      }
      const source = `${mapped.run.source.branch} of ${repo.dir} at ${mapped.run.source.head.slice(0, 7)}`;
      const f = mapped.found;
      const gone = f.missing > 0 ? `, ${f.missing} no longer in the repository (recorded without a diff)` : "";
      console.log(
        `imported ${source} as run ${run.id} (${run.branch}): ${mapped.run.experiments.length} experiments, ${counts.keep} kept, ${counts.discard} discarded, ${counts.crash} crashed; ` +
          `commits: ${f.branch} on the branch, ${f.reflog} from the reflog${f.objects > 0 ? `, ${f.objects} from unreachable objects` : ""}${gone}`,
      );
      for (const note of mapped.notes) console.log(`note: ${note}`);
      console.log(`next: nightshift results --run ${run.branch} · nightshift report --run ${run.branch} (verify and noise cannot rerun an imported train.py)`);
    } finally {
      store.close();
    }
  },
};

/**
 * The run this workspace already imported from exactly this source (the same results.tsv bytes
 * and branch head, under this name), read without writing: a missing or older store has none.
 */
async function alreadyImported(db: string, name: string, repo: ForeignRepo, tag: string, resultsPath: string): Promise<Run | undefined> {
  if (!existsSync(db) || !existsSync(resultsPath) || !statSync(resultsPath).isFile()) return undefined;
  let store: Store;
  try {
    store = openStore(db, { readonly: true });
  } catch (err) {
    if (err instanceof StoreError && (err.code === "STORE_OUTDATED" || err.code === "STORE_EMPTY")) return undefined;
    throw err;
  }
  try {
    const from = store.findRunByBranch(name)?.importedFrom;
    if (!from) return undefined;
    const head = await repo.branchHead(`${AUTORESEARCH_BRANCH_PREFIX}${tag}`);
    const sha256 = resultsDigest(readFileSync(resultsPath));
    return from.head === head && from.resultsSha256 === sha256 ? store.findRunByBranch(name) : undefined;
  } finally {
    store.close();
  }
}

function sayAlreadyImported(run: Run, json: boolean): void {
  const from = run.importedFrom!;
  if (json) console.log(JSON.stringify({ created: false, run: { id: run.id, branch: run.branch, tag: run.tag }, importedFrom: from }));
  else console.log(`run ${run.id} (${run.branch}) was already imported from this results.tsv and ${from.branch} of ${from.repo} at ${from.head.slice(0, 7)} on ${from.importedAt}: nothing changed`);
}

function checkName(flag: string, what: "tag" | "org", value: string | undefined): string {
  if (value === undefined) throw new UsageError(`${flag} is required: autoresearch names a run's branch autoresearch/<tag> (git branch --list 'autoresearch/*' in the repo lists them)`);
  try {
    return checkRefComponent(what, String(value));
  } catch (err) {
    if (err instanceof LabError) throw new UsageError(`${flag}: ${err.message}`);
    throw err;
  }
}

/**
 * The flags that fix a taken name, said before the store's own check refuses it (the store's
 * check is the one that holds when two imports race).
 */
function checkNotTaken(store: Store, mapped: MappedRun, name: string, org: string): void {
  const existing = store.findRunByBranch(name);
  const from = existing?.importedFrom;
  const sameSource = from && from.resultsSha256 === mapped.run.source.resultsSha256 && from.head === mapped.run.source.head;
  if (existing && !sameSource)
    throw new UsageError(
      from
        ? `run ${name} was imported before from another source (${from.branch} at ${from.head.slice(0, 7)}, results.tsv sha256 ${from.resultsSha256.slice(0, 12)}…, ${from.repo}): pass --name to import this one beside it`
        : `a run named ${name} already exists in this workspace (trained by nightshift): pass --name to import under another name`,
    );
  const known = store.getOrgByName(org);
  if (!existing && known && known.programMd !== mapped.run.org.programMd)
    throw new UsageError(`org '${org}' already exists in this workspace with a different program.md: pass --org to file this run under another org`);
}
