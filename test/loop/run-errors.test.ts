/**
 * `nightshift run`'s input errors, through a real CLI process: one line, exit code 2, and
 * nothing written (no workspace made) when the input is refused. Nothing here trains; the
 * runs themselves are run.test.ts (e2e tier).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-loop-errors-"));
const dataset = join(root, "data");
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(() => writeTinyDataset(dataset, { docs: { val: 200 } }));

const args = (ws: string, ...more: string[]) => ["run", "--workspace", ws, "--dataset", dataset, "--time-budget", "1", ...more];
const cli = (...a: string[]) => spawnSync(process.execPath, [bin, ...a], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: root } });

describe("nightshift run: bad input", () => {
  it("rejects bad input in one line with exit code 2", () => {
    const org = cli(...args(join(root, "ws-bad"), "--org", join(root, "missing-org")));
    expect(org.status).toBe(2);
    expect(org.stderr).toMatch(/--org .*no such file or directory/);
    const n = cli(...args(join(root, "ws-bad"), "--experiments", "0"));
    expect(n.stderr).toMatch(/--experiments must be a positive number/);
    const price = cli(...args(join(root, "ws-bad"), "--agent", "openai", "--no-sandbox", "--price", "3"));
    expect(price.status).toBe(2);
    expect(price.stderr).toMatch(/--price must be two to five non-negative numbers/);
    const six = cli(...args(join(root, "ws-bad"), "--agent", "openai", "--no-sandbox", "--price", "3,15,0.3,3.75,6,1"));
    expect(six.status).toBe(2);
    expect(six.stderr).toMatch(/--price must be two to five .*got 3,15,0.3,3.75,6,1/);
    // A bad agent option is found before anything is written: the same command fails the same way again.
    for (let attempt = 0; attempt < 2; attempt++) {
      const turns = spawnSync(process.execPath, [bin, ...args(join(root, "ws-bad"), "--agent", "openai", "--no-sandbox", "--max-turns", "0", "--tag", "t")], {
        encoding: "utf8",
        env: { ...process.env, NIGHTSHIFT_HOME: root, OPENAI_API_KEY: "sk-test-not-a-key" },
      });
      expect(turns.status).toBe(2);
      expect(turns.stderr).toMatch(/maxTurns/);
      expect(turns.stderr.trim().split("\n")).toHaveLength(1);
    }
    // A missing key is found before the workspace is made.
    const env: NodeJS.ProcessEnv = { ...process.env, NIGHTSHIFT_HOME: root };
    delete env.OPENAI_API_KEY;
    const noKey = spawnSync(process.execPath, [bin, ...args(join(root, "ws-nokey"), "--agent", "openai", "--no-sandbox")], { encoding: "utf8", env });
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toMatch(/no API key; set OPENAI_API_KEY/);
    expect(existsSync(join(root, "ws-nokey"))).toBe(false);
    const resume = cli(...args(join(root, "ws-bad"), "--resume", "--tag", "never"));
    expect(resume.status).toBe(2);
    expect(resume.stderr).toMatch(/no run nightshift\/never\/default to resume/);
    const noData = cli("run", "--workspace", join(root, "ws-nodata"), "--dataset", join(root, "nowhere"), "--experiments", "1");
    expect(noData.status).toBe(2);
    expect(noData.stderr).toMatch(/no prepared dataset at .*nowhere.*manifest.json missing/);
    expect(existsSync(join(root, "ws-nodata"))).toBe(false); // checked before anything is written
    const results = cli("results", "--workspace", join(root, "nowhere"));
    expect(results.status).toBe(2);
    expect(results.stderr).toMatch(/no nightshift workspace/);
  });
});
