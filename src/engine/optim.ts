/**
 * Fused optimizer kernels, as in autoresearch's train.py: AdamW, polar-express Newton–Schulz
 * orthogonalisation and the Muon update (Nesterov momentum, NorMuon variance reduction,
 * cautious weight decay). They update parameters and state in place, outside autograd.
 */
import { Tensor, callNative, native, wrapNative } from "./tensor.ts";
import { assertFinite, assertInt, assertTensor, invalid } from "./validate.ts";

export interface AdamWHyper {
  /** 1-based step count, for bias correction. */
  step: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** One AdamW step on p with gradient g and moments m (exp_avg), v (exp_avg_sq). */
export function adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWHyper): void {
  for (const [name, t] of [["p", p], ["grad", g], ["exp_avg", m], ["exp_avg_sq", v]] as const)
    assertTensor("adamwStep", name, t);
  for (const k of ["step", "lr", "beta1", "beta2", "eps", "weightDecay"] as const) assertFinite("adamwStep", k, h[k]);
  callNative(() =>
    native.adamwStep(p.native, g.native, m.native, v.native, h.step, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay),
  );
}

/** The polar-express orthogonalisation of x (M, N) or (K, M, N), `steps` ≤ 5 iterations. */
export function polarExpress(x: Tensor, steps = 5): Tensor {
  assertTensor("polarExpress", "x", x);
  assertInt("polarExpress", "steps", steps);
  if (steps < 1 || steps > 5) invalid(`polarExpress: steps must be in 1..5, got ${steps}`);
  return wrapNative(() => native.polarExpress(x.native, steps));
}

export interface MuonHyper {
  momentum: number;
  /** Already shape-scaled: lr * max(1, M/N)^0.5. */
  lr: number;
  weightDecay: number;
  beta2: number;
  nsSteps: number;
}

/**
 * One Muon step over a group of same-shaped matrices. momentumBuffer: (K, M, N);
 * secondMomentumBuffer: (K, M, 1) when M >= N else (K, 1, N).
 */
export function muonStep(
  params: Tensor[],
  grads: Tensor[],
  momentumBuffer: Tensor,
  secondMomentumBuffer: Tensor,
  h: MuonHyper,
): void {
  if (params.length === 0 || params.length !== grads.length)
    invalid(`muonStep: needs as many grads as params (got ${params.length} params, ${grads.length} grads)`);
  params.forEach((p, i) => assertTensor("muonStep", `params[${i}]`, p));
  grads.forEach((g, i) => assertTensor("muonStep", `grads[${i}]`, g));
  assertTensor("muonStep", "momentumBuffer", momentumBuffer);
  assertTensor("muonStep", "secondMomentumBuffer", secondMomentumBuffer);
  for (const k of ["momentum", "lr", "weightDecay", "beta2"] as const) assertFinite("muonStep", k, h[k]);
  assertInt("muonStep", "nsSteps", h.nsSteps);
  callNative(() =>
    native.muonStep(
      params.map((p) => p.native),
      grads.map((g) => g.native),
      momentumBuffer.native,
      secondMomentumBuffer.native,
      h.momentum,
      h.lr,
      h.weightDecay,
      h.beta2,
      h.nsSteps,
    ),
  );
}
