/**
 * `nightshift train [FILE]`: runs a train.ts (default: the baseline recipe) under the harness —
 * a child process, the profile's fixed data and budget, the harness's own val_bpb — and prints
 * autoresearch's summary block. Exit code 0 only for an "ok" run. The file is the user's choice:
 * where the sandbox cannot run it trains unsandboxed with a warning (--no-sandbox: silently). A
 * copy of the recipe made with `cp` runs too (its source-tree imports are rewritten, see below).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { CommandModule } from "yargs";
import { PROFILES } from "../harness/constants.ts";
import { runTrain } from "../harness/runner/index.ts";
import { sourceTreeImports, toLabTrainTs } from "../lab/index.ts";
import { checkSandbox, sandboxModeFromFlag } from "../workspace/sandbox.ts";
import { UsageError, resolveDatasetDir, resolveProfile, warn, withProfile, withSandbox } from "./common.ts";

export const RECIPE_FILE = fileURLToPath(new URL("../recipe/train.ts", import.meta.url));

interface TrainArgs {
  file?: string;
  seed: number;
  "time-budget"?: number;
  profile?: string;
  dataset?: string;
  log?: string;
  json: boolean;
  sandbox?: boolean;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: "train [file]",
  describe: "Train a train.ts (default: the baseline recipe) for the budget and report val_bpb",
  builder: (y) =>
    withSandbox(withProfile(y))
      .positional("file", { type: "string", describe: "a train.ts exporting `default async function train(ctx)`" })
      .option("seed", { type: "number", default: 42, describe: "the run's seed (init and data order)" })
      .option("time-budget", { type: "number", describe: "training seconds (default: the profile's TIME_BUDGET)" })
      .option("dataset", { type: "string", describe: "a prepared dataset directory (default: the latest `prepare` for the profile)" })
      .option("log", { type: "string", describe: "also write the run's full output to this file" })
      .option("json", { type: "boolean", default: false, describe: "print the result as JSON (live output goes to stderr)" })
      .example("$0 train", "the baseline recipe for the profile's budget")
      .example("$0 train my-train.ts --seed 7 --time-budget 30", "a variant, 30 seconds") as never,
  handler: async (argv) => {
    const profile = resolveProfile(argv.profile);
    const file = resolve(argv.file ?? RECIPE_FILE);
    if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file; give a train.ts to run`);
    if (!Number.isSafeInteger(argv.seed) || argv.seed < 0)
      throw new UsageError(`--seed must be a non-negative integer, got ${argv.seed}`);
    const timeBudget = argv["time-budget"] ?? PROFILES[profile].timeBudget;
    if (!(timeBudget > 0) || !Number.isFinite(timeBudget))
      throw new UsageError(`--time-budget must be a positive number of seconds, got ${argv["time-budget"]}`);
    const datasetDir = resolveDatasetDir(argv.dataset, profile);
    const sandbox = sandboxModeFromFlag(argv.sandbox) ?? "auto";
    warn(checkSandbox("known", sandbox, file));

    const copy = labFormOfCopy(file);
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once("SIGINT", onSigint);
    const live = argv.json ? process.stderr : process.stdout;
    try {
      const result = await runTrain({
        file: copy?.file ?? file,
        datasetDir,
        profile,
        seed: argv.seed,
        timeBudget,
        sandbox,
        signal: abort.signal,
        ...(argv.log ? { logFile: resolve(argv.log) } : {}),
        onOutput: (chunk) => live.write(chunk),
      });
      if (argv.json) console.log(JSON.stringify(result));
      if (result.status !== "ok") {
        console.error(`nightshift: run ${result.status}: ${result.error ?? "see the log above"}`);
        process.exitCode = 1;
      }
    } finally {
      process.off("SIGINT", onSigint);
      if (copy) rmSync(copy.dir, { recursive: true, force: true });
    }
  },
};

/**
 * A copy of src/recipe/train.ts (`cp src/recipe/train.ts my-train.ts`) still imports the source
 * tree ("../engine/index.ts"), which resolves only from src/recipe/. Such a copy runs with the
 * imports a lab's train.ts has ("nightshift/engine", "nightshift/harness": the same modules), from
 * a rewritten file in a temp folder, line for line the same. Anything else runs as it is.
 */
function labFormOfCopy(file: string): { dir: string; file: string } | null {
  const source = readFileSync(file, "utf8");
  const unresolved = sourceTreeImports(source).filter((specifier) => !existsSync(resolve(dirname(file), specifier)));
  if (unresolved.length === 0) return null;
  let labForm: string;
  try {
    labForm = toLabTrainTs(source);
  } catch {
    return null; // other relative imports too: the runner reports what it cannot resolve
  }
  warn(`${basename(file)} imports the source tree (${unresolved.join(", ")}); running it with "nightshift/engine" and "nightshift/harness" imports, as a lab's train.ts has them`);
  const dir = mkdtempSync(join(tmpdir(), "nightshift-train-"));
  writeFileSync(join(dir, basename(file)), labForm);
  return { dir, file: join(dir, basename(file)) };
}
