/**
 * The noise floor of the current setup: one commit retrained with k fresh seeds. Its spread is
 * the seed-to-seed noise of val_bpb under these conditions (profile, budget, device kind,
 * dataset), from which follows the smallest gain a paired verification can detect. Stored per
 * conditions; the measurements are reused by later calls (k can grow one rerun at a time).
 */
import type { NoiseFloor as StoredNoiseFloor } from "../../store/index.ts";
import { noiseFloor } from "../noise.ts";
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
