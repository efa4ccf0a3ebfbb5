import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/**
 * Two tiers. `unit`: in process, no real training and no CLI process (the drivers' logic runs on
 * the fake trainer, test/support/fake-trainer.ts); its files run in parallel. `e2e`: the files
 * that train for real, drive the CLI as a user does, kill processes or time budgets; they run one
 * at a time, because native kernels use every core and a busy machine moves both val_bpb under a
 * wall-clock budget and the moments a kill test aims at.
 *
 *   npm test              both tiers (typecheck, unit, then e2e): what CI runs
 *   npm run test:unit     the unit tier alone, in seconds
 *   npm run test:e2e      the e2e tier alone
 */
const E2E = [
  "test/cli.test.ts",
  "test/commands/**/*.test.ts",
  "test/engine/{core,devices,gemm,model-ops}.test.ts",
  "test/harness/{prepare,recipe-run,redteam,runner,sandbox,tokenizer}.test.ts",
  "test/lab/{crash,lab}.test.ts",
  "test/loop/{faults,kill,run}.test.ts",
  "test/report/{command,scale,tournament}.test.ts",
  "test/store/{briefs,kill}.test.ts",
  "test/tournament/{cli,kill,llm,memory,meta,stop}.test.ts",
  "test/verification/invalid-rerun.test.ts",
];

export default defineConfig({
  test: {
    // Vitest's default leaves a core free, which on CI's 2 cores runs the unit tier one file at
    // a time; its files wait on git and SQLite as much as on the CPU, so two at once win.
    maxWorkers: Math.max(2, availableParallelism()),
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: "unit", include: ["test/**/*.test.ts"], exclude: E2E } },
      { extends: true, test: { name: "e2e", include: E2E, fileParallelism: false } },
    ],
  },
});
