/**
 * What a verification judges a claim against: δ_min (the margin), the smallest gain worth
 * crediting, and the effect of interest, the gain the futility rule must be able to exclude.
 *
 * Paired seeds make the variance of a gain small, so without a margin a trivial change (a
 * weight-decay nudge of 1e-7) is confirmed "real". By default δ_min is the larger of the org's
 * simplicity threshold (its own bar for a keep) and half the seed-noise sd of val_bpb under the
 * run's conditions: a gain smaller than half of what a change of seed moves is not a research
 * result, however surely it is above zero. The effect of interest is at least 2·δ_min, so a
 * gain twice the margin is what the design has its power for.
 */

/** δ_min as a fraction of the seed-noise sd of val_bpb (the noise floor's sd). */
export const MARGIN_NOISE_FRACTION = 0.5;
/** The smallest default effect of interest, in val_bpb. */
export const MIN_DEFAULT_EFFECT = 0.001;

export interface ThresholdInputs {
  /** The org's simplicity threshold (0 when it has none). */
  simplicityThreshold: number;
  /** The noise floor under the run's conditions, if one was measured. */
  floor: { sd: number; mde: number } | null;
  /** Explicit values (--margin, --effect) win over the defaults. */
  margin?: number;
  effect?: number;
  /** The smallest default effect of interest (default MIN_DEFAULT_EFFECT). */
  minEffect?: number;
}

/** What one claim is judged against. */
export interface ClaimThresholds {
  margin: number;
  effect: number;
}

export interface Thresholds extends ClaimThresholds {
  /** Where δ_min came from, for the printout and the stored details. */
  marginFrom: string;
}

export function verificationThresholds(inputs: ThresholdInputs): Thresholds {
  const { simplicityThreshold, floor } = inputs;
  let margin: number;
  let marginFrom: string;
  if (inputs.margin !== undefined) {
    margin = inputs.margin;
    marginFrom = "given";
  } else {
    const fromNoise = floor ? MARGIN_NOISE_FRACTION * floor.sd : 0;
    margin = Math.max(simplicityThreshold, fromNoise);
    marginFrom =
      margin === 0
        ? floor
          ? "none: the noise floor's sd is 0 and the org has no simplicity threshold"
          : "none: no noise floor measured and the org has no simplicity threshold"
        : fromNoise >= simplicityThreshold
          ? `${MARGIN_NOISE_FRACTION} × the seed-noise sd ${floor!.sd.toPrecision(3)}`
          : "the org's simplicity threshold";
  }
  const effect = inputs.effect ?? Math.max(floor?.mde ?? 0, simplicityThreshold, 2 * margin, inputs.minEffect ?? MIN_DEFAULT_EFFECT);
  return { margin, effect, marginFrom };
}
