import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/**
 * Three tiers.
 * - `unit`: in process; no real training and no CLI process (the drivers' logic runs on the
 *   fake trainer, test/support/fake-trainer.ts). Files in parallel.
 * - `cli`: child processes that neither train nor get killed: the CLI's answers and errors, git
 *   in the lab, the engine's thread settings. Files in parallel.
 * - `e2e`: the files that train for real, time budgets or kill processes. One at a time, because
 *   native kernels use every core and a busy machine moves both val_bpb under a wall-clock budget
 *   and the moments a kill test aims at.
 *
 *   npm test              typecheck, unit + cli, then e2e: what CI runs
 *   npm run test:unit     the unit tier alone, in about a minute
 *   npm run test:e2e      the e2e tier alone
 */
const CLI = [
  "test/cli.test.ts",
  "test/commands/{emptied-store,epipe,sandbox-cli,verify-lookup}.test.ts",
  "test/engine/{core,devices,gemm,model-ops}.test.ts",
  "test/harness/tokenizer.test.ts",
  "test/import/import-cli.test.ts",
  "test/lab/lab.test.ts",
  "test/loop/run-errors.test.ts",
  "test/report/{command,scale,tournament}.test.ts",
  "test/store/briefs.test.ts",
  "test/tournament/{cli-errors,meta}.test.ts",
];
const E2E = [
  "test/commands/{stats-cli,train-cli}.test.ts",
  "test/harness/{prepare,recipe-run,redteam,runner,sandbox}.test.ts",
  "test/import/import-kill.test.ts",
  "test/lab/crash.test.ts",
  "test/launcher/slurm.test.ts",
  "test/loop/{faults,kill,run}.test.ts",
  "test/store/kill.test.ts",
  "test/tournament/{cli,kill,llm}.test.ts",
];

export default defineConfig({
  test: {
    // Vitest's default leaves a core free, which on CI's 2 cores runs the unit tier one file at
    // a time; its files wait on git and SQLite as much as on the CPU, so two at once win.
    maxWorkers: Math.max(2, availableParallelism()),
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      // Unit files share their worker's modules (isolate: false) instead of each loading the
      // store, lab, loop and report code afresh in a new process: on 22 report, agent, store and
      // harness files, 2 cores, that took the CPU time from 36-40 s to 22-24 s (BENCHMARKS.md,
      // "Test suite and CI"). What a unit file changes globally it restores (environment
      // variables, engine threads, console spies).
      { extends: true, test: { name: "unit", include: ["test/**/*.test.ts"], exclude: [...CLI, ...E2E], isolate: false } },
      { extends: true, test: { name: "cli", include: CLI } },
      { extends: true, test: { name: "e2e", include: E2E, fileParallelism: false } },
    ],
  },
});
