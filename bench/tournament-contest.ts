/**
 * Benchmark: the planted contest (issue 6, "How it will be judged"). The lab's base recipe is
 * the small recipe with one knob detuned (--knob, default UNEMBEDDING_LR, set 1000× too low); org
 * "good" has a strategy block that explores that knob, org "blind" one that explores only knobs
 * that barely matter here (ADAM_BETAS[1] in a tiny range, WINDOW_PATTERN between near-equal
 * patterns). Each trial is a fresh 1-night tournament of the two (its own workspace, its own
 * seed) driven through the library exactly as `nightshift tournament start` drives it; a trial
 * is a win when "good" ranks first with a verdict "real" and a verified gain > 0. Prints each
 * trial, then the win rate with a 95% Clopper–Pearson interval (the goal is ≥ 80%).
 *
 *   node --import tsx bench/tournament-contest.ts                 # 12 trials, 1 s budgets, ≤ 4 seeds
 *   node --import tsx bench/tournament-contest.ts --trials 20 --budget 2 --experiments 8
 *
 * Uses the tiny synthetic dataset and the small recipe of the tests (no `prepare` needed).
 * Why UNEMBEDDING_LR: with MATRIX_LR detuned instead, the detuned baseline's val_bpb swings by
 * whole bits from seed to seed on this tiny setup, so a 4-seed verification stays inconclusive
 * (measured: 0/4 trials, claimed gains ≈ 4 bpb, verified mean ≈ 0.2 bpb, p ≈ 0.09–0.2).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { deviceInfo } from "../src/engine/index.ts";
import { Lab, labReadme } from "../src/lab/index.ts";
import { parseDevices } from "../src/workspace/devices.ts";
import { loadOrg } from "../src/workspace/org.ts";
import { openWorkspace } from "../src/workspace/workspace.ts";
import { DEFAULT_META, type TournamentSettings, driveTournament, startTournament } from "../src/tournament/index.ts";
import { smallTrainTs } from "../test/support/small-lab.ts";
import { writeTinyDataset } from "../test/support/tiny-dataset.ts";

const { values: args } = parseArgs({
  options: {
    trials: { type: "string", default: "12" },
    budget: { type: "string", default: "1" },
    experiments: { type: "string", default: "6" },
    "max-seeds": { type: "string", default: "4" },
    knob: { type: "string", default: "UNEMBEDDING_LR" },
    seed: { type: "string", default: "1" },
    verbose: { type: "boolean", default: false },
  },
});
const trials = Number(args.trials);
const budget = Number(args.budget);
const experiments = Number(args.experiments);
const maxSeeds = Number(args["max-seeds"]);
const firstSeed = Number(args.seed);

/** The detuned knob: its tuned line in the small recipe and the value it gets (1000× too low). */
const KNOBS: Record<string, { line: RegExp; detuned: string; range: [number, number] }> = {
  MATRIX_LR: { line: /export const MATRIX_LR = [^;]+;/, detuned: "export const MATRIX_LR = 0.00004;", range: [0.00001, 0.1] },
  UNEMBEDDING_LR: { line: /export const UNEMBEDDING_LR = [^;]+;/, detuned: "export const UNEMBEDDING_LR = 0.000004;", range: [0.000001, 0.01] },
};
const knob = KNOBS[args.knob!];
if (!knob) throw new Error(`--knob must be one of ${Object.keys(KNOBS).join(", ")}`);

const program = (name: string, prose: string, strategy: object) =>
  `# nightshift — the ${name} org\n\n${prose}\n\n\`\`\`nightshift-strategy\n${JSON.stringify(strategy, null, 2)}\n\`\`\`\n`;
const ORGS = {
  good: program("good", `Tunes ${args.knob}.`, {
    stepSize: 0.3,
    explorationRate: 0.3,
    knobs: [{ name: args.knob, kind: "log", min: knob.range[0], max: knob.range[1] }],
  }),
  blind: program("blind", "Tunes what barely matters here.", {
    stepSize: 0.3,
    explorationRate: 0.3,
    knobs: [
      { name: "ADAM_BETAS[1]", kind: "linear", min: 0.94, max: 0.96 },
      { name: "WINDOW_PATTERN", kind: "choice", choices: ["SSSL", "SSLL", "SLSL"] },
    ],
  }),
};

function binomialCdf(k: number, n: number, p: number): number {
  let sum = 0;
  let term = Math.pow(1 - p, n);
  for (let i = 0; i <= k; i++) {
    sum += term;
    term *= ((n - i) / (i + 1)) * (p / (1 - p));
  }
  return Math.min(1, sum);
}

/** 95% Clopper–Pearson interval for k successes of n, by bisection on the binomial tails. */
function clopperPearson(k: number, n: number): [number, number] {
  const solve = (f: (p: number) => number) => {
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (f(mid) > 0) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  const lower = k === 0 ? 0 : solve((p) => 1 - binomialCdf(k - 1, n, p) < 0.025 ? 1 : -1);
  const upper = k === n ? 1 : solve((p) => (binomialCdf(k, n, p) > 0.025 ? 1 : -1));
  return [lower, upper];
}

const root = mkdtempSync(join(tmpdir(), "ns-contest-"));
const dataset = join(root, "data");
writeTinyDataset(dataset, { docs: { val: 100, test: 200 } });
const trainTs = smallTrainTs().replace(knob.line, knob.detuned);
if (trainTs === smallTrainTs()) throw new Error(`the small recipe has no ${args.knob} line`);
for (const [name, md] of Object.entries(ORGS)) {
  mkdirSync(join(root, "orgs", name), { recursive: true });
  writeFileSync(join(root, "orgs", name, "program.md"), md);
}
const population = Object.keys(ORGS).map((name) => loadOrg(join(root, "orgs", name)));
const slots = parseDevices("cpu", { gpus: 0, cpuThreads: deviceInfo().threads });

console.log(
  `planted contest: ${args.knob} detuned (${knob.detuned.replace("export const ", "")}); "good" explores it, "blind" explores ADAM_BETAS[1] ∈ [0.94, 0.96] and WINDOW_PATTERN; ` +
    `${trials} tournaments of 1 night, ${experiments} experiments, ${budget} s budgets, ≤ ${maxSeeds} verification seeds, seeds ${firstSeed}..${firstSeed + trials - 1}`,
);
const t0 = Date.now();
let wins = 0;
try {
  for (let i = 0; i < trials; i++) {
    const seed = firstSeed + i;
    const ws = join(root, `ws-${i}`);
    await Lab.init(join(ws, "lab"), { trainTs, readme: labReadme({ profile: "cpu" }) });
    const workspace = await openWorkspace(ws, "cpu");
    const settings: TournamentSettings = {
      profile: "cpu",
      timeBudget: budget,
      datasetDir: dataset,
      experimentsPerNight: experiments,
      allocation: "halving",
      seed,
      evolutionSeed: seed,
      devices: "cpu",
      verify: { maxSeeds, minSeeds: Math.min(2, maxSeeds), alpha: 0.05, effect: 0.002 },
      breed: 1,
      retire: 1,
      meta: DEFAULT_META,
    };
    const started = Date.now();
    try {
      const t = await startTournament(workspace, { name: `contest-${i}`, nights: 1, population, settings });
      await driveTournament(workspace, t, { slots, log: args.verbose ? (l) => console.log(`  ${l}`) : () => undefined });
      const night = workspace.store.listNights(t.id)[0]!;
      const results = workspace.store.listNightResults(night.id);
      const line = results.map((r) => `#${r.rank} ${workspace.store.getOrg(r.orgId).name} ${r.verdict ?? "no claim"} claimed ${r.claimedGain.toFixed(4)} verified ${r.verifiedGain.toFixed(4)}`);
      const first = results[0]!;
      const win = workspace.store.getOrg(first.orgId).name === "good" && first.verdict === "real" && first.verifiedGain > 0;
      if (win) wins++;
      console.log(`trial ${i + 1} (seed ${seed}): ${win ? "WIN " : "loss"} — ${line.join("; ")} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    } finally {
      workspace.store.close();
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
const [lo, hi] = clopperPearson(wins, trials);
console.log(
  `good wins ${wins}/${trials} = ${((100 * wins) / trials).toFixed(0)}% (95% Clopper–Pearson ${(100 * lo).toFixed(0)}–${(100 * hi).toFixed(0)}%); goal ≥ 80%: ${wins / trials >= 0.8 ? "met" : "NOT met"}; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
