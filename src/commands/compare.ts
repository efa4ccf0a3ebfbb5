/**
 * `nightshift compare`: are some orgs better researchers than others? Each run of an org scores
 * its improvement over its own baseline (baseline val_bpb − best kept val_bpb, higher is
 * better); orgs are compared pairwise (Welch, Holm across pairs, effect size with interval, how
 * many more runs would tell them apart) and ranked with Bradley–Terry ratings. Imported runs
 * (nightshift import) count like the others; the output says how many there are, since their
 * val_bpb comes from autoresearch's data and evaluator, not this workspace's.
 */
import type { CommandModule } from "yargs";
import { compareOrgs } from "../stats/compare.ts";
import { type Store, openStore } from "../store/index.ts";
import { baselineOf } from "../verification/claims.ts";
import { DEFAULT_WORKSPACE } from "../workspace/workspace.ts";
import { UsageError, workspaceDb } from "./common.ts";

interface CompareArgs {
  orgs: string[];
  workspace: string;
  tournament?: string;
  json: boolean;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: "compare <orgs..>",
  describe: "Compare research orgs across their runs: effect sizes, Holm-adjusted tests, ratings, power",
  builder: (y) =>
    y
      .positional("orgs", { type: "string", array: true, describe: "two or more org names (as `nightshift run --org` named them)" })
      .option("workspace", { type: "string", default: DEFAULT_WORKSPACE, describe: "the workspace of the runs" })
      .option("tournament", { type: "string", describe: "only the nights of this tournament (paired by night)" })
      .option("json", { type: "boolean", default: false, describe: "the comparison as JSON" })
      .example("$0 compare default tuner scientist", "three orgs over all their runs") as never,
  handler: (argv) => {
    const names = [...new Set(argv.orgs.map(String))];
    if (names.length < 2) throw new UsageError("name at least two different orgs to compare");
    if (argv.tournament !== undefined) throw new UsageError("--tournament: this workspace has no tournament data yet (nightshift tournament comes first)");
    const store = openStore(workspaceDb(argv.workspace), { readonly: true });
    try {
      const gains = names.map((name) => ({ name, ...runGains(store, name) }));
      const series = gains.map(({ name, values }) => ({ name, values }));
      for (const s of series)
        if (s.values.length < 2)
          throw new UsageError(`org '${s.name}' has ${s.values.length} finished run${s.values.length === 1 ? "" : "s"} with a baseline here; comparing needs at least 2 per org`);
      const comparison = compareOrgs(series, { better: "higher" });
      const importedRuns = Object.fromEntries(gains.map((g) => [g.name, g.imported]));
      if (argv.json) {
        console.log(JSON.stringify({ metric: "baseline val_bpb - best kept val_bpb, per run", series, importedRuns, ...comparison }));
        return;
      }
      console.log("improvement over the run's own baseline (val_bpb), per run:");
      const mixed = gains.filter((g) => g.imported > 0);
      if (mixed.length > 0)
        console.log(
          `  imported runs (nightshift import, measured by autoresearch on its own data): ${mixed.map((g) => `${g.name} ${g.imported} of ${g.values.length}`).join(", ")}` +
            (gains.some((g) => g.imported < g.values.length) ? "; the others trained here: their val_bpb is not on the same scale" : ""),
        );
      for (const o of comparison.orgs) console.log(`  ${o.name.padEnd(16)} n ${o.n}  mean ${o.mean.toFixed(5)}  sd ${o.sd.toFixed(5)}`);
      for (const p of comparison.pairs) {
        const verdict = p.ahead ? `${p.ahead} ahead` : "not told apart";
        const more = Number.isFinite(p.moreNeeded.more) ? `${p.moreNeeded.more} more runs each would` : "no number of runs would";
        console.log(
          `  ${p.a} vs ${p.b}: difference ${p.difference.toFixed(5)} [${p.interval.lower.toFixed(5)}, ${p.interval.upper.toFixed(5)}], ` +
            `${p.effectSize.name} ${p.effectSize.estimate.toFixed(2)}, ${p.test} p ${p.pValue.toPrecision(3)} (Holm ${p.pHolm.toPrecision(3)}): ${verdict}` +
            (p.ahead ? "" : ` (${more} tell them apart at power 0.8)`),
        );
      }
      console.log(`ratings (Bradley–Terry): ${comparison.ratings.map((r) => `${r.rank}. ${r.name} ${r.strength.toFixed(2)}`).join(", ")}`);
    } finally {
      store.close();
    }
  },
};

/**
 * Per run of the org: baseline val_bpb − best kept val_bpb (0 when nothing beat the baseline),
 * and how many of those runs were imported. Reads the narrow rows (briefs): an imported row has
 * a val_bpb but no training summary.
 */
function runGains(store: Store, orgName: string): { values: number[]; imported: number } {
  const org = store.getOrgByName(orgName);
  if (!org) throw new UsageError(`no org '${orgName}' in this workspace; orgs: ${store.listOrgs().map((o) => o.name).join(", ") || "none"}`);
  const values: number[] = [];
  let imported = 0;
  for (const run of store.listRuns().filter((r) => r.orgId === org.id)) {
    const experiments = store.listExperimentBriefs([run.id]);
    const baseline = baselineOf(experiments)?.valBpb;
    if (baseline === undefined || baseline === null) continue; // no measured baseline
    const kept = experiments.filter((e) => e.status === "keep" && e.valBpb !== null);
    values.push(baseline - Math.min(...kept.map((e) => e.valBpb!)));
    if (run.importedFrom) imported++;
  }
  return { values, imported };
}
