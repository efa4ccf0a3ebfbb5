/**
 * The runner, end to end: real train.ts files (test/fixtures/train/) run in real child
 * processes on a tiny prepared dataset. Each fault becomes its typed outcome, a run that is not
 * ok never carries a val_bpb, and no run leaves a process behind.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../src/harness/types.ts";
import {
  type ProgressSnapshot,
  RunnerError,
  type RunTrainOptions,
  parseSummary,
  runTrain,
} from "../../src/harness/runner/index.ts";
import { LineSplitter, TailBuffer } from "../../src/harness/runner/log-tail.ts";
import { liveGroupCount } from "../../src/harness/runner/process-group.ts";
import { formatSummary } from "../../src/harness/runner/summary.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "train");
const RUNNER = join(import.meta.dirname, "..", "..", "src", "harness", "runner", "index.ts");
const fixture = (name: string): string => join(FIXTURES, `${name}.ts`);

let work: string;
let datasetDir: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "nightshift-runner-test-"));
  datasetDir = join(work, "dataset");
  // 120 validation documents: enough for one evaluation batch of 8 × 256 tokens.
  writeTinyDataset(datasetDir, { docs: { val: 120, test: 120 } });
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** True while any process of the group led by `pid` exists. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * True while `pid` runs: /proc/<pid>/stat exists and is not a zombie. (An orphan killed with
 * its parent is a zombie until PID 1 reaps it, which some containers never do promptly.)
 */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

interface Observed {
  result: RunResult;
  pid: number;
  wallSeconds: number;
}

/** Runs a train file and checks that nothing it started is left running. */
async function run(file: string, options: Partial<RunTrainOptions> = {}): Promise<Observed> {
  let pid = -1;
  const started = performance.now();
  const result = await runTrain({
    file,
    datasetDir,
    profile: "cpu",
    seed: 1,
    timeBudget: 2,
    hardLimit: 30,
    ...options,
    onSpawn: (p) => {
      pid = p;
      options.onSpawn?.(p);
    },
  });
  expect(pid).toBeGreaterThan(0);
  expect(groupAlive(pid)).toBe(false);
  expect(liveGroupCount()).toBe(0);
  return { result, pid, wallSeconds: (performance.now() - started) / 1000 };
}

function expectFailure(result: RunResult, status: RunResult["status"]): void {
  expect(result.status, `${result.error}\n${result.logTail}`).toBe(status);
  expect(result.summary).toBeUndefined();
  expect(result.error).toBeTruthy();
  expect(result.error).not.toContain("\n");
  expect(result.logTail).not.toMatch(/^val_bpb:/m);
}

describe("a good train.ts", () => {
  it("trains for the budget and returns ok with a finite val_bpb and a parseable summary block", async () => {
    const progress: ProgressSnapshot[] = [];
    const lines: string[] = [];
    const { result } = await run(fixture("bigram-timed"), {
      timeBudget: 2,
      seed: 3,
      onProgress: (p) => progress.push(p),
      onLine: (line) => lines.push(line),
    });
    expect(result.status, `${result.error}\n${result.logTail}`).toBe("ok");
    expect(result).toMatchObject({ seed: 3, profile: "cpu", timeBudget: 2 });
    const s = result.summary!;
    expect(Number.isFinite(s.val_bpb)).toBe(true);
    // An untrained table scores above 3 bits per byte here; the learned next-token rule far less.
    expect(s.val_bpb).toBeLessThan(2);
    // The runner's clock: from the "started" message's arrival to the model's, so a message
    // delayed by load can shave a little off the child's own 2 s.
    expect(s.training_seconds).toBeGreaterThan(1.9);
    expect(s.training_seconds).toBeLessThan(3);
    expect(s.total_seconds).toBeGreaterThan(s.training_seconds);
    expect(s.num_steps).toBeGreaterThan(10);
    expect(s.total_tokens_M).toBeCloseTo((s.num_steps * 4 * 64) / 1e6, 9);
    expect(s.num_params_M).toBeCloseTo((64 * 64) / 1e6, 9);
    expect(s.depth).toBe(1);
    expect(s.peak_vram_mb).toBeGreaterThan(0);
    expect(s.mfu_percent).toBeGreaterThan(0);

    // The block in the log says what the result says, rounded as autoresearch prints it.
    const printed = parseSummary(result.logTail)!;
    expect(printed).not.toBeNull();
    expect(printed.val_bpb).toBeCloseTo(s.val_bpb, 6);
    expect(printed.num_steps).toBe(s.num_steps);
    expect(printed.training_seconds).toBeCloseTo(s.training_seconds, 1);
    expect(result.logTail).toMatch(/^---\nval_bpb: {10}\d\.\d{6}\ntraining_seconds: \d+\.\d\ntotal_seconds: {4}\d+\.\d$/m);

    // The live line, autoresearch's format, in the log tail and through onProgress.
    const progressLine =
      /^step \d{5} \(\d+\.\d%\) \| loss: \d+\.\d{6} \| lrm: 1\.00 \| dt: \d+ms \| tok\/sec: [\d,]+ \| epoch: \d+ \| remaining: \d+s$/m;
    expect(result.logTail).toMatch(progressLine);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress[0]!.line).toMatch(progressLine);
    expect(progress[progress.length - 1]!.steps).toBe(s.num_steps);
    expect(lines).toContain("bigram: vocab 64, budget 2s, seed 3");
  });

  it("gives the same val_bpb for the same seed and a different one for another seed", async () => {
    const bpb = async (seed: number) => {
      const { result } = await run(fixture("bigram-fixed-steps"), { seed });
      expect(result.status, `${result.error}\n${result.logTail}`).toBe("ok");
      expect(result.summary!.num_steps).toBe(30);
      return result.summary!.val_bpb;
    };
    const first = await bpb(11);
    expect(await bpb(11)).toBe(first);
    expect(await bpb(12)).not.toBe(first);
  });

  it("scores the held-out test split only when asked, and the same model as val_bpb", async () => {
    const plain = await run(fixture("bigram-fixed-steps"), { seed: 11 });
    expect(plain.result.testBpb).toBeUndefined();
    const withTest = await run(fixture("bigram-fixed-steps"), { seed: 11, evalTest: true });
    expect(withTest.result.status, withTest.result.error).toBe("ok");
    expect(withTest.result.summary!.val_bpb).toBe(plain.result.summary!.val_bpb); // same model, same val score
    expect(Number.isFinite(withTest.result.testBpb)).toBe(true);
    expect(withTest.result.testBpb).not.toBe(withTest.result.summary!.val_bpb); // another split
  });

  it("resolves nightshift/engine and nightshift/harness to the harness's own modules", async () => {
    const lab = join(work, "lab-alias");
    mkdirSync(lab, { recursive: true });
    // A lab tsconfig that would keep the non-type import below if the runner read it.
    writeFileSync(join(lab, "tsconfig.json"), JSON.stringify({ compilerOptions: { verbatimModuleSyntax: true } }));
    writeFileSync(
      join(lab, "train.ts"),
      `import { Generator, Tensor, ops } from "nightshift/engine";
import { PROFILES, type TrainContext, type TrainedModel } from "nightshift/harness";
import { TrainLogger } from "nightshift/harness";

export default async function train(ctx: TrainContext): Promise<TrainedModel> {
  const logger: TrainLogger = ctx.logger;
  const { x, y } = ctx.trainLoader(2, 16).next();
  // Batches come from the harness's engine: one module instance, or instanceof fails.
  if (!(x instanceof Tensor)) throw new Error("train.ts got a second engine instance");
  x.dispose();
  y.dispose();
  logger.info("maxSeqLen " + PROFILES.cpu.maxSeqLen);
  const table = new Generator(ctx.seed).normal([ctx.vocabSize, ctx.vocabSize]);
  return { logits: (idx) => ops.embedding(table, idx), numParams: 1, flopsPerToken: 1, depth: 1 };
}
`,
    );
    const { result } = await run(join(lab, "train.ts"), { cwd: lab });
    expect(result.status, `${result.error}\n${result.logTail}`).toBe("ok");
    expect(result.logTail).toContain("maxSeqLen 256");
  });
});

describe("fault outcomes", () => {
  it("reports a syntax error as a crash naming the file, line and column, without starting a child", async () => {
    const file = join(work, "syntax-error.ts");
    writeFileSync(file, "export default async function train(ctx) {\n  const x = ;\n}\n");
    let spawned = false;
    const lines: string[] = [];
    const result = await runTrain({
      file,
      datasetDir,
      profile: "cpu",
      seed: 1,
      timeBudget: 1,
      onSpawn: () => (spawned = true),
      onLine: (line) => lines.push(line),
    });
    expectFailure(result, "crash");
    expect(result.error).toMatch(/^compile error in syntax-error\.ts:2:13: /);
    expect(result.logTail).toContain(result.error);
    expect(lines.join("\n")).toContain(result.error);
    expect(spawned).toBe(false);
  });

  it("reports an import the engine does not have as a compile crash", async () => {
    const file = join(work, "bad-import.ts");
    writeFileSync(file, 'import { fusedEverything } from "nightshift/engine";\nexport default async function train() { fusedEverything(); }\n');
    const { status, error } = await runTrain({ file, datasetDir, profile: "cpu", seed: 1, timeBudget: 1 });
    expect(status).toBe("crash");
    expect(error).toMatch(/^compile error in bad-import\.ts:1:10: No matching export .* for import "fusedEverything"/);
  });

  it("reports an exception thrown by train() as a crash with the message's first line and the stack in the tail", async () => {
    const { result } = await run(fixture("throws"));
    expectFailure(result, "crash");
    expect(result.error).toBe("boom from train.ts");
    expect(result.logTail).toContain("about to fail");
    expect(result.logTail).toContain("second line of the message");
    // Source-mapped back to the train file's own line.
    expect(result.logTail).toMatch(/throws\.ts:\d+:\d+/);
  });

  it("reports a file without a default export as a crash that says what is expected", async () => {
    const { result } = await run(fixture("no-default-export"));
    expectFailure(result, "crash");
    expect(result.error).toMatch(/^no-default-export\.ts does not export a default train\(ctx\) function \(it exports train\)/);
  });

  it("reports a returned value that is not a TrainedModel as a crash", async () => {
    const { result } = await run(fixture("bad-model"));
    expectFailure(result, "crash");
    expect(result.error).toMatch(/must return a TrainedModel .*logits is not a function/);
  });

  it("kills a train.ts that never returns at the hard limit and reports a timeout", async () => {
    const { result, wallSeconds } = await run(fixture("infinite-loop"), { timeBudget: 1, hardLimit: 3, killGraceMs: 500 });
    expectFailure(result, "timeout");
    expect(result.error).toMatch(/hard limit of 3s/);
    expect(result.logTail).toContain("spinning forever");
    expect(wallSeconds).toBeGreaterThanOrEqual(3);
    expect(wallSeconds).toBeLessThan(6);
  });

  it("reports a NaN training loss as non-finite as soon as it is logged", async () => {
    const { result } = await run(fixture("nan-loss"));
    expectFailure(result, "non-finite");
    expect(result.error).toMatch(/non-finite training loss \(NaN\) at step 3/);
  });

  it("reports a train() that returns well past its budget as over-budget", async () => {
    const { result } = await run(fixture("over-budget"), { timeBudget: 1 });
    expectFailure(result, "over-budget");
    expect(result.error).toMatch(/^train\(\) returned after 3\.\ds; the budget is 1s/);
  });

  describe("the grace grows with the step time this process measures", () => {
    // Budget 2 s, a 0.02 s floor, so the cap (10% of the budget) is 0.2 s. Each train file's
    // last step ends 0.1 s past the budget.
    const graceOptions = { timeBudget: 2, overBudgetGrace: 0.02 };

    it("lets a step of 0.25 s that was in flight at the budget end within twice the step time, capped", async () => {
      const { result } = await run(fixture("long-steps-past-budget"), graceOptions);
      expect(result.status, `${result.error}\n${result.logTail}`).toBe("ok");
      expect(result.summary!.training_seconds).toBeGreaterThan(2.05);
    });

    it("still fails the same overrun when the steps were short (the grace stays at its floor)", async () => {
      const { result } = await run(fixture("short-steps-past-budget"), graceOptions);
      expectFailure(result, "over-budget");
      expect(result.error).toMatch(/the budget is 2s \(\+0\.0s grace\)/);
    });

    it("moves the training deadline out by the scaled grace, and says so when it kills", async () => {
      const { result, wallSeconds } = await run(fixture("long-steps-never-return"), { ...graceOptions, startupAllowance: 2 });
      expectFailure(result, "over-budget");
      // Deadline: 2 s start-up + 2 s budget + 0.2 s grace (the floor alone would be 4.02 s).
      expect(result.error).toMatch(/had not returned 4\.2s after the run started \(budget 2s \+ 0\.2s grace, for steps of 0\.2\ds/);
      expect(wallSeconds).toBeGreaterThanOrEqual(4.2);
    });
  });

  it("reports a native abort as a crash naming the signal", async () => {
    const { result } = await run(fixture("native-abort"));
    expectFailure(result, "crash");
    expect(result.error).toMatch(/SIGABRT \(a native abort\)/);
    expect(result.logTail).toContain("aborting");
  });

  it("reports the engine's OUT_OF_MEMORY as out-of-memory", async () => {
    const { result } = await run(fixture("engine-oom"));
    expectFailure(result, "out-of-memory");
    expect(result.error).toMatch(/^EngineError: out of memory/);
  });

  it("reports an exhausted JavaScript heap as out-of-memory", async () => {
    const { result } = await run(fixture("heap-oom"), { nodeArgs: ["--max-old-space-size=48"] });
    expectFailure(result, "out-of-memory");
    expect(result.error).toMatch(/JavaScript heap/);
  });

  it("reports a train.ts that exits the process itself as a crash", async () => {
    const { result } = await run(fixture("exits-early"));
    expectFailure(result, "crash");
    expect(result.error).toMatch(/exited before train\(\) returned \(did train\.ts call process\.exit\(\)\?\)/);
  });

  it("keeps only a bounded tail of a run that prints 50 MB, and the whole of it in the log file", async () => {
    const logFile = join(work, "huge.log");
    let peakRss = 0;
    const baselineRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 10);
    let lineCount = 0;
    let outputChars = 0;
    try {
      const { result } = await run(fixture("huge-output"), {
        logFile,
        logTailChars: 8192,
        onLine: () => lineCount++,
        onOutput: (chunk) => {
          outputChars += chunk.length;
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
        },
      });
      expect(result.status, `${result.error}`).toBe("ok");
      expect(result.logTail.length).toBeLessThanOrEqual(8192);
      expect(result.logTail).toContain("END OF FLOOD");
      expect(result.logTail).toMatch(/^00051199 x{1000}$/m);
      expect(parseSummary(result.logTail)).not.toBeNull();
    } finally {
      clearInterval(sampler);
    }
    expect(outputChars).toBeGreaterThan(50 * 1024 * 1000);
    expect(lineCount).toBeGreaterThan(50 * 1024);
    expect(statSync(logFile).size).toBeGreaterThan(50 * 1024 * 1000);
    expect(readFileSync(logFile, "utf8")).toContain("END OF FLOOD");
    // Holding the output would cost > 50 MB (100 MB as JS strings); streaming costs little.
    expect(peakRss - baselineRss).toBeLessThan(40 * 1024 * 1024);
  });
});

describe("supervision", () => {
  it("kills the run and rejects with RUN_ABORTED when the caller aborts", async () => {
    const controller = new AbortController();
    let pid = -1;
    const running = runTrain({
      file: fixture("infinite-loop"),
      datasetDir,
      profile: "cpu",
      seed: 1,
      timeBudget: 1,
      hardLimit: 30,
      signal: controller.signal,
      onSpawn: (p) => (pid = p),
      onLine: (line) => {
        if (line === "spinning forever") controller.abort();
      },
    });
    await expect(running).rejects.toMatchObject({ name: "RunnerError", code: "RUN_ABORTED" });
    expect(groupAlive(pid)).toBe(false);
    expect(liveGroupCount()).toBe(0);
  });

  it("kills the run and rejects with CALLBACK_FAILED when a callback throws", async () => {
    let pid = -1;
    const running = runTrain({
      file: fixture("infinite-loop"),
      datasetDir,
      profile: "cpu",
      seed: 1,
      timeBudget: 1,
      hardLimit: 30,
      onSpawn: (p) => (pid = p),
      onOutput: () => {
        throw new Error("display broke");
      },
    });
    await expect(running).rejects.toMatchObject({ code: "CALLBACK_FAILED", message: expect.stringMatching(/display broke/) });
    expect(groupAlive(pid)).toBe(false);
  });

  it("rejects with HARNESS_FAILED, not a crash, when the dataset is broken", async () => {
    const broken = join(work, "broken-dataset");
    writeTinyDataset(broken, { docs: { val: 120 } });
    writeFileSync(join(broken, "train-00000.bin"), new Uint8Array(10));
    await expect(run(fixture("bigram-timed"), { datasetDir: broken })).rejects.toMatchObject({
      code: "HARNESS_FAILED",
      message: expect.stringMatching(/DATASET_CORRUPT.*train-00000\.bin/),
    });
  });

  it("rejects bad options by name before starting anything", async () => {
    const base = { file: fixture("bigram-timed"), datasetDir, profile: "cpu" as const, seed: 1 };
    await expect(runTrain({ ...base, timeBudjet: 2 } as RunTrainOptions)).rejects.toThrow(
      /unknown option 'timeBudjet' — did you mean 'timeBudget'\?/,
    );
    await expect(runTrain({ ...base, seed: -1 })).rejects.toThrow(/'seed' must be a non-negative integer/);
    await expect(runTrain({ ...base, profile: "tpu" as never })).rejects.toThrow(/'profile' must be "gpu" or "cpu"/);
    await expect(runTrain({ ...base, file: join(work, "missing.ts") })).rejects.toThrow(/train file .*missing\.ts does not exist/);
    await expect(runTrain({ ...base, datasetDir: join(work, "nowhere") })).rejects.toThrow(/run `nightshift prepare` first/);
    await expect(runTrain({ ...base, timeBudget: 0 })).rejects.toBeInstanceOf(RunnerError);
    expect(existsSync(join(work, "nowhere"))).toBe(false);
  });

  describe("when the parent process dies mid-run", () => {
    // A parent of its own (a script using runTrain), so the test can kill it.
    async function killParentMidRun(how: "uncaught exception" | "SIGTERM" | "SIGKILL", withinMs: number): Promise<void> {
      const driver = join(work, "driver.mts");
      writeFileSync(
        driver,
        `import { runTrain } from ${JSON.stringify(RUNNER)};
const [file, datasetDir, mode] = process.argv.slice(2);
await runTrain({
  file, datasetDir, profile: "cpu", seed: 1, timeBudget: 1, hardLimit: 60,
  onSpawn: (pid) => console.log("child " + pid),
  onLine: (line) => {
    if (line !== "spinning forever") return;
    console.log("ready");
    if (mode === "uncaught exception") setTimeout(() => { throw new Error("the parent blew up"); }, 10);
  },
});
`,
      );
      const parent = spawn(process.execPath, ["--import", "tsx", driver, fixture("infinite-loop"), datasetDir, how], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let childPid = -1;
      const exited = new Promise<void>((resolve) => parent.on("exit", () => resolve()));
      await new Promise<void>((resolve, reject) => {
        let out = "";
        parent.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const m = /child (\d+)/.exec(out);
          if (m) childPid = Number(m[1]);
          if (out.includes("ready")) resolve();
        });
        parent.on("exit", (code) => reject(new Error(`driver exited (${code}) before the run started: ${out}`)));
      });
      expect(groupAlive(childPid)).toBe(true);
      if (how !== "uncaught exception") parent.kill(how);
      await exited;
      const deadline = performance.now() + withinMs;
      while (running(childPid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(running(childPid)).toBe(false);
    }

    // The parent's exit hook kills the group before the parent is gone: well before the child's
    // own watchdog (which polls every 500 ms) could notice.
    it("kills the run when the parent dies of an uncaught exception", () => killParentMidRun("uncaught exception", 200));
    it("kills the run when the parent is sent SIGTERM", () => killParentMidRun("SIGTERM", 200));
    // SIGKILL leaves the parent no say: the child's watchdog sees it orphaned and ends itself.
    it("ends the run by itself when the parent is SIGKILLed", () => killParentMidRun("SIGKILL", 3000));
  });
});

describe("log and summary helpers", () => {
  it("prints the summary block as autoresearch does and parses the last one back", () => {
    const summary = {
      val_bpb: 0.99789987,
      training_seconds: 300.14,
      total_seconds: 325.93,
      peak_vram_mb: 45060.2,
      mfu_percent: 39.801,
      total_tokens_M: 499.6,
      num_steps: 953,
      num_params_M: 50.3,
      depth: 8,
    };
    const block = formatSummary(summary);
    expect(block.split("\n").slice(0, 3)).toEqual(["---", "val_bpb:          0.997900", "training_seconds: 300.1"]);
    const log = `${formatSummary({ ...summary, val_bpb: 5 })}\nmore output\n${block}\n`;
    expect(parseSummary(log)).toEqual({ ...summary, val_bpb: 0.9979, training_seconds: 300.1, total_seconds: 325.9, mfu_percent: 39.8 });
    expect(parseSummary("---\nval_bpb: 1.0\n")).toBeNull();
  });

  it("keeps whole lines in the tail, as a terminal shows \\r-rewritten progress lines", () => {
    const tail = new TailBuffer(60);
    tail.append("a line that will be cut off by the cap\n");
    tail.append("\rstep 00001 | loss 3\rstep 00002 | loss 2   \n");
    tail.append("done\n");
    expect(tail.text()).toBe("step 00002 | loss 2\ndone");
  });

  it("splits output into lines across chunks, and cuts a line longer than the cap", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line), 8);
    splitter.push("ab");
    splitter.push("c\nde\r\nxyz0123456789");
    splitter.end();
    expect(lines).toEqual(["abc", "de", "xyz01234", "56789"]);
  });
});

