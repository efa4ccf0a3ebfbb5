/**
 * Benchmark: sequential verification (sequential.ts) against the fixed-n paired t test with the
 * same one-sided alpha and the same power at the effect of interest, on simulated claims whose
 * paired gains are N(trueGain, σ²) — no training. For each design and each true gain it prints
 * the verdict rates (false-real rate under the null, power under a planted effect), the mean
 * paired seeds per decision of both designs and their ratio (goal: ≤ 0.6×). One paired seed is
 * two training runs (parent and candidate), so the ratio is the same in runs.
 *
 *   node --import tsx bench/sequential.ts                  # 20,000 claims per row, seed 1
 *   node --import tsx bench/sequential.ts --claims 5000 --seed 7
 *
 * Not a test: it asserts nothing (test/stats/sequential.test.ts does, on fewer claims).
 */
import { parseArgs } from "node:util";
import { simulateSequential, type SequentialOptions, type SimulationResult } from "../src/stats/index.ts";

const { values: args } = parseArgs({
  options: {
    claims: { type: "string", default: "20000" },
    seed: { type: "string", default: "1" },
  },
});
const claims = Number(args.claims);
const seed = Number(args.seed);

interface Scenario {
  title: string;
  design: SequentialOptions;
  gains: { label: string; trueGain: number }[];
}

const ALPHA = 0.05;
const POWER = 0.9;
const scenarios: Scenario[] = [
  {
    title: "effect of interest 1σ, looks after seeds 3..16",
    design: { effect: 1, minSeeds: 3, maxSeeds: 16, alpha: ALPHA, power: POWER },
    gains: [
      { label: "null (0)", trueGain: 0 },
      { label: "1σ (= effect)", trueGain: 1 },
      { label: "2σ (planted)", trueGain: 2 },
    ],
  },
  {
    title: "effect of interest 2σ, looks after seeds 3..8",
    design: { effect: 2, minSeeds: 3, maxSeeds: 8, alpha: ALPHA, power: POWER },
    gains: [
      { label: "null (0)", trueGain: 0 },
      { label: "2σ (= effect, planted)", trueGain: 2 },
    ],
  },
  {
    title: "effect of interest 0.5σ, looks after seeds 3..50",
    design: { effect: 0.5, minSeeds: 3, maxSeeds: 50, alpha: ALPHA, power: POWER },
    gains: [
      { label: "null (0)", trueGain: 0 },
      { label: "0.5σ (= effect)", trueGain: 0.5 },
      { label: "2σ (planted)", trueGain: 2 },
    ],
  },
];

const f3 = (x: number): string => x.toFixed(3);
const f2 = (x: number | null): string => (x === null ? "  -  " : x.toFixed(2).padStart(5));
const pad = (s: string, n: number): string => s.padEnd(n);

console.log(`Sequential vs fixed-n verification: one-sided alpha ${ALPHA}, power ${POWER} at the effect of interest,`);
console.log(
  `Pocock-type spending for both bounds (t-calibrated), σ = sd of one paired gain; ${claims} claims per row, seed ${seed}.`,
);
console.log(`Seeds are paired seeds (2 training runs each). Binomial sd of a rate p: √(p(1-p)/${claims}).`);
const t0 = performance.now();
const headline: string[] = [];
for (const s of scenarios) {
  let fixedSeeds = 0;
  const rows: [string, SimulationResult][] = [];
  for (const g of s.gains) {
    const r = simulateSequential({ claims, trueGain: g.trueGain, design: s.design, seed: seed + rows.length });
    fixedSeeds = r.fixed.seeds;
    rows.push([g.label, r]);
  }
  console.log(`\n${s.title}; fixed n = ${fixedSeeds} seeds`);
  console.log(
    `${pad("true gain", 24)}| sequential: real  noise  incon  seeds (real/noise/incon)   | fixed: real  noise  incon  seeds | ratio`,
  );
  for (const [label, r] of rows) {
    const q = r.sequential;
    const by = q.meanSeedsBy;
    console.log(
      `${pad(label, 24)}|             ${f3(q.real)}  ${f3(q.noise)}  ${f3(q.inconclusive)}  ${q.meanSeeds.toFixed(2).padStart(5)} (${f2(by.real)}/${f2(by.noise)}/${f2(by.inconclusive)}) |        ${f3(r.fixed.real)}  ${f3(r.fixed.noise)}  ${f3(r.fixed.inconclusive)}  ${r.fixed.meanSeeds.toFixed(2).padStart(5)} | ${r.seedRatio.toFixed(2)}×`,
    );
    headline.push(`${s.title.split(",")[0]} / ${label}: ${r.seedRatio.toFixed(2)}×`);
  }
  // A night's claims mix noise and real gains; half and half is one such mix, not a claim about nights.
  const nullRow = rows[0]![1];
  const planted = rows.at(-1)![1];
  const mixed =
    (nullRow.sequential.meanSeeds + planted.sequential.meanSeeds) / (nullRow.fixed.meanSeeds + planted.fixed.meanSeeds);
  headline.push(`${s.title.split(",")[0]} / half null, half ${rows.at(-1)![0]}: ${mixed.toFixed(2)}×`);
}
console.log("\nMean seeds per decision, sequential / fixed n (goal ≤ 0.6×):");
for (const h of headline) console.log(`  ${h}`);
console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s, boundaries and calibration included)`);
