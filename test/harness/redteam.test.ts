/**
 * The red team: train.ts files that cheat (test/fixtures/redteam/), each run through the real
 * runner in the bubblewrap sandbox, and the exact outcome the trusted harness must give each
 * one. Every fixture first trains the honest bigram (30 steps, as bigram-fixed-steps.ts), so
 * where a cheat must come to nothing the run's val_bpb is the honest fixture's, seed for seed.
 *
 * Against the runner of before the sandbox (train.ts and the evaluator in one process, the
 * result read from fd 3) most of these cheats worked: a forged 0.1 became the result, a patched
 * evaluator cut val_bpb fourfold, slowed clocks bought 4x the budget and top-level code 20 s,
 * peeking, learning from the evaluation and memorised val data scored far below honest, files
 * outside the run were rewritten, processes outlived it and a planted key reached the log.
 *
 * Fixtures that must know where things are (the dataset, the lab, this process's pid, a
 * marker) get the values written into a copy of their source: the sandbox passes nothing else.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../src/harness/types.ts";
import { type RunTrainOptions, parseSummary, runTrain, sandboxSupport } from "../../src/harness/runner/index.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const REPO = resolve(import.meta.dirname, "..", "..");
const REDTEAM = join(REPO, "test", "fixtures", "redteam");
const HONEST = join(REPO, "test", "fixtures", "train", "bigram-fixed-steps.ts");
const RUNNER = join(REPO, "src", "harness", "runner", "index.ts");
const EVALUATE_TS = join(REPO, "src", "harness", "evaluate.ts");
const SEED = 5;
/** How close a cheat that came to nothing must score to the honest run (same model, same data). */
const SAME_BPB = 1e-6;
const FORGED_BPB = 0.1;
/** 240 validation documents: four evaluation batches of 8 × 256 tokens (a stateful model needs several). */
const DOCS = { val: 240, test: 120 };
const CREDENTIAL_NAME = /(?:API_?KEY|SECRET|TOKEN|PASSWORD|CREDENTIALS?)$/i;

const fixture = (name: string): string => join(REDTEAM, `${name}.ts`);
const sha256 = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!sandboxSupport().available)("red team: a train.ts that cheats gets its true outcome, sandboxed", () => {
  let work: string;
  let datasetDir: string;
  let honest: Promise<number> | undefined;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "nightshift-redteam-"));
    datasetDir = join(work, "dataset");
    writeTinyDataset(datasetDir, { docs: DOCS });
  });

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  async function run(file: string, options: Partial<RunTrainOptions> = {}): Promise<{ result: RunResult; wallSeconds: number }> {
    const started = performance.now();
    const result = await runTrain({
      file,
      datasetDir,
      profile: "cpu",
      seed: SEED,
      timeBudget: 1,
      hardLimit: 30,
      sandbox: "required",
      ...options,
    });
    expect(result.sandboxed).toBe(true);
    return { result, wallSeconds: (performance.now() - started) / 1000 };
  }

  /** val_bpb of the honest fixture the cheats start from, same seed, same dataset. */
  function honestBpb(): Promise<number> {
    honest ??= run(HONEST).then(({ result }) => {
      expect(result.status, `${result.error}\n${result.logTail}`).toBe("ok");
      return result.summary!.val_bpb;
    });
    return honest;
  }

  /**
   * A copy of a fixture in the work folder, its relative imports made absolute and its
   * `__REDTEAM_<NAME>__` placeholders replaced by `values[NAME]`.
   */
  let copies = 0;
  function materialise(name: string, values: Record<string, string>): string {
    let source = readFileSync(fixture(name), "utf8");
    source = source.replace(/from "(\.{1,2}\/[^"]+)"/g, (_, spec: string) => `from ${JSON.stringify(resolve(REDTEAM, spec))}`);
    for (const [key, value] of Object.entries(values)) {
      const placeholder = `"__REDTEAM_${key}__"`;
      expect(source, `${name}.ts has no ${placeholder}`).toContain(placeholder);
      source = source.replaceAll(placeholder, JSON.stringify(value));
    }
    const file = join(work, `${name}-${++copies}.ts`);
    writeFileSync(file, source);
    return file;
  }

  const detail = (r: RunResult): string => `${r.status}: ${r.error ?? ""}\n${r.logTail}`;

  function expectFailure(result: RunResult, status: RunResult["status"]): void {
    expect(result.status, detail(result)).toBe(status);
    expect(result.summary).toBeUndefined();
    expect(result.error).toBeTruthy();
    expect(result.error).not.toContain("\n");
  }

  /** ok, and scored exactly as the honest model: the cheat changed nothing. */
  async function expectHonest(result: RunResult): Promise<void> {
    expect(result.status, detail(result)).toBe("ok");
    expect(Math.abs(result.summary!.val_bpb - (await honestBpb()))).toBeLessThan(SAME_BPB);
  }

  describe("forged results", () => {
    it("fd3-forged-result: a forged result on fd 3 and a fake summary block change nothing", async () => {
      const { result } = await run(fixture("fd3-forged-result"));
      await expectHonest(result);
      expect(result.summary!.val_bpb).not.toBeCloseTo(FORGED_BPB, 3);
      // The fake block was printed, and the parent's real block comes after it.
      expect(result.logTail).toMatch(/^val_bpb: {10}0\.100000$/m);
      const printed = parseSummary(result.logTail);
      expect(printed, result.logTail).not.toBeNull();
      expect(printed!.val_bpb).toBeCloseTo(result.summary!.val_bpb, 5);
    });

    it("fd3-forged-exit: a forged result followed by process.exit(0) is a crash", async () => {
      const { result } = await run(fixture("fd3-forged-exit"));
      expectFailure(result, "crash");
    });

    it("fd-spray: a forged result written to every inherited descriptor is scored honestly or crashes", async () => {
      const { result } = await run(fixture("fd-spray"));
      if (result.status === "ok") await expectHonest(result);
      else expectFailure(result, "crash");
    });

    it("patch-evaluator: patched Tensor.toArray, native crossEntropy, Math.* leave the honest val_bpb", async () => {
      const { result } = await run(fixture("patch-evaluator"));
      expect(result.logTail).toContain("redteam: patched Tensor.prototype.toArray");
      await expectHonest(result);
    });
  });

  describe("the budget is the parent's clock", () => {
    it("clock-patch: slowed performance.now / Date.now / hrtime buy no time: over-budget", async () => {
      const { result } = await run(fixture("clock-patch"));
      expectFailure(result, "over-budget");
    });

    it("fd3-forged-timing: a forged 'ready' at the start and 'started' at the end buy no time", async () => {
      const { result } = await run(fixture("fd3-forged-timing"));
      expect(["over-budget", "crash"], detail(result)).toContain(result.status);
      expectFailure(result, result.status);
    });

    it("toplevel-pretrain: 20 s of work at module top level, before train() is called, is over-budget", async () => {
      const { result, wallSeconds } = await run(fixture("toplevel-pretrain"));
      expectFailure(result, "over-budget");
      expect(wallSeconds).toBeLessThan(30);
    });

    it("train-in-logits: training in the first logits() call, after train() returned, is over-budget", async () => {
      const { result } = await run(fixture("train-in-logits"), { firstAnswerAllowance: 2 });
      expectFailure(result, "over-budget");
      expect(result.error).toMatch(/first batch of logits/);
    });
  });

  describe("the model is probed", () => {
    it("non-causal: logits that peek at the next input token are invalid (causality)", async () => {
      const { result } = await run(fixture("non-causal"));
      expectFailure(result, "invalid");
      expect(result.error).toMatch(/causality/);
    });

    it("stateful-cheat: logits that learn from earlier calls are invalid (statelessness)", async () => {
      const { result } = await run(fixture("stateful-cheat"));
      expectFailure(result, "invalid");
      expect(result.error).toMatch(/statelessness|causality/);
    });

    // Comparing logits cannot catch this one: its cache makes it a (lazily defined) function of
    // the prefix. What can: scoring the spliced token at a causality probe's cut, which a causal
    // model cannot predict much better than chance and a peeker predicts almost surely whenever
    // the probe row arrives before its source.
    // A known gap, pinned so it is noticed when closed: a model that peeks at the next token but
    // caches its answer per prefix gives identical logits to every re-send and splice, so no
    // logit comparison can see it. The next step (not built yet): score the spliced token at a
    // causality probe's cut when the probe is sent before its source row — a causal model can
    // hardly predict a token taken from another row, a peeker predicts it almost surely.
    it("probe-evader: peeking behind a prefix cache passes every comparison but fails the first-sight test: invalid", async () => {
      const { result } = await run(fixture("probe-evader"));
      expectFailure(result, "invalid");
      expect(result.error).toMatch(/^first-sight probe failed .* looks ahead/);
    });

    it("nan-logits: NaN logits (a function of the input) make the run non-finite", async () => {
      const { result } = await run(fixture("nan-logits"));
      expectFailure(result, "non-finite");
    });

    it("wrong-shape: logits shaped [B, T, V + 1] are a crash that names the shape", async () => {
      const { result } = await run(fixture("wrong-shape"));
      expectFailure(result, "crash");
      expect(result.error).toMatch(/shape/);
    });

    it("dtype-float64: float64 logits are scored as their values, or refused", async () => {
      const { result } = await run(fixture("dtype-float64"));
      if (result.status === "ok") await expectHonest(result);
      else expectFailure(result, "crash");
    });

    it("serve-breaker: closing the channel and exiting mid-evaluation is a crash", async () => {
      const { result } = await run(fixture("serve-breaker"));
      expectFailure(result, "crash");
    });
  });

  describe("the sandbox", () => {
    it("read-held-out: finds no val or test tokens anywhere, so it crashes, never scores below honest", async () => {
      const { result } = await run(materialise("read-held-out", { DATASET_DIR: datasetDir }));
      if (result.status === "ok") expect(result.summary!.val_bpb).toBeGreaterThanOrEqual((await honestBpb()) - SAME_BPB);
      expectFailure(result, "crash");
      expect(result.error).toMatch(/^read-held-out: found no val tokens/);
    });

    it("write-outside: the harness source, the dataset, the store and the lab's git are left as they were", async () => {
      const workspace = join(work, "workspace");
      const lab = join(workspace, "lab");
      mkdirSync(lab, { recursive: true });
      expect(spawnSync("git", ["init", "-q", lab]).status).toBe(0);
      for (const dir of [workspace, lab]) writeFileSync(join(dir, ".redteam-target"), "");
      const store = join(workspace, "nightshift.db");
      writeFileSync(store, randomBytes(4096));
      // A dataset of its own: a harness that lets the write through must not break the others.
      const ownDataset = join(work, "dataset-write-outside");
      writeTinyDataset(ownDataset, { docs: DOCS });
      const hooks = join(lab, ".git", "hooks");
      const watched = [EVALUATE_TS, store, join(lab, ".git", "config"), ...readdirSync(ownDataset).map((f) => join(ownDataset, f))];
      const before = new Map(watched.map((f) => [f, sha256(f)]));
      const hooksBefore = readdirSync(hooks).sort();
      const file = materialise("write-outside", { REPO_DIR: REPO, DATASET_DIR: ownDataset, LAB_DIR: lab });
      const marker = "\n// nightshift-redteam-write-outside\n";
      let result: RunResult;
      let sourceHash: string;
      try {
        ({ result } = await run(file, { datasetDir: ownDataset, cwd: lab }));
      } finally {
        sourceHash = sha256(EVALUATE_TS);
        // Take the fixture's line out of the real source again, should it have got in.
        const text = readFileSync(EVALUATE_TS, "utf8");
        if (text.includes(marker)) writeFileSync(EVALUATE_TS, text.replaceAll(marker, ""));
      }
      expect(sourceHash, `train.ts appended to ${EVALUATE_TS}\n${result.logTail}`).toBe(before.get(EVALUATE_TS));
      for (const [f, hash] of before) expect(sha256(f), `${f} was changed by train.ts\n${result.logTail}`).toBe(hash);
      expect(readdirSync(ownDataset).sort()).toEqual([...before.keys()].filter((f) => f.startsWith(ownDataset)).map((f) => f.slice(ownDataset.length + 1)).sort());
      expect(readdirSync(hooks).sort()).toEqual(hooksBefore);
      expect(existsSync(join(hooks, "post-commit"))).toBe(false);
      expect(existsSync(join(lab, "pwned"))).toBe(false);
      expect(result.logTail).not.toMatch(/^redteam: WROTE /m);
      await expectHonest(result);
    });

    it("exchange-flood: the exchange file in the host's /dev/shm cannot be grown past its size", async () => {
      const { result } = await run(fixture("exchange-flood"));
      await expectHonest(result);
      expect(result.logTail).toContain("exchange-flood: a byte at 1 TiB: EFBIG");
      expect(result.logTail).toContain("exchange-flood: 64 MiB past the end of a 2 GiB file: EFBIG");
    });

    it("proc-mem: the runner's /proc/<pid>/mem cannot be opened", async () => {
      const { result } = await run(materialise("proc-mem", { RUNNER_PID: String(process.pid) }));
      await expectHonest(result);
    });

    it("escapee: nothing train.ts started (detached, setsid, double fork) survives the run", async () => {
      const marker = `nightshift-redteam-escapee-${randomBytes(6).toString("hex")}`;
      const { result } = await run(materialise("escapee", { MARKER: marker }));
      try {
        expect(result.logTail).toContain("redteam: sleep: started");
        let left = processesWith(marker);
        for (const deadline = performance.now() + 3000; left.length > 0 && performance.now() < deadline; left = processesWith(marker))
          await sleep(50);
        expect(left, `still running: ${left.map((p) => p.cmdline).join("; ")}`).toEqual([]);
        await expectHonest(result);
      } finally {
        for (const p of processesWith(marker)) killQuietly(p.pid);
      }
    });

    describe("secrets", () => {
      const secret = `sk-redteam-${randomBytes(12).toString("hex")}`;

      /**
       * Runs the secrets fixture from a runner process that was started with the planted key in
       * its environment (as nightshift is started with ANTHROPIC_API_KEY), so its
       * /proc/<pid>/environ holds the value.
       */
      async function runWithPlantedKey(sandbox: RunTrainOptions["sandbox"]): Promise<{ result: RunResult; log: string }> {
        const driver = join(work, "secrets-driver.mts");
        writeFileSync(
          driver,
          `import { writeFileSync } from "node:fs";
import { runTrain } from ${JSON.stringify(RUNNER)};
const { out, ...options } = JSON.parse(process.argv[2]);
writeFileSync(out, JSON.stringify(await runTrain(options)));
`,
        );
        const out = join(work, `secrets-${sandbox}.json`);
        const logFile = join(work, `secrets-${sandbox}.log`);
        const options = { file: fixture("secrets"), datasetDir, profile: "cpu", seed: SEED, timeBudget: 1, hardLimit: 30, sandbox, logFile, out };
        const previous = process.env.NIGHTSHIFT_REDTEAM_API_KEY;
        process.env.NIGHTSHIFT_REDTEAM_API_KEY = secret;
        let child: ChildProcess | undefined;
        try {
          child = spawn(process.execPath, ["--import", "tsx", driver, JSON.stringify(options)], { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
          let stderr = "";
          child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
          const code = await new Promise<number | null>((r) => child!.on("exit", (c) => r(c)));
          expect(code, stderr).toBe(0);
        } finally {
          if (child && child.exitCode === null) killQuietly(child.pid!);
          if (previous === undefined) delete process.env.NIGHTSHIFT_REDTEAM_API_KEY;
          else process.env.NIGHTSHIFT_REDTEAM_API_KEY = previous;
        }
        const raw = readFileSync(out, "utf8");
        const result = JSON.parse(raw) as RunResult;
        const log = readFileSync(logFile, "utf8");
        // Every way out, named, so a failure says which one leaked.
        expect(result.logTail, "result.logTail").not.toContain(secret);
        expect(log, "the log file").not.toContain(secret);
        expect(result.error ?? "", "result.error").not.toContain(secret);
        expect(raw, "the rest of the RunResult").not.toContain(secret);
        return { result, log };
      }

      it("sandboxed: the planted key is nowhere to be found, no credential-named variable is visible", async () => {
        const { result } = await runWithPlantedKey("required");
        expect(result.sandboxed).toBe(true);
        await expectHonest(result);
        expect(result.logTail).toContain("planted values found: 0");
        const names = /^redteam: env names: (.*)$/m.exec(result.logTail)?.[1] ?? "";
        expect(names.split(" ").filter((n) => CREDENTIAL_NAME.test(n))).toEqual([]);
        expect(result.logTail).not.toMatch(/environ names credentials/);
      });

      it("sandbox off: train.ts reads the key from its parent's environ, and the log shows [REDACTED] in its place", async () => {
        const { result, log } = await runWithPlantedKey("off");
        expect(result.sandboxed).toBe(false);
        expect(result.logTail).toContain("redteam: credential-like env names: (none)");
        // It found the value (from /proc/<ppid>/environ) and printed it every way it could.
        expect(result.logTail).toMatch(/planted values found: [1-9]/);
        expect(result.logTail).toContain("redteam: found secret [REDACTED]");
        expect(log).toContain("redteam: split secret [REDACTED]");
        // Then threw with it: the one-line error carries no value either.
        expectFailure(result, "crash");
        expect(result.error).toContain("[REDACTED]");
      });
    });
  });
});

interface Proc {
  pid: number;
  cmdline: string;
}

/** Live (not zombie) processes whose command line contains `marker`. */
function processesWith(marker: string): Proc[] {
  const found: Proc[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ").trim();
      if (!cmdline.includes(marker)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") continue;
      found.push({ pid: Number(name), cmdline });
    } catch {
      // Ended while we looked.
    }
  }
  return found;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
