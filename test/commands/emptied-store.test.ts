/**
 * An emptied store (nightshift.db truncated to 0 bytes) beside a lab with runs: no command may
 * treat it as a fresh store and bury the records it held. Read-write commands refuse before
 * opening it, read-only ones say it is empty (not "migrate it by opening read-write", the advice
 * that used to lose everything); the file stays as it was. A 0-byte store in a workspace with no
 * runs (what a kill while it was first created leaves) is simply made anew.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { WorkspaceError, openWorkspace } from "../../src/workspace/workspace.ts";
import { openStore } from "../../src/store/index.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-emptied-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cli = (ws: string, ...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args, "--workspace", ws], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: root }, timeout: 60_000 });

describe("an emptied store", () => {
  it("is refused beside a lab with runs, by read-write and read-only commands alike, and left as it is", async () => {
    const ws = join(root, "with-runs");
    const opened = await openWorkspace(ws, "cpu");
    const main = (await opened.lab.branchHead("main"))!;
    await opened.lab.startBranch("dec5", "default", main);
    opened.store.close();
    const db = join(ws, "nightshift.db");
    truncateSync(db, 0);
    const dataset = join(root, "data");
    writeTinyDataset(dataset, { docs: { val: 20 } });

    await expect(openWorkspace(ws, "cpu")).rejects.toThrow(WorkspaceError);
    await expect(openWorkspace(ws, "cpu")).rejects.toThrow(/is empty \(0 bytes\) but the lab has 1 run branch \(nightshift\/dec5\/default…\).*Restore nightshift\.db from a backup.*mv /);
    for (const args of [
      ["verify", "--run", "dec5"],
      ["noise", "--seeds", "2", "--profile", "cpu", "--dataset", dataset],
      ["results"],
      ["run", "--agent", "builtin", "--experiments", "1", "--tag", "again", "--profile", "cpu", "--dataset", dataset],
    ]) {
      const r = cli(ws, ...args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/empty/);
      expect(r.stderr).not.toMatch(/read-write to migrate/);
    }
    expect(statSync(db).size).toBe(0);
  }, 120_000);

  it("is made anew in a workspace without runs", async () => {
    const ws = join(root, "fresh");
    (await openWorkspace(ws, "cpu")).store.close();
    truncateSync(join(ws, "nightshift.db"), 0);
    const again = await openWorkspace(ws, "cpu");
    expect(again.store.listRuns()).toEqual([]);
    again.store.close();
    expect(openStore(join(ws, "nightshift.db"), { readonly: true }).schemaVersion).toBeGreaterThan(0);
  });
});
