/**
 * `nightshift results`: a run's experiments from the store — a table, autoresearch's
 * results.tsv (`--tsv`), or JSON. Default: the most recent run of the workspace. The table and
 * the TSV read only the columns they print; --json prints whole rows (diffs and log tails too).
 * An imported run prints as any other (its --tsv is the results.tsv it was imported from) and
 * the table says where it came from.
 */
import type { CommandModule } from "yargs";
import { DEFAULT_WORKSPACE } from "../workspace/workspace.ts";
import { openStore } from "../store/index.ts";
import { pickRun, workspaceDb } from "./common.ts";

interface ResultsArgs {
  workspace: string;
  run?: string;
  tsv: boolean;
  json: boolean;
}

export const resultsCommand: CommandModule<object, ResultsArgs> = {
  command: "results",
  describe: "Show a run's experiments (autoresearch's results.tsv with --tsv)",
  builder: (y) =>
    y
      .option("workspace", { type: "string", default: DEFAULT_WORKSPACE, describe: "the workspace of the run" })
      .option("run", { type: "string", describe: "a run id, branch or tag (default: the most recent run)" })
      .option("tsv", { type: "boolean", default: false, describe: "autoresearch's results.tsv format" })
      .option("json", { type: "boolean", default: false, describe: "the experiments as JSON" }) as never,
  handler: (argv) => {
    const store = openStore(workspaceDb(argv.workspace), { readonly: true });
    try {
      const run = pickRun(store, argv.run);
      if (argv.tsv) process.stdout.write(store.resultsTsv(run.id));
      else if (argv.json) console.log(JSON.stringify({ run, experiments: store.listExperiments(run.id), cost: store.runCost(run.id) }));
      else {
        const from = run.importedFrom;
        const imported = from ? `; imported from ${from.kind}: ${from.branch} of ${from.repo} at ${from.head.slice(0, 7)}` : "";
        console.log(`run ${run.id} ${run.branch} (${run.status}, ${run.profile}, ${run.timeBudget}s, agent ${run.agent}${imported})`);
        for (const e of store.listExperimentBriefs([run.id])) {
          const bpb = e.valBpb !== null ? e.valBpb.toFixed(6) : "—".padEnd(8);
          console.log(`${String(e.seq).padStart(4)}  ${(e.commit ?? "").slice(0, 7).padEnd(7)}  ${e.status.padEnd(8)} ${bpb}  ${e.description}`);
        }
      }
    } finally {
      store.close();
    }
  },
};
