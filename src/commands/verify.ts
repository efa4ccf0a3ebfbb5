/**
 * `nightshift verify`: rerun claimed wins with fresh paired seeds and say which are real.
 * One experiment (its id, or its commit as results.tsv shows it) or every claim of a run
 * (`--run`); the verdicts (real / noise / negligible / inconclusive / flagged) are stored and
 * printed beside what the naive keep rule would keep under pure noise. `real` needs a gain shown
 * above δ_min (verification/thresholds.ts); without a noise floor for the run's conditions, one
 * is measured first (NOISE_SEEDS_FOR_MARGIN reruns of the baseline, stored and reused). Without
 * the sandbox, the claims of an LLM agent's run are refused (--no-sandbox accepts the risk); a
 * builtin agent's train unsandboxed with a warning. An imported run is refused: there is no
 * train.ts of it to rerun.
 */
import { basename } from "node:path";
import type { CommandModule } from "yargs";
import { parseStrategy } from "../agents/strategy.ts";
import { baselineOf, claimsOf } from "../verification/claims.ts";
import { type VerifySummary, verifyClaimsOfRun } from "../verification/verify.ts";
import type { Experiment, Run, Store } from "../store/index.ts";
import { DEFAULT_WORKSPACE } from "../workspace/workspace.ts";
import { authorOfAgent } from "../workspace/sandbox.ts";
import { UsageError, pickRun, withSandbox } from "./common.ts";
import { measureSetup, openForMeasuring, refuseImportedRun, sandboxFor, withMeasuringLauncher } from "./stats-setup.ts";
import { type LauncherArgs, checkLauncher, launcherFromArgs, withLauncher } from "./launcher-flags.ts";
import { DEFAULT_CONFIRM_SEEDS, checkConfirmSeeds, confirmationOf } from "../verification/confirm.ts";
import { measureNoiseFloor } from "../verification/noise.ts";
import type { MeasureSetup } from "../verification/measure.ts";
import { MARGIN_NOISE_FRACTION, type Thresholds, verificationThresholds } from "../verification/thresholds.ts";

interface VerifyArgs extends LauncherArgs {
  experiment?: string;
  run?: string;
  workspace: string;
  "max-seeds": number;
  "min-seeds": number;
  "confirm-seeds": number;
  alpha: number;
  effect?: number;
  margin?: number;
  dataset?: string;
  "hard-limit"?: number;
  json: boolean;
  sandbox?: boolean;
}

/** Reruns of the baseline when δ_min needs a noise floor and none was measured (as `nightshift noise`). */
const NOISE_SEEDS_FOR_MARGIN = 5;

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: "verify [experiment]",
  describe: "Rerun claimed wins with paired seeds: real, negligible, noise, inconclusive, or flagged",
  builder: (y) =>
    withLauncher(withSandbox(y))
      .positional("experiment", { type: "string", describe: "an experiment id, or its commit (as results.tsv shows it)" })
      .option("run", { type: "string", describe: "verify every kept experiment of this run (id, branch or tag)" })
      .option("workspace", { type: "string", default: DEFAULT_WORKSPACE, describe: "the workspace of the run" })
      .option("max-seeds", { type: "number", default: 12, describe: "cap on paired seeds per claim (12: power ≥ 0.8 per claim at twice δ_min when δ_min is one paired sd; BENCHMARKS.md)" })
      .option("min-seeds", { type: "number", default: 3, describe: "paired seeds before the first look" })
      .option("confirm-seeds", {
        type: "number",
        default: DEFAULT_CONFIRM_SEEDS,
        describe: "paired seeds trained after a real verdict, apart from the stopping rule: their mean and 90% interval are the credited gain (0: none)",
      })
      .option("alpha", { type: "number", default: 0.05, describe: "false discovery rate across the claims verified together (each of m claims is tested at alpha/m, over all its looks; BH at alpha)" })
      .option("margin", {
        type: "number",
        describe: `δ_min in val_bpb: real needs a gain shown above it, a gain within ±δ_min is negligible (default: the larger of the org's simplicity threshold and ${MARGIN_NOISE_FRACTION} × the seed-noise sd, measured when missing)`,
      })
      .option("effect", { type: "number", describe: "the gain of interest in val_bpb, at least 2·δ_min (default: the noise floor's detectable effect)" })
      .option("dataset", { type: "string", describe: "a prepared dataset (default: the run's own)" })
      .option("hard-limit", { type: "number", describe: "kill a rerun after this many seconds" })
      .option("json", { type: "boolean", default: false, describe: "the verdicts as JSON" })
      .example("$0 verify --run nov24", "every claim of a run")
      .example("$0 verify 3f9c2a1 --max-seeds 16", "one experiment, by its commit") as never,
  handler: async (argv) => {
    if (argv.experiment === undefined && argv.run === undefined) throw new UsageError("name an experiment (its id or commit) or pass --run R");
    const integer = (name: string, v: number, min: number) => {
      if (!Number.isInteger(v) || v < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${v}`);
    };
    integer("max-seeds", argv["max-seeds"], 2);
    integer("min-seeds", argv["min-seeds"], 2);
    const confirmProblem = checkConfirmSeeds(argv["confirm-seeds"]);
    if (confirmProblem) throw new UsageError(confirmProblem);
    if (!(argv.alpha > 0 && argv.alpha < 0.5)) throw new UsageError(`--alpha must be in (0, 0.5), got ${argv.alpha}`);
    if (argv.effect !== undefined && !(argv.effect > 0)) throw new UsageError(`--effect must be a positive gain in val_bpb, got ${argv.effect}`);
    if (argv.margin !== undefined && !(argv.margin >= 0)) throw new UsageError(`--margin must be a gain in val_bpb ≥ 0, got ${argv.margin}`);
    if (argv.margin !== undefined && argv.effect !== undefined && !(argv.effect > argv.margin))
      throw new UsageError(`--effect (${argv.effect}) must be above --margin (${argv.margin}): the effect of interest is a gain worth crediting`);

    const launcherFlag = launcherFromArgs(argv);
    refuseImportedRun(argv.workspace, "verify", (store) => importedTarget(store, argv.experiment, argv.run));
    let opened = await openForMeasuring(argv.workspace);
    try {
      const { store } = opened;
      const { run, claims } = selectClaims(store, argv.experiment, argv.run);
      const sandbox = sandboxFor(argv.sandbox, authorOfAgent(run.agent));
      opened = withMeasuringLauncher(opened, launcherFlag, run);
      const setup = measureSetup(opened, {
        profile: run.profile,
        timeBudget: run.timeBudget,
        ...(argv.dataset ? { dataset: argv.dataset } : {}),
        run,
        ...(argv["hard-limit"] !== undefined ? { hardLimit: argv["hard-limit"] } : {}),
        sandbox,
        quiet: argv.json,
      });
      await checkLauncher(opened, { datasetDir: setup.datasetDir, devices: [run.profile === "gpu" ? "gpu" : "cpu"], timeBudget: run.timeBudget, ...(setup.hardLimit !== undefined ? { hardLimit: setup.hardLimit } : {}) });
      const thresholds = await thresholdsOf(setup, run, argv);
      const summary = await verifyClaimsOfRun(setup, store.listExperimentBriefs([run.id]), claims, {
        thresholds,
        maxSeeds: argv["max-seeds"],
        minSeeds: argv["min-seeds"],
        alpha: argv.alpha,
        confirmSeeds: argv["confirm-seeds"],
        onClaim: (e, i, n) => {
          if (!argv.json) process.stderr.write(`claim ${i + 1}/${n}: exp ${e.seq} ${e.commit!.slice(0, 7)} ${e.description}\n`);
        },
        onRetry: (e, attempt) => {
          if (!argv.json) process.stderr.write(`claim exp ${e.seq} ${e.commit!.slice(0, 7)} again (retry ${attempt}): load changed within its pairs\n`);
        },
      });
      if (argv.json) console.log(JSON.stringify({ run: { id: run.id, branch: run.branch }, ...thresholds, ...summary }));
      else print(run, thresholds, summary);
    } finally {
      opened.close();
    }
  },
};

function selectClaims(store: Store, experiment: string | undefined, which: string | undefined): { run: Run; claims: Experiment[] } {
  if (experiment === undefined) {
    const run = pickRun(store, which);
    const claims = claimsOf(store.listExperiments(run.id));
    if (claims.length === 0) throw new UsageError(`run ${run.branch} kept nothing after its baseline: there is no claim to verify`);
    return { run, claims };
  }
  const only = which === undefined ? undefined : pickRun(store, which);
  const found = lookUpExperiment(store, experiment, only);
  if (found.length === 0) throw new UsageError(`no experiment '${experiment}' in this workspace: give an experiment id or a commit from \`nightshift results\``);
  if (found.length > 1) throw new UsageError(`'${experiment}' matches ${found.length} experiments: give more of the commit`);
  const e = found[0]!;
  const r = only ?? store.getRun(e.runId);
  if (e.status !== "keep") throw new UsageError(`experiment ${e.id} (${e.commit?.slice(0, 7) ?? "no commit"}) was ${e.status}, not kept: only kept experiments claim a win`);
  if (baselineOf(store.listExperimentBriefs([e.runId]))?.id === e.id) throw new UsageError(`experiment ${e.id} is the run's baseline: it claims nothing to verify`);
  return { run: r, claims: [e] };
}

/**
 * The run verify would rerun, when it is an imported one: --run's, or the run of the experiment
 * named — also when the name matches that experiment in several imports of one run, which
 * selectClaims would call ambiguous, though no amount of hash settles it.
 */
function importedTarget(store: Store, experiment: string | undefined, which: string | undefined): Run | undefined {
  const only = which === undefined ? undefined : pickRun(store, which);
  if (experiment === undefined) return only ?? pickRun(store, undefined);
  const runs = lookUpExperiment(store, experiment, only).map((e) => store.getRun(e.runId));
  return runs.length > 0 && runs.every((r) => r.importedFrom !== null) ? runs[0] : undefined;
}

/**
 * The experiments `verify <experiment>` names: an id (fewer than 7 digits), or a commit prefix
 * looked up through the store's commit index (never a scan of every run); within one run if given.
 */
export function lookUpExperiment(store: Store, experiment: string, run?: Run): Experiment[] {
  if (/^\d+$/.test(experiment) && experiment.length < 7) {
    const id = Number(experiment);
    if (id < 1) return [];
    try {
      const e = store.getExperiment(id);
      return run === undefined || e.runId === run.id ? [e] : [];
    } catch (err) {
      if ((err as { code?: string }).code === "STORE_UNKNOWN_EXPERIMENT") return [];
      throw err;
    }
  }
  // A commit as results.tsv shows it (7 digits) or longer; 64 for a SHA-256 repository.
  if (!/^[0-9a-f]{4,64}$/.test(experiment)) return [];
  if (experiment.length > 40) return store.findExperimentsByCommit(experiment.slice(0, 40), run?.id).filter((e) => e.commit?.startsWith(experiment));
  return store.findExperimentsByCommit(experiment, run?.id);
}

/**
 * δ_min and the effect of interest (thresholds.ts). δ_min needs the seed-noise sd under the
 * run's conditions: without a stored noise floor (and without --margin), one is measured here.
 */
async function thresholdsOf(setup: MeasureSetup, run: Run, argv: VerifyArgs): Promise<Thresholds> {
  const { store } = setup;
  const key = { profile: setup.profile, timeBudget: setup.timeBudget, deviceKind: setup.deviceKind, dataset: basename(setup.datasetDir) };
  let floor = store.latestNoiseFloor(key);
  if (!floor && argv.margin === undefined) {
    const baseline = baselineOf(store.listExperimentBriefs([run.id]))?.commit ?? run.baseCommit;
    if (!argv.json)
      process.stderr.write(`no noise floor for ${key.profile}, ${key.timeBudget} s, ${key.deviceKind}, dataset ${key.dataset}: measuring it for δ_min (${NOISE_SEEDS_FOR_MARGIN} reruns of ${baseline.slice(0, 7)}; \`nightshift noise\` measures it ahead)\n`);
    const measured = await measureNoiseFloor(setup, baseline, NOISE_SEEDS_FOR_MARGIN, argv["max-seeds"]);
    if (measured.values.length < 2)
      throw new UsageError(`the noise floor could not be measured: ${measured.failed} of ${NOISE_SEEDS_FOR_MARGIN} reruns of the baseline ${baseline.slice(0, 7)} failed (see \`nightshift results\`); give --margin to verify without it`);
    floor = measured.floor;
  }
  const simplicityThreshold = parseStrategy(store.getOrg(run.orgId).programMd)?.simplicityThreshold ?? 0;
  const thresholds = verificationThresholds({
    simplicityThreshold,
    floor: floor ?? null,
    ...(argv.margin !== undefined ? { margin: argv.margin } : {}),
    ...(argv.effect !== undefined ? { effect: argv.effect } : {}),
  });
  if (!(thresholds.effect > thresholds.margin))
    throw new UsageError(`--effect (${thresholds.effect}) must be above δ_min (${thresholds.margin.toPrecision(3)}, ${thresholds.marginFrom}): raise --effect, or give --margin`);
  return thresholds;
}

function print(run: Run, t: Thresholds, s: VerifySummary): void {
  console.log(
    `run ${run.branch}: ${s.claims.length} claim${s.claims.length === 1 ? "" : "s"} verified ` +
      `(δ_min ${t.margin.toPrecision(3)} bpb: ${t.marginFrom}; effect of interest ${t.effect.toPrecision(3)} bpb)`,
  );
  for (const { experiment: e, verification: v } of s.claims) {
    const gain = v.meanGain === null ? "" : ` gain ${v.meanGain >= 0 ? "+" : ""}${v.meanGain.toFixed(5)}`;
    const p = v.pAdjusted === null ? "" : ` p_BH ${v.pAdjusted.toPrecision(3)}`;
    const test = v.testBpb === null ? "" : ` test_bpb ${v.testBpb.toFixed(6)}`;
    console.log(`  exp ${String(e.seq).padStart(3)} ${e.commit!.slice(0, 7)} ${v.verdict.padEnd(12)} ${v.seeds} seeds${gain}${p}${test}  ${e.description}`);
    console.log(`      ${v.reason}`);
    const confirmed = confirmationOf(v.details);
    if (confirmed) {
      const interval = confirmed.interval ? `, 90% interval [${confirmed.interval[0].toFixed(5)}, ${confirmed.interval[1].toFixed(5)}]` : "";
      console.log(`      credited gain ${confirmed.meanGain.toFixed(5)} from ${confirmed.seeds} confirmation seeds${interval}${confirmed.stopped ? ` (stopped: ${confirmed.stopped})` : ""}`);
    }
  }
  const c = s.counts;
  console.log(
    `naive rule kept ${s.naive.keeps} of ${s.naive.finished} experiments; under pure noise it would keep ${s.naive.expectedFalseKeeps.toFixed(1)} ± ${s.naive.sd.toFixed(1)}. ` +
      `Verified: ${c.real} real, ${c.negligible} negligible, ${c.noise} noise, ${c.inconclusive} inconclusive, ${c.flagged} flagged.`,
  );
}
