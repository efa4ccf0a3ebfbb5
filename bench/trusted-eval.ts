/**
 * Benchmark: what trusted evaluation costs on the cpu profile. The recipe's GPT (seeded init,
 * no training, so both paths score the very same model) is evaluated
 *   - in process with evaluateBpb: what the training child itself did before the trusted
 *     evaluator existed (the reference), and
 *   - through runTrain: the model served from its (sandboxed) child, logits sent through the
 *     exchange file, cross-entropy and probes in this process.
 * It also times start-up (runTrain called → train() entered) with and without the sandbox.
 * The two val_bpb must agree: the benchmark fails loudly when they do not.
 *
 *   node --import tsx bench/trusted-eval.ts            # 3 repetitions
 *   node --import tsx bench/trusted-eval.ts --reps 5
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Generator } from "../src/engine/index.ts";
import { PROFILES } from "../src/harness/constants.ts";
import { latestDatasetDir } from "../src/harness/data/cache.ts";
import { openDataset } from "../src/harness/dataset.ts";
import { evaluateBpb } from "../src/harness/evaluate.ts";
import { datasetsDir } from "../src/harness/paths.ts";
import { runTrain, sandboxSupport } from "../src/harness/runner/index.ts";
import { GPT, buildModelConfig } from "../src/recipe/train.ts";

const { values: args } = parseArgs({ options: { reps: { type: "string", default: "3" } } });
const reps = Number(args.reps);
const SEED = 7;
const profile = "cpu" as const;
const datasetDir = latestDatasetDir(datasetsDir(), profile);
if (!datasetDir) {
  console.error("no prepared cpu dataset: run `npx nightshift prepare` first");
  process.exit(2);
}
const { evalTokens, maxSeqLen } = PROFILES[profile];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function inProcess(): { seconds: number; bpb: number } {
  const dataset = openDataset(datasetDir!);
  const model = new GPT(buildModelConfig(profile, dataset.manifest.vocabSize));
  model.initWeights(new Generator(SEED));
  const started = performance.now();
  const { bpb } = evaluateBpb({ logits: (idx) => model.logits(idx), numParams: 1, flopsPerToken: 1, depth: 1 }, dataset, {
    evalTokens,
    seqLen: maxSeqLen,
  });
  return { seconds: (performance.now() - started) / 1000, bpb };
}

const work = mkdtempSync(join(tmpdir(), "nightshift-bench-eval-"));
const trainFile = join(work, "train.ts");
writeFileSync(
  trainFile,
  `import { Generator } from "nightshift/engine";
import type { TrainContext, TrainedModel } from "nightshift/harness";
import { GPT, buildModelConfig } from ${JSON.stringify(join(import.meta.dirname, "..", "src", "recipe", "train.ts"))};
export default async function train(ctx: TrainContext): Promise<TrainedModel> {
  ctx.logger.info("bench: train() entered");
  const model = new GPT(buildModelConfig(ctx.profile, ctx.vocabSize));
  model.initWeights(new Generator(${SEED}));
  ctx.logger.info("bench: model returned");
  return { logits: (idx) => model.logits(idx), numParams: model.numParams(), flopsPerToken: model.flopsPerToken(), depth: 1 };
}
`,
);

async function throughRunner(sandbox: "required" | "off"): Promise<{ startup: number; evaluation: number; bpb: number }> {
  const called = performance.now();
  let entered = 0;
  let returned = 0;
  const result = await runTrain({
    file: trainFile,
    datasetDir: datasetDir!,
    profile,
    seed: SEED,
    timeBudget: 30,
    sandbox,
    onLine: (line) => {
      if (line === "bench: train() entered") entered = performance.now();
      if (line === "bench: model returned") returned = performance.now();
    },
  });
  if (result.status !== "ok") throw new Error(`runTrain (${sandbox}) ended ${result.status}: ${result.error}\n${result.logTail}`);
  return { startup: (entered - called) / 1000, evaluation: (performance.now() - returned) / 1000, bpb: result.summary!.val_bpb };
}

try {
  const sandboxed = sandboxSupport().available;
  const before: number[] = [];
  const after: number[] = [];
  const startSandboxed: number[] = [];
  const startPlain: number[] = [];
  let bpbBefore = NaN;
  let bpbAfter = NaN;
  for (let r = 0; r < reps; r++) {
    const a = inProcess();
    before.push(a.seconds);
    bpbBefore = a.bpb;
    const b = await throughRunner(sandboxed ? "required" : "off");
    after.push(b.evaluation);
    startSandboxed.push(b.startup);
    bpbAfter = b.bpb;
    startPlain.push((await throughRunner("off")).startup);
  }
  if (bpbBefore !== bpbAfter) throw new Error(`val_bpb differs: in process ${bpbBefore}, trusted ${bpbAfter}`);
  console.log(`cpu profile: ${evalTokens} eval tokens, seq ${maxSeqLen}, ${reps} repetitions (medians)`);
  console.log(`val_bpb (untrained, seed ${SEED}): ${bpbAfter.toFixed(6)} both ways`);
  console.log(`evaluation in process (before):   ${median(before).toFixed(2)} s`);
  console.log(`evaluation trusted (after):       ${median(after).toFixed(2)} s  (${(median(after) / median(before)).toFixed(3)}x; probes and teardown included)`);
  console.log(`start-up, no sandbox:             ${median(startPlain).toFixed(2)} s`);
  console.log(`start-up, ${sandboxed ? "sandboxed:  " : "(no bwrap) "}             ${median(startSandboxed).toFixed(2)} s  (+${(median(startSandboxed) - median(startPlain)).toFixed(2)} s)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
