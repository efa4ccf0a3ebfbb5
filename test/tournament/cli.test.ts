/**
 * `nightshift tournament` end to end as a user runs it: a real CLI process, 4 orgs, a night of
 * real 1 s trainings on the small recipe, then what the store must hold: allocations whose
 * counts match the runs, verdicts, night results and the champion chain; `status`; and the
 * one-line errors. Whether the right org wins, what verification credits, breeding and lineage
 * over several nights and a stop's resume are the drivers' logic, tested on the fake trainer
 * (drive.test.ts); breeding through the CLI is also in memory.test.ts and kill.test.ts. This
 * file checks that the real parts (CLI, sandboxed trainings, reruns) carry a night through.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.ts";
import { countedExperiments } from "../../src/tournament/index.ts";
import { initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";
import { writeTestOrgs } from "./orgs.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-tournament-"));
const dataset = join(root, "data");
const ws = join(root, "ws");
const orgs = join(root, "orgs");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [bin, "tournament", ...args, "--workspace", ws], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: root }, timeout: 300_000 });

beforeAll(async () => {
  writeTinyDataset(dataset, { docs: { val: 100, test: 200 } });
  await initSmallLab(ws, { detuned: true });
  writeTestOrgs(orgs);
});

describe("nightshift tournament", () => {
  it("runs a night with 4 orgs end to end and records everything", () => {
    const r = cli("start", "t1", "--nights", "1", "--experiments", "10", "--orgs", orgs, "--time-budget", "1", "--dataset", dataset, "--max-seeds", "2", "--confirm-seeds", "0", "--profile", "cpu", "--json");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.tournament.status, r.stderr).toBe("finished");
    expect(out.nights.map((n: { status: string }) => n.status)).toEqual(["finished"]);

    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    try {
      expect(store.checkIntegrity().ok).toBe(true);
      const t = store.getTournamentByName("t1")!;
      const nights = store.listNights(t.id);
      for (const night of nights) {
        const allocations = store.listAllocations(night.id);
        expect(allocations.every((a) => a.status === "done" && a.runId !== null)).toBe(true);
        // Exact counts: every org's run did exactly what its grants summed to.
        const byOrg = new Map<number, { granted: number; runId: number }>();
        for (const a of allocations) byOrg.set(a.orgId, { granted: (byOrg.get(a.orgId)?.granted ?? 0) + a.experiments, runId: a.runId! });
        for (const { granted, runId } of byOrg.values()) expect(countedExperiments(store.listExperiments(runId))).toBe(granted);
        const results = store.listNightResults(night.id);
        expect(results.map((x) => x.rank)).toEqual(results.map((_, i) => i + 1));
        expect(new Set(results.map((x) => x.orgId)).size).toBe(byOrg.size);
        for (const x of results) if (x.verdict !== "real") expect(x.verifiedGain).toBe(0);
      }
      // The champion chain starts at the tournament's base; it moves only on a real verdict.
      const chain = store.listChampions(t.id);
      expect(chain[0]!.nightId).toBeNull();
      const real = store.listNightResults(nights[0]!.id).filter((x) => x.verdict === "real");
      expect(chain.length - 1).toBeLessThanOrEqual(real.length);
      expect(store.listMembers(t.id).filter((m) => m.status === "active")).toHaveLength(4);
    } finally {
      store.close();
    }

    const status = cli("status", "t1");
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/champion chain:/);
    expect(status.stdout).toMatch(/night 1/);
  }, 300_000);

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
  }, 120_000);
});
