/**
 * Runs the CPU-vs-CUDA suite (test/engine/cuda.test.ts) without vitest, for a GPU machine that
 * has Node but no node_modules. test/gpu/bundle.sh bundles this file, the suite, the engine's
 * TypeScript and test/support/vitest-lite.ts (standing in for `vitest`) into
 * .gpu/cuda-tests.mjs; test/gpu/run.sh runs that. It is not a vitest file: `npm test` never
 * picks it up, and it must not change what the suite checks.
 *
 *   node .gpu/cuda-tests.mjs                     # every test; exit 1 if any fails
 *   node .gpu/cuda-tests.mjs attention           # only tests whose full name matches /attention/
 *   node .gpu/cuda-tests.mjs --require-cuda      # also fail when CUDA is unavailable (on a GPU box)
 *
 * NIGHTSHIFT_ENGINE_PATH picks the addon. With OUT set, the summary and every test's result
 * (name, state, duration, error) go to $OUT/cuda-tests.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunSummary, runCollected } from "../support/vitest-lite.ts";

const args = process.argv.slice(2);
const requireCuda = args.includes("--require-cuda");
const pattern = args.find((a) => !a.startsWith("--"));
const started = new Date();

function writeSummary(summary: Partial<RunSummary> & { error?: string }): void {
  const out = process.env.OUT;
  if (!out) return;
  mkdirSync(out, { recursive: true });
  const report = {
    suite: "test/engine/cuda.test.ts",
    startedAt: started.toISOString(),
    node: process.version,
    enginePath: process.env.NIGHTSHIFT_ENGINE_PATH ?? null,
    filter: pattern ?? null,
    ...summary,
  };
  writeFileSync(join(out, "cuda-tests.json"), `${JSON.stringify(report, null, 2)}\n`);
}

let summary: RunSummary;
try {
  // Importing the suite registers its describe/it calls with vitest-lite (bundled as `vitest`).
  await import("../engine/cuda.test.ts");
  summary = await runCollected(pattern === undefined ? {} : { filter: new RegExp(pattern) });
} catch (err) {
  // The suite did not load (no addon, say): that is a failure, not zero tests.
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(`cuda tests: could not load or run the suite:\n${error}`);
  writeSummary({ passed: 0, failed: 1, skipped: 0, error });
  process.exit(1);
}

let cudaProblem: string | null = null;
if (requireCuda) {
  // The suite skips itself without a device and passes; on a GPU box that must count as a failure.
  const { cuda } = await import("../../src/engine/index.ts");
  if (!cuda.isAvailable()) cudaProblem = `--require-cuda: CUDA is unavailable (${cuda.unavailableReason() ?? "no reason given"})`;
}

const { passed, failed, skipped, durationMs } = summary;
const total = passed + failed + skipped;
console.log("");
console.log(
  `Tests  ${failed > 0 ? `${failed} failed | ` : ""}${passed} passed | ${skipped} skipped (${total}) ` +
    `in ${(durationMs / 1000).toFixed(1)} s`,
);
if (cudaProblem) console.log(cudaProblem);
if (pattern !== undefined && total === 0) console.log(`no test matches /${pattern}/`);
writeSummary({ ...summary, ...(cudaProblem ? { error: cudaProblem } : {}) });
// Exit explicitly: a native handle left open must not keep a finished run alive (stdout to a
// pipe or file is written synchronously on Linux, so nothing printed is lost).
process.exit(failed > 0 || cudaProblem !== null || (pattern !== undefined && total === 0) ? 1 : 0);
