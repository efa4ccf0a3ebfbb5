/**
 * Verify all the claims of a run or a night together: each claim's one-sided p-value is
 * adjusted by Benjamini–Hochberg across the claims, and each verdict uses its adjusted value
 * (verdict.ts, rule 2), so that among the claims called `real` the expected share of false ones
 * stays below alpha however many claims the night produced. Next to it, the number of keeps the
 * naive rule would make under pure noise (null-model.ts), for the report.
 */
import { checkOptions, StatsError } from "./errors.ts";
import { adjustPValues, type AdjustMethod } from "./multiple.ts";
import { oneSampleT } from "./ttest.ts";
import { pairedSamples, oneOf } from "./validate.ts";
import { verifyGains, type ClaimVerification, type VerifyOptions } from "./verdict.ts";

export interface Claim {
  /** Caller's label (experiment id, commit). */
  id: string;
  /** val_bpb of the parent on the verification seeds. */
  parent: readonly number[];
  /** val_bpb of the candidate on the same seeds, in the same order. */
  candidate: readonly number[];
}

export interface ClaimsOptions extends Omit<VerifyOptions, "pAdjusted"> {
  /** Default "BH" (false discovery rate); "holm" controls the family-wise error instead. */
  adjust?: AdjustMethod;
}

export interface VerifiedClaim extends ClaimVerification {
  id: string;
}

const KNOWN = ["alpha", "minEffect", "noiseMinSeeds", "bootstrap", "adjust"];

export function verifyClaims(claims: readonly Claim[], options: ClaimsOptions = {}): VerifiedClaim[] {
  const where = "verifyClaims";
  checkOptions(where, options, KNOWN);
  if (!Array.isArray(claims) || claims.length === 0)
    throw new StatsError("STATS_EMPTY", `${where}: no claims to verify`);
  const method = oneOf(where, "adjust", options.adjust, ["BH", "holm"] as const, "BH");
  const ids = new Set<string>();
  const gains = claims.map((c, k) => {
    const label = typeof c?.id === "string" && c.id !== "" ? c.id : `claims[${k}]`;
    if (ids.has(label)) throw new StatsError("STATS_INVALID_ARGUMENT", `${where}: claim id '${label}' appears twice`);
    ids.add(label);
    const [p, q] = pairedSamples(`${where} (${label})`, ["parent", "candidate"], c?.parent, c?.candidate, 2);
    return p.map((v, i) => v - q[i]!);
  });
  const raw = gains.map((g) => oneSampleT(g).pGreater);
  const adjusted = adjustPValues(raw, method);
  const { adjust: _adjust, ...verify } = options;
  return claims.map((c, k) => ({ id: c.id, ...verifyGains(gains[k]!, { ...verify, pAdjusted: adjusted[k]! }) }));
}
