/**
 * `nightshift noise`: the noise floor of the current setup. One commit (the lab's baseline, or a
 * run's head) is retrained with k fresh seeds; the spread of its val_bpb, and the smallest gain
 * a paired verification can detect, are stored per profile, budget, device kind and dataset.
 * Without the sandbox, a commit an LLM agent wrote is refused (--no-sandbox accepts the risk);
 * the baseline and a builtin agent's commits train unsandboxed with a warning. `--run` of an
 * imported run is refused: there is no train.ts of it to rerun.
 */
import type { CommandModule } from "yargs";
import { PROFILES } from "../harness/constants.ts";
import { type TimingNoise, measureNoiseFloor, measureTimingNoise } from "../verification/noise.ts";
import { DEFAULT_WORKSPACE } from "../workspace/workspace.ts";
import { UsageError, pickRun, resolveProfile, withProfile, withSandbox } from "./common.ts";
import { authorOfCommits, measureSetup, openForMeasuring, refuseImportedRun, sandboxFor, withMeasuringLauncher } from "./stats-setup.ts";
import { type LauncherArgs, checkLauncher, launcherFromArgs, withLauncher } from "./launcher-flags.ts";

interface NoiseArgs extends LauncherArgs {
  seeds: number;
  "same-seed": number;
  "verify-seeds": number;
  run?: string;
  commit?: string;
  workspace: string;
  profile?: string;
  "time-budget"?: number;
  dataset?: string;
  json: boolean;
  sandbox?: boolean;
}

export const noiseCommand: CommandModule<object, NoiseArgs> = {
  command: "noise",
  describe: "Measure the noise floor: one commit retrained with k seeds, and the smallest gain verification can detect",
  builder: (y) =>
    withLauncher(withSandbox(withProfile(y)))
      .option("seeds", { type: "number", default: 5, describe: "reruns (k ≥ 2)" })
      .option("same-seed", { type: "number", default: 2, describe: "extra reruns of the first seed: their spread is timing noise alone (machine load), 0 to skip" })
      .option("verify-seeds", { type: "number", default: 8, describe: "paired seeds a verification uses (for the detectable effect)" })
      .option("run", { type: "string", describe: "measure this run's head under its conditions (id, branch or tag)" })
      .option("commit", { type: "string", describe: "measure this lab commit (default: the baseline on main)" })
      .option("workspace", { type: "string", default: DEFAULT_WORKSPACE, describe: "the workspace" })
      .option("time-budget", { type: "number", describe: "training seconds per rerun (default: the run's, else the profile's)" })
      .option("dataset", { type: "string", describe: "a prepared dataset (default: the run's, else the latest)" })
      .option("json", { type: "boolean", default: false, describe: "the result as JSON" })
      .example("$0 noise --seeds 5", "the baseline's noise floor") as never,
  handler: async (argv) => {
    if (!Number.isInteger(argv.seeds) || argv.seeds < 2) throw new UsageError(`--seeds must be an integer ≥ 2 (a spread needs two values), got ${argv.seeds}`);
    if (!Number.isInteger(argv["same-seed"]) || argv["same-seed"] < 0) throw new UsageError(`--same-seed must be an integer ≥ 0, got ${argv["same-seed"]}`);
    if (!Number.isInteger(argv["verify-seeds"]) || argv["verify-seeds"] < 2) throw new UsageError(`--verify-seeds must be an integer ≥ 2, got ${argv["verify-seeds"]}`);
    if (argv["time-budget"] !== undefined && !(argv["time-budget"] > 0)) throw new UsageError(`--time-budget must be a positive number, got ${argv["time-budget"]}`);
    const launcherFlag = launcherFromArgs(argv);
    const wanted = argv.run;
    if (wanted !== undefined) refuseImportedRun(argv.workspace, "noise", (store) => pickRun(store, wanted));
    let opened = await openForMeasuring(argv.workspace);
    try {
      const run = argv.run !== undefined ? pickRun(opened.store, argv.run) : undefined;
      const profile = run?.profile ?? resolveProfile(argv.profile);
      const timeBudget = argv["time-budget"] ?? run?.timeBudget ?? PROFILES[profile].timeBudget;
      let commit: string;
      if (argv.commit !== undefined) {
        const resolved = await opened.lab.resolveCommit(argv.commit);
        if (!resolved) throw new UsageError(`--commit ${argv.commit} names no commit in the lab`);
        commit = resolved;
      } else commit = run ? opened.store.runHead(run.id) : (await opened.lab.branchHead("main"))!;
      const sandbox = sandboxFor(argv.sandbox, authorOfCommits(opened.store, [commit]));
      opened = withMeasuringLauncher(opened, launcherFlag, run);
      const setup = measureSetup(opened, { profile, timeBudget, ...(argv.dataset ? { dataset: argv.dataset } : {}), ...(run ? { run } : {}), sandbox, quiet: argv.json });
      await checkLauncher(opened, { datasetDir: setup.datasetDir, devices: [profile === "gpu" ? "gpu" : "cpu"], timeBudget });
      const { floor, values, failed } = await measureNoiseFloor(setup, commit, argv.seeds, argv["verify-seeds"]);
      const timing = argv["same-seed"] > 0 ? await measureTimingNoise(setup, commit, argv["same-seed"]) : null;
      if (argv.json) console.log(JSON.stringify({ floor, values, failed, ...(timing ? { timing } : {}) }));
      else {
        console.log(`noise floor of ${commit.slice(0, 7)} (${profile}, ${timeBudget} s, ${floor.deviceKind}, dataset ${floor.dataset}):`);
        console.log(`  val_bpb ${floor.mean.toFixed(6)} ± ${floor.sd.toFixed(6)} (sd over ${floor.seeds} seeds${failed ? `, ${failed} failed` : ""})`);
        console.log(`  a paired verification with ${argv["verify-seeds"]} seeds detects gains ≥ ${floor.mde.toFixed(6)} bpb (alpha 0.05, power 0.8)`);
        if (timing) console.log(`  ${describeTiming(timing, floor.sd)}`);
      }
    } finally {
      opened.close();
    }
  },
};

/** "same seed 2000 × 3: sd 0.0123 (timing noise, 41% of the seed noise); throughput 5,100–7,400 tokens/s" */
function describeTiming(t: TimingNoise, seedSd: number): string {
  if (t.sd === null) return `same seed ${t.seed}: too few ok reruns for a spread (${t.failed} failed)`;
  const share = seedSd > 0 ? ` (timing noise alone, ${((100 * t.sd) / seedSd).toFixed(0)}% of the seed noise)` : " (timing noise alone)";
  const tps = t.tokensPerSecond.filter((x): x is number => x !== null);
  const throughput = tps.length > 0 ? `; throughput ${Math.round(Math.min(...tps)).toLocaleString("en")}–${Math.round(Math.max(...tps)).toLocaleString("en")} tokens/s` : "";
  return `same seed ${t.seed} × ${t.values.length}: val_bpb sd ${t.sd.toFixed(6)}${share}${throughput}`;
}
