/**
 * The `nightshift` command's answers that need no training: device info and its environment
 * overrides, `prepare` (a small real dataset, built once and then reused), and the one-line
 * usage errors with exit code 2. Trainings through `nightshift train` are
 * test/commands/train-cli.test.ts (e2e tier).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin/nightshift.js", import.meta.url));
const home = mkdtempSync(join(tmpdir(), "ns-cli-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: home } });

describe("nightshift CLI", () => {
  it("info --json reports the device", () => {
    const r = run("info", "--json");
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as { kind: string; threads: number; gemmKernel: string; peakFlops: number };
    expect(info.kind).toBe("cpu");
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(["avx512", "avx2", "generic"]).toContain(info.gemmKernel);
    expect(info.peakFlops).toBeGreaterThan(0);
  });

  it("honours NIGHTSHIFT_NUM_THREADS", () => {
    const r = spawnSync(process.execPath, [bin, "info", "--json"], {
      encoding: "utf8",
      env: { ...process.env, NIGHTSHIFT_NUM_THREADS: "1" },
    });
    expect(JSON.parse(r.stdout).threads).toBe(1);
  });

  it("takes the peak FLOP/s from NIGHTSHIFT_PEAK_FLOPS when given", () => {
    const r = spawnSync(process.execPath, [bin, "info", "--json"], {
      encoding: "utf8",
      env: { ...process.env, NIGHTSHIFT_PEAK_FLOPS: "2.5e11" },
    });
    expect(JSON.parse(r.stdout).peakFlops).toBe(2.5e11);
  });

  it("rejects an unknown command with a one-line error and exit code 2", () => {
    const r = run("bogus");
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe("nightshift: Unknown argument: bogus");
  });

  it("prepare builds a dataset once and reuses it", () => {
    const first = run("prepare", "--max-docs", "300", "--vocab-size", "400", "--json");
    expect(first.status, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout) as { dir: string; reused: boolean; manifest: { vocabSize: number } };
    expect(a.reused).toBe(false);
    expect(a.manifest.vocabSize).toBe(400);
    expect(existsSync(join(a.dir, "manifest.json"))).toBe(true);
    const second = JSON.parse(run("prepare", "--max-docs", "300", "--vocab-size", "400", "--json").stdout);
    expect(second).toMatchObject({ dir: a.dir, reused: true });
  });

  it("prepare rejects a missing --data path in one line", () => {
    const r = run("prepare", "--data", join(home, "nope.txt"));
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/nope.txt: no such file or directory/);
  });



  it("train rejects bad input before running anything", () => {
    const missing = run("train", join(home, "nope.ts"));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/nope.ts: no such file/);
    const seed = run("train", "--seed", "-1");
    expect(seed.status).toBe(2);
    expect(seed.stderr).toMatch(/--seed must be a non-negative integer/);
    const budget = run("train", "--time-budget", "0");
    expect(budget.stderr).toMatch(/--time-budget must be a positive number/);
    const empty = spawnSync(process.execPath, [bin, "train"], {
      encoding: "utf8",
      env: { ...process.env, NIGHTSHIFT_HOME: join(home, "empty-home") },
    });
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/no prepared dataset for the cpu profile: run `nightshift prepare` first/);
  });

  it("rejects an unknown profile", () => {
    const r = run("prepare", "--profile", "tpu");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Invalid values/);
  });

  it("lists --name among the tournament's options, as the README uses it", () => {
    const r = run("tournament", "--help");
    expect(r.status).toBe(0);
    const options = r.stdout.slice(r.stdout.indexOf("Options:"));
    expect(options).toMatch(/^\s+--name\s/m);
  });

  it("asks for a command when given none", () => {
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/name a command/);
  });
});
