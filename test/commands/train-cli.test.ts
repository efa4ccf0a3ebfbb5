/**
 * `nightshift train` end to end: a real CLI process trains a train.ts for a 1-2 s budget on a
 * tiny dataset (a fixture, and a `cp` of the recipe whose source-tree imports are rewritten) and
 * reports the result; a run that is not ok exits 1 and says why. Its input errors, which never
 * train, are in test/cli.test.ts.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const home = mkdtempSync(join(tmpdir(), "ns-train-cli-"));
const dataset = join(home, "tiny");
beforeAll(() => writeTinyDataset(dataset, { docs: { val: 120 } }));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: home } });

describe("nightshift train", () => {
  it("train runs a train.ts on a dataset and reports an ok result with val_bpb", () => {
    const file = fileURLToPath(new URL("../fixtures/train/bigram-timed.ts", import.meta.url));
    const r = run("train", file, "--dataset", dataset, "--time-budget", "1", "--seed", "3", "--json");
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(result).toMatchObject({ status: "ok", seed: 3, timeBudget: 1, profile: "cpu" });
    expect(result.summary.val_bpb).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/val_bpb:\s+\d/); // the summary block, live output on stderr with --json
  });

  it("train runs a copy of the recipe made with cp (its source-tree imports rewritten)", () => {
    const copy = join(home, "my-train.ts");
    copyFileSync(fileURLToPath(new URL("../../src/recipe/train.ts", import.meta.url)), copy);
    const r = run("train", copy, "--dataset", dataset, "--time-budget", "2", "--json");
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").at(-1)!)).toMatchObject({ status: "ok" });
    expect(r.stderr).toMatch(/my-train\.ts imports the source tree \(\.\.\/engine\/index\.ts, .*"nightshift\/engine"/);
  });

  it("train exits 1 and names the outcome when the run is not ok", () => {
    const file = fileURLToPath(new URL("../fixtures/train/no-default-export.ts", import.meta.url));
    const r = run("train", file, "--dataset", dataset, "--time-budget", "1");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/nightshift: run crash: .*default/);
  });
});
