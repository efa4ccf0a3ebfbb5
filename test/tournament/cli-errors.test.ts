/**
 * `nightshift tournament`'s answers to bad input, through a real CLI process: one line, exit
 * code 2, before anything trains. A tournament 't1' exists (registered in process, as `start`
 * registers it, without running a night) so that a start under a taken name is refused too.
 * The night itself, stop and resume are cli.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPopulation, startTournament } from "../../src/tournament/index.ts";
import { openWorkspace } from "../../src/workspace/workspace.ts";
import { initFakeLab } from "../support/fake-trainer.ts";
import { fakeTournamentSettings } from "../support/fake-tournament.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";
import { writeTestOrgs } from "./orgs.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-tournament-errors-"));
const dataset = join(root, "data");
const ws = join(root, "ws");
const orgs = join(root, "orgs");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [bin, "tournament", ...args, "--workspace", ws], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: root }, timeout: 60_000 });

beforeAll(async () => {
  writeTinyDataset(dataset, { docs: { val: 100, test: 200 } });
  writeTestOrgs(orgs);
  const workspace = await openWorkspace(await initFakeLab(ws), "cpu");
  try {
    await startTournament(workspace, { name: "t1", nights: 1, population: loadPopulation(orgs), settings: fakeTournamentSettings(dataset) });
  } finally {
    workspace.store.close();
  }
});

describe("nightshift tournament: bad input", () => {
  it("rejects bad input in one line with exit code 2", () => {
    const cases: [string[], RegExp][] = [
      [["status", "nope"], /no tournament 'nope'/],
      [["resume", "nope"], /no tournament 'nope'/],
      [["start", "t2", "--nights", "0", "--orgs", orgs, "--dataset", dataset], /--nights must be an integer ≥ 1/],
      [["start", "t2", "--nights", "1", "--orgs", join(root, "data"), "--dataset", dataset], /no orgs there/],
      [["start", "t2", "--nights", "1", "--orgs", orgs, "--population", "1", "--dataset", dataset], /--population must be an integer ≥ 2/],
      [["start", "t2", "--nights", "1", "--orgs", orgs, "--champion-alpha", "0.5", "--dataset", dataset], /--champion-alpha must be in \(0, 0\.05\]/],
      [["start", "t2", "--nights", "1", "--orgs", orgs, "--margin", "-1", "--dataset", dataset], /--margin must be a gain in val_bpb ≥ 0/],
      [["start", "t1", "--nights", "1", "--orgs", orgs, "--dataset", dataset, "--profile", "cpu"], /already exists/],
      [["start", "t1", "--nights", "1", "--orgs", orgs, "--dataset", dataset, "--profile", "cpu", "--name", "t2"], /two names for the tournament: 't1' and --name t2/],
      [["status", "--name", "nope"], /no tournament 'nope'/],
      [["start", "t2", "--nights", "1", "--orgs", orgs, "--confirm-seeds", "1", "--dataset", dataset], /--confirm-seeds must be 0 \(none\) or an integer from 2 to 50/],
    ];
    for (const [args, message] of cases) {
      const r = cli(...args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    // None of them started a tournament or a night.
    expect(cli("status", "t2").stderr).toMatch(/no tournament 't2'/);
    const t1 = JSON.parse(cli("status", "t1", "--json").stdout);
    expect(t1.nights).toEqual([]);
  });
});
