/**
 * Benchmark: how long a report of a 100-experiment run takes — building the model from the
 * store, drawing the charts and rendering the HTML page, and rendering the Markdown — cold
 * (first render in the process: template compilation, Vega's first run) and warm (best of the
 * next rounds). The run is synthetic but goes through the store's API like the loop's: a
 * baseline, keeps, discards, crashes with fix attempts, skipped proposals, two device slots,
 * and a real unified diff of the recipe for every experiment.
 *
 *   node --import tsx bench/report.ts                       # 100 experiments, 5 warm rounds
 *   node --import tsx bench/report.ts --experiments 300 --rounds 3
 *   node --import tsx bench/report.ts --out /tmp/bench-report       # also keep report.html and report.md
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTwoFilesPatch } from "diff";
import type { RunResult } from "../src/harness/types.ts";
import { baselineTrainTs } from "../src/lab/index.ts";
import { buildRunReport, renderReport } from "../src/report/index.ts";
import { openStore, type Store } from "../src/store/index.ts";

const { values: args } = parseArgs({
  options: {
    experiments: { type: "string", default: "100" },
    rounds: { type: "string", default: "5" },
    out: { type: "string" },
  },
});
const EXPERIMENTS = Number(args.experiments);
const ROUNDS = Number(args.rounds);
const BUDGET = 300;

/** A small deterministic generator, so every run of the bench measures the same report. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const KNOBS = ["MATRIX_LR = 0.04", "EMBEDDING_LR = 0.6", "UNEMBEDDING_LR = 0.004", "WEIGHT_DECAY = 0.2", "WARMDOWN_RATIO = 0.5", "SCALAR_LR = 0.5"];

/** The store's clock: fillStore moves it as a real run would (agent, training, evaluation). */
const clock = { t: Date.parse("2025-03-05T22:00:00Z") };

function fillStore(store: Store): number {
  const random = lcg(7);
  const org = store.createOrg({ name: "default", programMd: "# default org\n\nTune the recipe.\n" });
  const hex = (n: number) => n.toString(16).padStart(40, "0");
  const run = store.createRun({
    tag: "bench", orgId: org.id, branch: "nightshift/bench/default", profile: "cpu", timeBudget: BUDGET,
    deviceKind: "cpu", agent: "anthropic", model: "claude-bench", baseCommit: hex(1), settings: { devices: ["cpu:0", "cpu:1"] },
  });
  let head = hex(1);
  let headText = baselineTrainTs();
  let best = 1.88;
  const crashed: number[] = [];
  for (let i = 0; i < EXPERIMENTS; i++) {
    const usage = { model: "claude-bench", calls: 1, inputTokens: 15_000 + i * 50, outputTokens: 900, costUsd: 0.05 };
    const slot = i % 2;
    if (i > 0 && random() < 0.05) {
      store.recordSkipped({ runId: run.id, slot, parentCommit: head, reason: "malformed answer: no edit block", usage });
      continue;
    }
    const knob = KNOBS[Math.floor(random() * KNOBS.length)]!;
    const [name] = knob.split(" = ");
    const text = i === 0 ? headText : headText.replace(new RegExp(`${name} = [0-9.]+`), `${name} = ${(random() * 0.9 + 0.01).toFixed(4)}`);
    const fixOf = crashed.length > 0 && random() < 0.5 ? crashed.pop() : undefined;
    clock.t += 15_000; // the agent thinks
    const e = store.proposeExperiment({
      runId: run.id, slot, parentCommit: head,
      description: i === 0 ? "baseline" : `set ${name} (experiment ${i})`,
      hypothesis: `changing ${name} lowers val_bpb within the budget`, usage,
      ...(fixOf ? { fixOf, fixAttempt: 1 } : {}),
    });
    const diff = i === 0 ? "" : createTwoFilesPatch("a/train.ts", "b/train.ts", headText, text, undefined, undefined, { context: 3 });
    const commit = hex(1000 + i);
    clock.t += 5_000; // commit
    store.startExperiment(e.id, { commit, diff, seed: 42 });
    clock.t += (BUDGET + 30) * 1000; // training and evaluation
    const roll = random();
    const base: Pick<RunResult, "seed" | "profile" | "timeBudget"> = { seed: 42, profile: "cpu", timeBudget: BUDGET };
    if (i > 0 && roll < 0.08) {
      store.finishExperiment(e.id, { status: "crash", result: { ...base, status: "crash", error: "RangeError: offset is out of bounds", logTail: "step 3\nRangeError: offset is out of bounds\n".repeat(10) } });
      crashed.push(e.id);
      continue;
    }
    const valBpb = i === 0 ? best : best + (random() - 0.2) * 0.01;
    const summary = { val_bpb: valBpb, training_seconds: BUDGET, total_seconds: BUDGET + 20, peak_vram_mb: 2100, mfu_percent: 1.4, total_tokens_M: 12, num_steps: 900, num_params_M: 11.5, depth: 4 };
    const keep = i === 0 || valBpb < best;
    store.finishExperiment(e.id, { status: keep ? "keep" : "discard", result: { ...base, status: "ok", summary, logTail: "ok\n" }, ...(keep ? {} : { reason: `not better than ${best.toFixed(6)}` }) });
    if (keep) {
      best = valBpb;
      head = commit;
      headText = text;
    }
  }
  store.setRunStatus(run.id, "finished");
  return run.id;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ns-bench-report-"));
  try {
    const store = openStore(join(dir, "nightshift.db"), { now: () => new Date(clock.t) });
    const fillStart = performance.now();
    const runId = fillStore(store);
    const fillMs = performance.now() - fillStart;
    const run = store.getRun(runId);

    const time = async <T>(fn: () => Promise<T> | T): Promise<[T, number]> => {
      const start = performance.now();
      const value = await fn();
      return [value, performance.now() - start];
    };
    const [model, coldModel] = await time(() => buildRunReport(store, run));
    const [html, coldHtml] = await time(() => renderReport(model, { format: "html" }));
    const [md, coldMd] = await time(() => renderReport(model, { format: "md" }));
    let warmModel = Infinity;
    let warmHtml = Infinity;
    let warmMd = Infinity;
    for (let r = 0; r < ROUNDS; r++) {
      const [m, a] = await time(() => buildRunReport(store, run));
      warmModel = Math.min(warmModel, a);
      warmHtml = Math.min(warmHtml, (await time(() => renderReport(m, { format: "html" })))[1]);
      warmMd = Math.min(warmMd, (await time(() => renderReport(m, { format: "md" })))[1]);
    }
    store.close();
    if (args.out) {
      mkdirSync(args.out, { recursive: true });
      writeFileSync(join(args.out, "report.html"), html);
      writeFileSync(join(args.out, "report.md"), md);
    }

    const c = model.headline.counts;
    console.log(`run: ${c.total} experiments (${c.keep} keep, ${c.discard} discard, ${c.crash} crash, ${c.skipped} skipped), store filled in ${fillMs.toFixed(0)} ms`);
    console.log(`                 cold ms   warm ms (best of ${ROUNDS})   output`);
    console.log(`model           ${coldModel.toFixed(1).padStart(8)}  ${warmModel.toFixed(1).padStart(8)}`);
    console.log(`html (+charts)  ${coldHtml.toFixed(1).padStart(8)}  ${warmHtml.toFixed(1).padStart(8)}              ${(html.length / 1024).toFixed(0)} KiB`);
    console.log(`md              ${coldMd.toFixed(1).padStart(8)}  ${warmMd.toFixed(1).padStart(8)}              ${(md.length / 1024).toFixed(0)} KiB`);
    console.log(`total (cold)    ${(coldModel + coldHtml + coldMd).toFixed(1).padStart(8)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
