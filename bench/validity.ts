/**
 * Benchmark: the validity of the whole verification procedure as verification/verify.ts applies it —
 * the sequential rule with margin δ_min and effect 2·δ_min, looks after seeds 3..12 (--max-seeds), each
 * of a night's m claims tested at alpha/m (src/stats/family.ts), Benjamini–Hochberg at alpha 0.05
 * across their sequential p-values (crediting rule-real claims and claims undecided at the cap),
 * 3 confirmation seeds for the credited gains — on simulated claims (no training; src/stats/validity.ts draws the gains
 * and calls the real rule), under three noise models of the paired gains: normal, skewed
 * (skewness -1 and +1, same mean and sd) and drifting machine load. Prints the goal figures of
 * issue 14 with pass/fail, and the skew-robustness candidates that chose the rule's statistic.
 *
 *   node --import tsx bench/validity.ts                     # 20,000 A/A claims per row, seed 1
 *   node --import tsx bench/validity.ts --claims 5000 --seed 7
 *   node --import tsx bench/validity.ts --margin 2          # δ_min = 2σ (a noisier claim: 1σ)
 *
 * Units: σ is the sd of one paired gain without load; δ_min = 1σ by default (--margin); the
 * seed-noise sd of val_bpb is 2·δ_min, as the default δ_min is half of it (thresholds.ts).
 * Not a test: it asserts nothing (test/stats/validity.test.ts and skewness.test.ts do). Real A/A
 * claims, trained and verified end to end: bench/validity-real.ts.
 */
import { parseArgs } from "node:util";
import { sampleSize } from "../src/stats/power.ts";
import { SeededRandom } from "../src/stats/random.ts";
import { sequentialDesign, type SequentialDesign, type SequentialOptions } from "../src/stats/sequential.ts";
import { GainSource, type GainNoise, simulateNight, type SimulatedClaim } from "../src/stats/validity.ts";

const { values: args } = parseArgs({
  options: {
    claims: { type: "string", default: "20000" },
    nights: { type: "string", default: "1500" },
    seed: { type: "string", default: "1" },
    margin: { type: "string", default: "1" },
    "max-seeds": { type: "string", default: "12" },
  },
});

const claims = Number(args.claims);
const nights = Number(args.nights);
const seed = Number(args.seed);
const margin = Number(args.margin);
const maxSeeds = Number(args["max-seeds"]);
const ALPHA = 0.05;
const CONFIRM = 3;
const CLAIMS_PER_NIGHT = 8;
const seedSd = 2 * margin; // δ_min = half the seed-noise sd
const options: SequentialOptions = { effect: 2 * margin, margin, maxSeeds, minSeeds: 3, alpha: ALPHA };
const design = sequentialDesign(options);

const NOISE: { label: string; noise: GainNoise }[] = [
  { label: "normal", noise: { kind: "normal" } },
  { label: "skew -1", noise: { kind: "skewed", skewness: -1 } },
  { label: "skew +1", noise: { kind: "skewed", skewness: 1 } },
  // Load sd 0.3 seed sd, lag-one correlation 0.9 per training, a trend of ±0.02 seed sd per training.
  { label: "drifting load", noise: { kind: "drift", loadSd: 0.3 * seedSd, phi: 0.9, trend: 0.02 * seedSd } },
];

const f3 = (x: number): string => x.toFixed(3);
const verdictOf = (c: SimulatedClaim): boolean => c.verdict === "real";
const mark = (ok: boolean): string => (ok ? "pass" : "FAIL");
let rngSeed = seed;

/** Claims verified one per night (BH over one claim is the claim's own p): the per-claim rates. */
function perClaim(design: SequentialDesign, noise: GainNoise, trueGain: number, n: number) {
  const rng = new SeededRandom(rngSeed++);
  let credited = 0;
  let seeds = 0;
  for (let i = 0; i < n; i++) {
    const [c] = simulateNight([trueGain], design, new GainSource(rng, noise), 0);
    if (verdictOf(c!)) credited++;
    seeds += c!.seeds;
  }
  return { credited: credited / n, seeds: seeds / n };
}

console.log(`Verification validity (issue 14): δ_min = ${margin}σ, effect 2·δ_min, looks after seeds 3..${maxSeeds}, alpha ${ALPHA},`);
console.log(`efficacy ${design.statistic === "hall" ? "Hall's skewness-corrected t" : "paired t"}, ${design.spending} spending; BH over nights of ${CLAIMS_PER_NIGHT}; ${CONFIRM} confirmation seeds; seed ${seed}.`);
console.log(`σ = sd of one paired gain; seed-noise sd of val_bpb = 2·δ_min. Binomial sd of a rate p over n: √(p(1-p)/n).`);
const t0 = performance.now();

// 1. Skew robustness: the candidates measured for the rule's efficacy statistic (per claim).
console.log(`\n1. Skew robustness: per-claim false-real rate at a true gain of δ_min, and power at 2·δ_min (${claims} claims per cell)`);
console.log(`${"statistic / spending".padEnd(34)}| normal  skew -1  skew +1 | power normal  skew -1 | seeds null / 2·δ_min`);
for (const [statistic, spending] of [["t", "pocock"], ["hall", "pocock"], ["t", "obrien-fleming"], ["hall", "obrien-fleming"]] as const) {
  const d = sequentialDesign({ ...options, statistic, spending });
  const cells = NOISE.slice(0, 3).map((n) => perClaim(d, n.noise, margin, claims));
  const power = NOISE.slice(0, 2).map((n) => perClaim(d, n.noise, 2 * margin, claims));
  const label = `${statistic} / ${spending}${statistic === design.statistic && spending === design.spending ? " (the rule)" : ""}`;
  console.log(
    `${label.padEnd(34)}| ${cells.map((c) => f3(c.credited)).join("    ")} |       ${power.map((p) => f3(p.credited)).join("    ")} | ${cells[0]!.seeds.toFixed(2)} / ${power[0]!.seeds.toFixed(2)}`,
  );
}

// 2. The goal figures, per noise model.
const goals: string[] = [];
for (const { label, noise } of NOISE) {
  const aa0 = perClaim(design, noise, 0, claims);
  const aaMargin = perClaim(design, noise, margin, claims);
  // Nights of 8 claims, r of them real at 2·δ_min, the rest null at δ_min (the least favourable null).
  const rng = new SeededRandom(rngSeed++);
  const fdrByReal: number[] = [];
  const powerByReal: string[] = [];
  let planted = 0;
  let plantedCredited = 0;
  let covered = 0;
  let confirmedSum = 0;
  let sequentialSum = 0;
  let creditedWithConfirmation = 0;
  let seedsMix = 0;
  let claimsMix = 0;
  for (let r = 0; r <= CLAIMS_PER_NIGHT; r++) {
    let fdp = 0;
    const [plantedBefore, creditedBefore] = [planted, plantedCredited];
    for (let night = 0; night < nights; night++) {
      const gains = Array.from({ length: CLAIMS_PER_NIGHT }, (_, i) => (i < r ? 2 * margin : margin));
      const night_ = simulateNight(gains, design, new GainSource(rng, noise), CONFIRM);
      const credited = night_.filter(verdictOf);
      const falses = credited.filter((c) => c.trueGain <= margin).length;
      fdp += credited.length > 0 ? falses / credited.length : 0;
      for (const c of night_) {
        seedsMix += c.seeds + (c.confirmation?.seeds ?? 0);
        claimsMix++;
        if (c.trueGain <= margin) continue;
        planted++;
        if (!verdictOf(c)) continue;
        plantedCredited++;
        sequentialSum += c.meanGain;
        const conf = c.confirmation!;
        creditedWithConfirmation++;
        confirmedSum += conf.meanGain;
        if (conf.interval && conf.interval[0] <= c.trueGain && c.trueGain <= conf.interval[1]) covered++;
      }
    }
    fdrByReal.push(fdp / nights);
    if (r > 0) powerByReal.push(f3((plantedCredited - creditedBefore) / (planted - plantedBefore)));
  }
  const power = plantedCredited / planted;
  const coverage = covered / creditedWithConfirmation;
  const bias = confirmedSum / creditedWithConfirmation / (2 * margin) - 1;
  const seqBias = sequentialSum / plantedCredited / (2 * margin) - 1;
  const fdrMax = Math.max(...fdrByReal);
  // Fixed n: the one-sided paired t at the same alpha with the power the sequential design reached.
  const aaPlanted = perClaim(design, noise, 2 * margin, claims);
  const fixedN = sampleSize(design.effect - margin, 1, { alpha: ALPHA, power: aaPlanted.credited, sided: "one-sided" });
  const mixSeq = (aaMargin.seeds + aaPlanted.seeds) / 2;
  const mixWithConfirm = seedsMix / claimsMix;
  console.log(`\n2. ${label}`);
  console.log(`   A/A credited rate: true gain 0: ${f3(aa0.credited)}, at δ_min: ${f3(aaMargin.credited)} (${claims} claims each; goal ≤ 0.05) ${mark(aa0.credited <= 0.05 && aaMargin.credited <= 0.05)}`);
  console.log(`   FDR, nights of ${CLAIMS_PER_NIGHT} with 0..8 real at 2·δ_min (${nights} nights each): ${fdrByReal.map(f3).join(" ")}; max ${f3(fdrMax)} (goal ≤ 0.05) ${mark(fdrMax <= 0.05)}`);
  console.log(`   power at 2·δ_min, per claim: ${f3(aaPlanted.credited)} (goal ≥ 0.8) ${mark(aaPlanted.credited >= 0.8)}; credited after BH in those nights, 1..8 real: ${powerByReal.join(" ")}; all ${f3(power)}`);
  console.log(`   confirmation: 90% interval covers the true gain ${f3(coverage)} (goal ≥ 0.88) ${mark(coverage >= 0.88)}; bias of the credited gain ${(100 * bias).toFixed(1)}% (goal ≤ 10%) ${mark(Math.abs(bias) <= 0.1)}; the sequential mean's: ${(100 * seqBias).toFixed(1)}%`);
  console.log(`   mean seeds, half null at δ_min and half at 2·δ_min: ${mixSeq.toFixed(2)}; fixed n at the same alpha and per-claim power ${f3(aaPlanted.credited)}: ${fixedN}; ratio ${(mixSeq / fixedN).toFixed(2)}× (goal ≤ 0.6×) ${mark(mixSeq / fixedN <= 0.6)}; with confirmation seeds, over the mixture nights: ${mixWithConfirm.toFixed(2)} (${(mixWithConfirm / fixedN).toFixed(2)}×)`);
  goals.push(`${label}: A/A ${f3(aa0.credited)}/${f3(aaMargin.credited)}, FDR ≤ ${f3(fdrMax)}, power ${f3(aaPlanted.credited)} per claim (${f3(power)} after BH), coverage ${f3(coverage)}, bias ${(100 * bias).toFixed(1)}%, seeds ${(mixSeq / fixedN).toFixed(2)}×`);
}

// 3. Power at 2·δ_min against δ_min in units of σ (normal gains, per claim).
console.log(`\n3. Power at 2·δ_min (normal gains, per claim, ${claims} claims) against δ_min/σ, looks 3..${maxSeeds} and 3..16:`);
for (const m of [0.5, 1, 1.5, 2]) {
  const row = [maxSeeds, 16].map((cap) => {
    const d = sequentialDesign({ effect: 2 * m, margin: m, maxSeeds: cap, minSeeds: 3, alpha: ALPHA });
    const p = perClaim(d, { kind: "normal" }, 2 * m, claims);
    return `cap ${cap}: ${f3(p.credited)} (${p.seeds.toFixed(2)} seeds)`;
  });
  console.log(`   δ_min = ${m}σ: ${row.join(", ")}`);
}
console.log("\nSummary:");
for (const g of goals) console.log(`  ${g}`);
console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
