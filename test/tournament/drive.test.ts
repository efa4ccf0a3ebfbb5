/**
 * The outer loop's logic in process, through the real store and lab, with the fake trainer in
 * place of real training (test/support/fake-trainer.ts): its val_bpb is a bowl around tuned
 * learning rates plus seed noise, and the lab starts detuned, so the learning-rate org has a
 * real gain to find. What the store must hold after two nights (allocations matching the runs,
 * verdicts, night results, the champion chain, the bred child's lineage), and a stop during a
 * night's runs and one during its verification, each finished exactly by driving again.
 * The CLI end to end with real trainings is test/tournament/cli.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Lab, labReadme } from "../../src/lab/index.ts";
import type { Store, Tournament } from "../../src/store/index.ts";
import {
  type TournamentSettings,
  countedExperiments,
  driveTournament,
  formatStatus,
  loadPopulation,
  startTournament,
  stopFile,
  tournamentStatus,
} from "../../src/tournament/index.ts";
import type { DeviceSlot } from "../../src/workspace/devices.ts";
import { CHAMPION_SEED_BASE } from "../../src/verification/verify.ts";
import { type Workspace, openWorkspace } from "../../src/workspace/workspace.ts";
import { FAKE_TRAIN_TS, type FakeTrainer, fakeTrainer } from "../support/fake-trainer.ts";
import { fakeTournamentSettings } from "../support/fake-tournament.ts";
import { writeTestOrgs } from "./orgs.ts";

const root = mkdtempSync(join(tmpdir(), "ns-tdrive-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TUNED = { MATRIX_LR: 0.04, UNEMBEDDING_LR: 0.004 };
const DETUNED_TRAIN_TS = FAKE_TRAIN_TS.replace("MATRIX_LR = 0.04;", "MATRIX_LR = 0.0004;").replace("UNEMBEDDING_LR = 0.004;", "UNEMBEDDING_LR = 0.00004;");
const SLOTS: DeviceSlot[] = [{ slot: 0, label: "cpu", env: {} }];

const settings = (over: Partial<TournamentSettings> = {}) => fakeTournamentSettings(join(root, "data"), over);

/** A log that asks the tournament to stop (its STOP file) at the first line matching `aim`; `asked` says whether it did. */
function stopAt(ws: Workspace, name: string, aim: RegExp) {
  const stop = {
    asked: false,
    log(line: string): void {
      if (stop.asked || !aim.test(line)) return;
      stop.asked = true;
      writeFileSync(stopFile(ws, name), "stop\n");
    },
  };
  return stop;
}

let n = 0;
async function workspace(orgNames?: string[]): Promise<{ ws: Workspace; fake: FakeTrainer; orgs: string }> {
  const dir = join(root, `ws${n++}`);
  await Lab.init(join(dir, "lab"), { trainTs: DETUNED_TRAIN_TS, readme: labReadme({ profile: "cpu" }) });
  const fake = fakeTrainer({ noiseSd: 0.002, optima: TUNED });
  const ws = await openWorkspace(dir, "cpu", { trainer: fake.train });
  return { ws, fake, orgs: writeTestOrgs(join(dir, "orgs"), orgNames) };
}

/** Every allocation done, and every org's run did exactly what its grants summed to. */
function expectExactNight(store: Store, nightId: number): void {
  const allocations = store.listAllocations(nightId);
  expect(allocations.every((a) => a.status === "done" && a.runId !== null)).toBe(true);
  const byOrg = new Map<number, { granted: number; runId: number }>();
  for (const a of allocations) byOrg.set(a.orgId, { granted: (byOrg.get(a.orgId)?.granted ?? 0) + a.experiments, runId: a.runId! });
  for (const { granted, runId } of byOrg.values()) {
    const experiments = store.listExperiments(runId);
    expect(countedExperiments(experiments)).toBe(granted);
    expect(experiments.some((e) => e.status === "proposed" || e.status === "running")).toBe(false);
  }
}

describe("a tournament driven in process (fake trainer)", () => {
  it("runs 2 nights with 4 orgs and records allocations, verdicts, results, the champion chain and the lineage", async () => {
    const { ws, fake, orgs } = await workspace();
    try {
      const t = await startTournament(ws, { name: "t1", nights: 2, population: loadPopulation(orgs), settings: settings() });
      const lines: string[] = [];
      const end = await driveTournament(ws, t, { slots: SLOTS, log: (line) => lines.push(line) });
      // Each result is logged as it lands, with the night's count and the time left.
      const night1 = lines.filter((l) => /^night 1: \S+ exp \d+ /.test(l));
      expect(night1).toHaveLength(10);
      expect(night1[0]).toMatch(/\[1\/10(, ~\d+(s|m\d\ds) left)?\]$/);
      expect(night1.at(-1)).toMatch(/\[10\/10\]$/);
      // Verification says which claim of how many it is on.
      const claims = lines.filter((l) => /^night 1: verifying claim \d+ of \d+: \S+'s best, [0-9a-f]{7} /.test(l));
      expect(claims.length).toBeGreaterThan(0);
      expect(claims.at(-1)).toMatch(new RegExp(`claim ${claims.length} of ${claims.length}:`));
      expect(end.status).toBe("finished");
      const { store } = ws;
      expect(store.checkIntegrity().ok).toBe(true);
      const nights = store.listNights(t.id);
      expect(nights.map((x) => x.status)).toEqual(["finished", "finished"]);
      for (const night of nights) {
        expectExactNight(store, night.id);
        const results = store.listNightResults(night.id);
        expect(results.map((x) => x.rank)).toEqual(results.map((_, i) => i + 1));
        for (const x of results) if (x.verdict !== "real") expect(x.verifiedGain).toBe(0);
      }
      // The planted gain is found by the learning-rate org, verified real and crowned on night 1.
      const results1 = store.listNightResults(nights[0]!.id);
      const lr = results1.find((x) => store.getOrg(x.orgId).name === "lr")!;
      expect(lr.verdict).toBe("real");
      expect(lr.rank).toBe(1);
      const chain = store.listChampions(t.id);
      expect(chain[0]!.nightId).toBeNull();
      expect(chain.length).toBeGreaterThanOrEqual(2);
      expect(nights[1]!.baseCommit).toBe(chain.filter((c) => c.nightId === null || c.nightId === nights[0]!.id).at(-1)!.commit);
      // Orgs whose knobs cannot reach the gain (weight decay, warmdown, betas: flat in the fake's
      // landscape) are never credited with one: noise is not crowned.
      for (const night of nights)
        for (const x of store.listNightResults(night.id)) if (["wd", "warm", "betas"].includes(store.getOrg(x.orgId).name)) expect(x.verdict).not.toBe("real");
      // `tournament status` says what each org was credited, and why nothing when not real.
      const status = formatStatus(tournamentStatus(store, end));
      expect(status).toMatch(/#1 lr: real .* credited 0\.\d*[1-9]/);
      expect(status).toContain("ranked by score = credited gain per device-hour");
      for (const line of status.split("\n").filter((l) => /: (noise|negligible|inconclusive)/.test(l))) expect(line).toMatch(/credited 0\.00000 \(not real: nothing credited\)/);
      // Lineage: one child bred after night 1, one org retired, the population held at 4.
      const members = store.listMembers(t.id);
      const children = members.filter((m) => m.org.parentId !== null);
      expect(children).toHaveLength(1);
      expect(children[0]!).toMatchObject({ joinedNight: 2, org: { generation: 1 } });
      expect(children[0]!.org.programMd).toMatch(/Tournament lineage:/);
      expect(members.filter((m) => m.status === "retired")).toHaveLength(1);
      expect(members.filter((m) => m.status === "active")).toHaveLength(4);
      // Verification reruns trained other seeds than the runs' 42, confirmation seeds included.
      const seeds = new Set(fake.trainings.map((x) => x.seed));
      expect(seeds.has(42)).toBe(true);
      expect([...seeds].some((s) => s >= 5000)).toBe(true);
    } finally {
      ws.store.close();
    }
  });

  it("moves the champion on a real claim whose p misses the champion level once a test at that level, on seeds of its own, passes", async () => {
    const { ws, fake, orgs } = await workspace(["lr", "wd"]);
    try {
      // Level 0.001: the night's verification stops a clear gain at an early look, with p well above it.
      const strict = settings({ experimentsPerNight: 6, verify: { maxSeeds: 6, minSeeds: 2, alpha: 0.05, effect: 0.002, championAlpha: 0.001, confirmSeeds: 0 } });
      const t = await startTournament(ws, { name: "champ", nights: 1, population: loadPopulation(orgs), settings: strict });
      const lines: string[] = [];
      await driveTournament(ws, t, { slots: SLOTS, log: (line) => lines.push(line) });
      const { store } = ws;
      const [night] = store.listNights(t.id);
      const lr = store.listNightResults(night!.id).find((x) => store.getOrg(x.orgId).name === "lr")!;
      expect(lr.verdict).toBe("real");
      const verification = store.runVerifications(lr.runId!).find((v) => v.id === lr.verificationId)!;
      const p = verification.pAdjusted ?? verification.pValue!;
      expect(p).toBeGreaterThanOrEqual(0.001);
      expect(lines.some((l) => /lr's claim is real, but p .* ≥ the champion level 0\.001: testing it at that level on fresh seeds/.test(l))).toBe(true);
      const test = verification.details.champion as { passed: boolean; alpha: number; seeds: number };
      expect(test).toMatchObject({ passed: true, alpha: 0.001 });
      // Its pairs trained on the champion seeds, nowhere else used.
      expect(fake.trainings.filter((x) => x.seed >= CHAMPION_SEED_BASE)).toHaveLength(2 * test.seeds);
      const chain = store.listChampions(t.id);
      expect(chain.at(-1)).toMatchObject({ nightId: night!.id, orgId: lr.orgId });
      expect(lines.some((l) => /^night 1: champion → [0-9a-f]{7} \(lr, /.test(l))).toBe(true);
    } finally {
      ws.store.close();
    }
  });

  it("stops during a night's runs after the experiment in flight, and driving again finishes the night exactly", async () => {
    const { ws, orgs } = await workspace(["lr", "wd"]);
    try {
      const t = await startTournament(ws, { name: "stop", nights: 1, population: loadPopulation(orgs), settings: settings({ experimentsPerNight: 8 }) });
      // The second org's run: the first has finished its grant, this one is under way.
      const stop = stopAt(ws, t.name, / wd runs \d+ experiments?/);
      const stopped = await driveTournament(ws, t, { slots: SLOTS, log: stop.log });
      expect(stop.asked).toBe(true);
      expect(stopped.status).toBe("stopped");
      const night = ws.store.listNights(t.id)[0]!;
      expect(night.status).not.toBe("finished");
      expect(ws.store.listAllocations(night.id).some((a) => a.status !== "done")).toBe(true);

      const end = await driveTournament(ws, ws.store.getTournament(t.id), { slots: SLOTS });
      expect(end.status).toBe("finished");
      expectExactNight(ws.store, night.id);
      expect(ws.store.checkIntegrity().ok).toBe(true);
    } finally {
      ws.store.close();
    }
  });

  it("a stop during verification leaves the night verifying; driving again re-verifies and finishes it", async () => {
    const { ws, orgs } = await workspace(["lr", "wd"]);
    try {
      const t: Tournament = await startTournament(ws, { name: "verify-stop", nights: 1, population: loadPopulation(orgs), settings: settings({ experimentsPerNight: 8 }) });
      const stop = stopAt(ws, t.name, /verifying/);
      const stopped = await driveTournament(ws, t, { slots: SLOTS, log: stop.log });
      expect(stop.asked).toBe(true);
      expect(stopped.status).toBe("stopped");
      const night = ws.store.listNights(t.id)[0]!;
      expect(night.status).toBe("verifying");
      expect(ws.store.listNightResults(night.id)).toEqual([]);

      const end = await driveTournament(ws, ws.store.getTournament(t.id), { slots: SLOTS });
      expect(end.status).toBe("finished");
      const results = ws.store.listNightResults(night.id);
      expect(results).toHaveLength(2);
      expect(results.find((x) => ws.store.getOrg(x.orgId).name === "lr")!.verdict).toBe("real");
    } finally {
      ws.store.close();
    }
  });
});
