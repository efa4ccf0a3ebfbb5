/**
 * A workspace lab whose train.ts is the recipe at a quarter of its CPU size (depth 2, batch
 * 2×256), so that a step stays well inside a 1 s test budget on a busy 2-core machine; the CLI
 * and the loop open an existing lab as it is. Optionally with learning rates detuned, so that
 * restoring them is a keep every time.
 */
import { join } from "node:path";
import { Lab, baselineTrainTs, labReadme } from "../../src/lab/index.ts";

/** The recipe's cpu sizes and the small ones that replace them. */
const SIZE_SWAPS: [string, string][] = [
  ["export const DEPTH: PerProfile = { cpu: 4,", "export const DEPTH: PerProfile = { cpu: 2,"],
  ["export const DEVICE_BATCH_SIZE: PerProfile = { cpu: 8,", "export const DEVICE_BATCH_SIZE: PerProfile = { cpu: 2,"],
  ["export const TOTAL_BATCH_SIZE: PerProfile = { cpu: 2048,", "export const TOTAL_BATCH_SIZE: PerProfile = { cpu: 512,"],
];

export const TUNED = { matrix: "export const MATRIX_LR = 0.04;", unembedding: "export const UNEMBEDDING_LR = 0.004;" };
export const DETUNED = { matrix: "export const MATRIX_LR = 0.00004;", unembedding: "export const UNEMBEDDING_LR = 0.000004;" };

export function smallTrainTs(options: { detuned?: boolean } = {}): string {
  let text = baselineTrainTs();
  const swaps: [string, string][] = [...SIZE_SWAPS];
  if (options.detuned) swaps.push([TUNED.matrix, DETUNED.matrix], [TUNED.unembedding, DETUNED.unembedding]);
  for (const [from, to] of swaps) {
    if (!text.includes(from)) throw new Error(`the recipe no longer contains ${JSON.stringify(from)}: update test/support/small-lab.ts`);
    text = text.replace(from, to);
  }
  return text;
}

/** Creates <workspace>/lab with the small recipe; returns the workspace directory. */
export async function initSmallLab(workspace: string, options: { detuned?: boolean } = {}): Promise<string> {
  await Lab.init(join(workspace, "lab"), { trainTs: smallTrainTs(options), readme: labReadme({ profile: "cpu" }) });
  return workspace;
}
