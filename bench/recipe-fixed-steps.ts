/**
 * Reproducible val_bpb of a recipe: trains a train.ts for exactly --steps optimizer steps on a
 * simulated budget clock (each step takes one second of a --steps-second budget, so progress
 * at step k is exactly k / steps whatever the machine's speed), on the prepared dataset with the
 * harness's loader and seed, then scores it with the harness's evaluateBpb. Two recipes that
 * compute the same thing print the same val_bpb to the last bit; `nightshift train` cannot show
 * that, because its wall-clock budget decides the step count and the LR schedule. It only
 * measures: no sandbox, no child process, so run it on recipes you trust (the baseline).
 *
 *   node --import tsx bench/recipe-fixed-steps.ts                          # src/recipe/train.ts, 30 steps
 *   node --import tsx bench/recipe-fixed-steps.ts --recipe src/recipe/old.ts --steps 30 --seed 42
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { resolveDatasetDir } from "../src/commands/common.ts";
import { deviceInfo } from "../src/engine/index.ts";
import { PROFILES } from "../src/harness/constants.ts";
import { makeBatchLoader } from "../src/harness/dataloader.ts";
import { openDataset } from "../src/harness/dataset.ts";
import { evaluateBpb } from "../src/harness/evaluate.ts";
import type { BudgetClock, TrainContext, TrainFunction } from "../src/harness/types.ts";

const { values: args } = parseArgs({
  options: {
    recipe: { type: "string", default: "src/recipe/train.ts" },
    steps: { type: "string", default: "30" },
    seed: { type: "string", default: "42" },
    dataset: { type: "string" },
  },
});
const steps = Number(args.steps);
const seed = Number(args.seed);
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps: a positive integer, got ${args.steps}`);
if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed: a non-negative integer, got ${args.seed}`);

const profile = "cpu" as const;
const dataset = openDataset(resolveDatasetDir(args.dataset, profile));
const { manifest } = dataset;
const trainTokens = dataset.split("train");

// One simulated second per reported step, in a budget of `steps` seconds: the recipe's own
// step-time prediction then lets it run exactly `steps` steps, and every value is an integer.
let reported = 0;
const clock: BudgetClock = Object.freeze({
  budgetSeconds: steps,
  elapsed: () => reported,
  progress: () => Math.min(1, reported / steps),
  expired: () => reported >= steps,
});
let lastLoss = NaN;
const ctx: TrainContext = {
  profile,
  constants: { ...PROFILES[profile], timeBudget: steps, vocabSize: manifest.vocabSize },
  device: deviceInfo(),
  seed,
  clock,
  vocabSize: manifest.vocabSize,
  bosId: manifest.bosId,
  trainLoader: (batchSize, seqLen = PROFILES[profile].maxSeqLen) =>
    makeBatchLoader(trainTokens, manifest.bosId, batchSize, seqLen, { seed }),
  logger: {
    info: (message) => console.log(message),
    step: (report) => {
      reported += 1;
      lastLoss = report.loss;
    },
  },
};

const file = resolve(args.recipe!);
const train = (await import(pathToFileURL(file).href)).default as TrainFunction;
const t0 = performance.now();
const model = await train(ctx);
const trainSeconds = (performance.now() - t0) / 1000;
const { maxSeqLen, evalTokens } = PROFILES[profile];
const result = evaluateBpb(model, dataset, { evalTokens, seqLen: maxSeqLen });

console.log(`recipe:        ${file}`);
console.log(`steps:         ${reported} (seed ${seed}), ${trainSeconds.toFixed(1)} s, last smoothed loss ${lastLoss}`);
console.log(`val_bpb:       ${result.bpb} (${result.bpb.toPrecision(17)})`);
