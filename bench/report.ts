/**
 * Benchmark: how long a report of a 100-experiment run takes — building the model from the
 * store, drawing the charts and rendering the HTML page, and rendering the Markdown — cold
 * (first render in the process: template compilation, Vega's first run) and warm (best of the
 * next rounds). The run is synthetic but goes through the store's API like the loop's: a
 * baseline, keeps, discards, crashes with fix attempts, skipped proposals, two device slots,
 * and a real unified diff of the recipe for every experiment.
 *
 * Then the same for the report of a 100-experiment tournament night (`--night`): four orgs
 * sharing the experiments over two allocation rounds (successive halving), each org's run
 * filled as above, each org's best verified (a verification with its interval), the night's
 * results and the champion recorded, and one child bred — all through the store's tournament API.
 *
 *   node --import tsx bench/report.ts                       # 100 experiments, 5 warm rounds
 *   node --import tsx bench/report.ts --experiments 300 --rounds 3
 *   node --import tsx bench/report.ts --out /tmp/bench-report       # also keep run.html/.md and night.html/.md
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTwoFilesPatch } from "diff";
import type { RunResult } from "../src/harness/types.ts";
import { baselineTrainTs } from "../src/lab/index.ts";
import { buildNightReport, buildRunReport, renderReport, type ReportModel } from "../src/report/index.ts";
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

const hex = (n: number) => n.toString(16).padStart(40, "0");

function fillStore(store: Store): number {
  const org = store.createOrg({ name: "default", programMd: "# default org\n\nTune the recipe.\n" });
  const run = store.createRun({
    tag: "bench", orgId: org.id, branch: "nightshift/bench/default", profile: "cpu", timeBudget: BUDGET,
    deviceKind: "cpu", agent: "anthropic", model: "claude-bench", baseCommit: hex(1), settings: { devices: ["cpu:0", "cpu:1"] },
  });
  fillRun(store, run.id, EXPERIMENTS, 7, 0);
  store.setRunStatus(run.id, "finished");
  return run.id;
}

/** `count` experiments of a run from `start` on (seq continues), deterministic in `seed`. */
function fillRun(store: Store, runId: number, count: number, seed: number, start: number): void {
  const random = lcg(seed + start);
  const run = { id: runId };
  let head = hex(1);
  let headText = baselineTrainTs();
  let best = 1.88;
  const crashed: number[] = [];
  for (let i = start; i < start + count; i++) {
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
    const commit = hex(1000 * seed + i);
    clock.t += 5_000; // commit
    store.startExperiment(e.id, { commit, diff, seed: 42 });
    clock.t += (BUDGET + 30) * 1000; // training and evaluation
    const roll = random();
    const base: Pick<RunResult, "seed" | "profile" | "timeBudget" | "sandboxed"> = { seed: 42, profile: "cpu", timeBudget: BUDGET, sandboxed: true };
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
}

/** A tournament night of `EXPERIMENTS` experiments over four orgs, through the tournament API. */
function fillNight(store: Store): { tournamentId: number; nightId: number } {
  const names = ["tuner", "architect", "scientist", "simplifier"];
  const orgs = names.map((name) => store.createOrg({ name, programMd: `# ${name} org\n\nTune the recipe, ${name}-style.\n`.repeat(20) }));
  const t = store.createTournament({ name: "bench", nights: 2, baseCommit: hex(1), orgIds: orgs.map((o) => o.id) });
  const night = store.startNight(t.id, 1);
  // Successive halving: everyone gets a quarter of the first half, the top two share the second.
  const first = Math.floor(EXPERIMENTS / 2 / orgs.length);
  const second = Math.floor((EXPERIMENTS - first * orgs.length) / 2);
  const rounds = [orgs.map((o) => ({ orgId: o.id, experiments: first })), orgs.slice(0, 2).map((o, k) => ({ orgId: o.id, experiments: k === 0 ? EXPERIMENTS - first * orgs.length - second : second }))];
  const runs = new Map<number, number>();
  const done = new Map<number, number>();
  rounds.forEach((grants, round) => {
    for (const a of store.addAllocations(night.id, round, grants)) {
      store.startAllocation(a.id);
      const org = orgs.find((o) => o.id === a.orgId)!;
      let runId = runs.get(org.id);
      if (runId === undefined) {
        runId = store.createRun({
          tag: "bench-n1", orgId: org.id, branch: `nightshift/bench-n1/${org.name}`, profile: "cpu", timeBudget: BUDGET,
          deviceKind: "cpu", agent: "anthropic", model: "claude-bench", baseCommit: hex(1), settings: { devices: ["cpu:0"] },
        }).id;
        runs.set(org.id, runId);
      }
      fillRun(store, runId, a.experiments, 11 + org.id, done.get(org.id) ?? 0);
      done.set(org.id, (done.get(org.id) ?? 0) + a.experiments);
      store.finishAllocation(a.id, runId);
    }
  });
  for (const runId of runs.values()) store.setRunStatus(runId, "finished");
  store.endAllocating(night.id);
  const results = orgs.map((org, k) => {
    const runId = runs.get(org.id)!;
    const experiments = store.listExperiments(runId);
    const kept = experiments.filter((e) => e.status === "keep" && e.summary);
    const best = kept.length > 1 ? kept.reduce((a, b) => (b.summary!.val_bpb < a.summary!.val_bpb ? b : a)) : undefined;
    const claimed = best ? kept[0]!.summary!.val_bpb - best.summary!.val_bpb : 0;
    const real = best !== undefined && k === 0;
    const gain = real ? claimed * 0.8 : claimed * 0.1;
    const seconds = experiments.length * (BUDGET + 30);
    return {
      orgId: org.id,
      runId,
      ...(best
        ? {
            experimentId: best.id,
            verification: {
              experimentId: best.id, parentCommit: hex(1), commit: best.commit!, verdict: real ? ("real" as const) : ("inconclusive" as const), seeds: 6,
              meanGain: gain, pValue: real ? 0.004 : 0.3, pAdjusted: real ? 0.012 : 0.6, testBpb: best.summary!.val_bpb + 0.01, parentTestBpb: kept[0]!.summary!.val_bpb + 0.01,
              reason: real ? "the gain clears zero after 6 paired seeds" : "the interval spans zero", details: { interval: [gain - 0.002, gain + 0.002], alpha: 0.05 },
            },
          }
        : {}),
      claimedGain: claimed, verifiedGain: real ? gain : 0, deviceSeconds: seconds, experiments: experiments.length,
      score: real ? gain / (seconds / 3600) : 0, rank: k + 1,
    };
  });
  const top = results[0]!;
  const champion = top.verification ? { commit: top.verification.commit, orgId: top.orgId, gain: top.verifiedGain } : null;
  store.recordNightResults(night.id, results, champion);
  store.evolveNight(night.id, {
    children: [{ name: "tuner-g1n1a", programMd: orgs[0]!.programMd + "\nTournament lineage: bred after night 1.\n", parentId: orgs[0]!.id, generation: 1, mutationNote: "night 1, draw 0: MATRIX_LR step 0.3" }],
    retire: [orgs[3]!.id],
  });
  return { tournamentId: t.id, nightId: night.id };
}

async function timeReport(label: string, build: () => ReportModel): Promise<void> {
  const time = async <T>(fn: () => Promise<T> | T): Promise<[T, number]> => {
    const start = performance.now();
    const value = await fn();
    return [value, performance.now() - start];
  };
  const [model, coldModel] = await time(build);
  const [html, coldHtml] = await time(() => renderReport(model, { format: "html" }));
  const [md, coldMd] = await time(() => renderReport(model, { format: "md" }));
  let warmModel = Infinity;
  let warmHtml = Infinity;
  let warmMd = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const [m, a] = await time(build);
    warmModel = Math.min(warmModel, a);
    warmHtml = Math.min(warmHtml, (await time(() => renderReport(m, { format: "html" })))[1]);
    warmMd = Math.min(warmMd, (await time(() => renderReport(m, { format: "md" })))[1]);
  }
  if (args.out) {
    mkdirSync(args.out, { recursive: true });
    writeFileSync(join(args.out, `${label}.html`), html);
    writeFileSync(join(args.out, `${label}.md`), md);
  }
  const c = model.headline.counts;
  console.log(`${label}: ${c.total} experiments over ${model.runs.length} run${model.runs.length === 1 ? "" : "s"} (${c.keep} keep, ${c.discard} discard, ${c.crash} crash, ${c.skipped} skipped)`);
  console.log(`                 cold ms   warm ms (best of ${ROUNDS})   output`);
  console.log(`model           ${coldModel.toFixed(1).padStart(8)}  ${warmModel.toFixed(1).padStart(8)}`);
  console.log(`html (+charts)  ${coldHtml.toFixed(1).padStart(8)}  ${warmHtml.toFixed(1).padStart(8)}              ${(html.length / 1024).toFixed(0)} KiB`);
  console.log(`md              ${coldMd.toFixed(1).padStart(8)}  ${warmMd.toFixed(1).padStart(8)}              ${(md.length / 1024).toFixed(0)} KiB`);
  console.log(`total (cold)    ${(coldModel + coldHtml + coldMd).toFixed(1).padStart(8)}`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ns-bench-report-"));
  try {
    const store = openStore(join(dir, "nightshift.db"), { now: () => new Date(clock.t) });
    let fillStart = performance.now();
    const runId = fillStore(store);
    console.log(`run store filled in ${(performance.now() - fillStart).toFixed(0)} ms`);
    const run = store.getRun(runId);
    await timeReport("run", () => buildRunReport(store, run));

    fillStart = performance.now();
    const { tournamentId, nightId } = fillNight(store);
    console.log(`\nnight store filled in ${(performance.now() - fillStart).toFixed(0)} ms`);
    const t = store.getTournament(tournamentId);
    const night = store.listNights(t.id).find((n) => n.id === nightId)!;
    await timeReport("night", () => buildNightReport(store, t, night));
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
