/**
 * The noise floor of the current setup: one commit retrained with k fresh seeds. Its spread is
 * the seed-to-seed noise of val_bpb under these conditions (profile, budget, device kind,
 * dataset), from which follows the smallest gain a paired verification can detect. Stored per
 * conditions; the measurements are reused by later calls (k can grow one rerun at a time).
 */
import type { NoiseFloor as StoredNoiseFloor } from "../store/index.ts";
import { sd } from "../stats/describe.ts";
import { noiseFloor } from "../stats/noise.ts";
import { type MeasureSetup, measure, measurementKey } from "./measure.ts";

/** Noise seeds start here: apart from the run's seed and from verification seeds. */
export const NOISE_SEED_BASE = 2000;

export interface NoiseResult {
  floor: StoredNoiseFloor;
  values: number[];
  failed: number;
}

export async function measureNoiseFloor(setup: MeasureSetup, commit: string, seeds: number, verifySeeds: number, onSeed?: (i: number) => void): Promise<NoiseResult> {
  const values: number[] = [];
  let failed = 0;
  for (let i = 0; i < seeds; i++) {
    onSeed?.(i);
    const m = await measure(setup, commit, NOISE_SEED_BASE + i, "noise");
    if (m.outcome === "ok") values.push(m.valBpb!);
    else failed++;
  }
  const stats = noiseFloor(values, { seeds: verifySeeds });
  const floor = setup.store.recordNoiseFloor({ ...measurementKey(setup, commit), seeds: values.length, mean: stats.mean, sd: stats.sd, mde: stats.minDetectableEffect });
  return { floor, values, failed };
}

export interface TimingNoise {
  seed: number;
  /** val_bpb of every training with that seed (the noise floor's first, then the reruns). */
  values: number[];
  /** Their sd; null with fewer than two. */
  sd: number | null;
  /** Throughput of each training, tokens per second (null: not recorded). */
  tokensPerSecond: (number | null)[];
  failed: number;
}

export async function measureTimingNoise(setup: MeasureSetup, commit: string, reruns: number): Promise<TimingNoise> {
  const seed = NOISE_SEED_BASE;
  const measured = [await measure(setup, commit, seed, "noise")];
  for (let k = 1; k <= reruns; k++) measured.push(await measure(setup, commit, seed, "noise", { session: `same-seed rerun ${k}` }));
  const ok = measured.filter((m) => m.outcome === "ok");
  const values = ok.map((m) => m.valBpb!);
  return { seed, values, sd: values.length >= 2 ? sd(values) : null, tokensPerSecond: ok.map((m) => m.tokensPerSecond), failed: measured.length - ok.length };
}
