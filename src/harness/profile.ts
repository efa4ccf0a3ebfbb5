/**
 * Which profile a run uses when none is named: "gpu" where the engine has a CUDA device,
 * "cpu" otherwise. The engine is CPU-only until the CUDA backend lands, so today this is "cpu".
 */
import { deviceInfo } from "../engine/index.ts";
import type { Profile } from "./constants.ts";

export const PROFILE_NAMES: readonly Profile[] = ["gpu", "cpu"];

export function detectProfile(): Profile {
  return deviceInfo().kind === "cuda" ? "gpu" : "cpu";
}
