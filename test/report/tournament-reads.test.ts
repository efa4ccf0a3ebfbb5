/**
 * What the tournament's readers ask the store: a night or tournament report, and `tournament
 * status`, read each table once — the same calls for 2 nights as for 4, none per org, result,
 * champion or experiment. The tournament is written through the store's API (no training): each
 * night, every org's run keeps a few changes, its best is verified, and the first org's move
 * makes the champion. The report shows full diffs on the champion chain only when it summarises.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../src/harness/types.ts";
import { buildNightReport, buildTournamentReport } from "../../src/report/index.ts";
import { type Store, openStore } from "../../src/store/index.ts";
import { tournamentStatus } from "../../src/tournament/status.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const hex = (n: number) => n.toString(16).padStart(40, "0");
const BUDGET = 10;
const base: Pick<RunResult, "seed" | "profile" | "timeBudget" | "sandboxed"> = { seed: 1, profile: "cpu", timeBudget: BUDGET, sandboxed: true };
const summary = (val_bpb: number) => ({ val_bpb, training_seconds: BUDGET, total_seconds: BUDGET, peak_vram_mb: 1, mfu_percent: 1, total_tokens_M: 1, num_steps: 1, num_params_M: 1, depth: 1 });
const diff = (k: string) => `--- a/train.ts\n+++ b/train.ts\n@@ -1 +1 @@\n-const ${k} = 1;\n+const ${k} = 2;\n`;

/** A tournament of `nights` nights × `orgs` orgs, `perRun` experiments per org run. */
function writeTournament(nights: number, orgs: number, perRun: number): Store {
  const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "ns-treads-"));
  dirs.push(dir);
  let t = Date.parse("2026-03-02T22:00:00Z");
  let commits = 10;
  const store = openStore(join(dir, "nightshift.db"), { now: () => new Date((t += 1000)) });
  const members = Array.from({ length: orgs }, (_, k) => store.createOrg({ name: `org${k}`, programMd: `# org ${k}\n` }));
  const tour = store.createTournament({ name: "wk", nights, baseCommit: hex(1), orgIds: members.map((o) => o.id) });
  let champion = hex(1);
  for (let n = 1; n <= nights; n++) {
    const night = store.startNight(tour.id, n);
    const results = [];
    for (const a of store.addAllocations(night.id, 0, members.map((o) => ({ orgId: o.id, experiments: perRun })))) {
      store.startAllocation(a.id);
      const org = members.find((o) => o.id === a.orgId)!;
      const run = store.createRun({ tag: `wk-n${n}`, orgId: org.id, branch: `nightshift/wk-n${n}/${org.name}`, profile: "cpu", timeBudget: BUDGET, deviceKind: "cpu", agent: "builtin", baseCommit: champion });
      let head = champion;
      let bpb = 2;
      let best;
      for (let seq = 1; seq <= perRun; seq++) {
        const e = store.proposeExperiment({ runId: run.id, parentCommit: head, description: `n${n} ${org.name} #${seq}`, hypothesis: "h" });
        const commit = hex(++commits);
        store.startExperiment(e.id, { commit, diff: seq === 1 ? "" : diff(`K${commits}`), seed: 1 });
        const keep = seq === 1 || seq % 3 === 0;
        const value = keep ? bpb - (seq === 1 ? 0 : 0.01) : bpb + 0.01;
        store.finishExperiment(e.id, { status: keep ? "keep" : "discard", result: { ...base, status: "ok", summary: summary(value), logTail: "ok\n" }, ...(keep ? {} : { reason: "worse" }) });
        if (keep) {
          head = commit;
          bpb = value;
          if (seq > 1) best = { id: e.id, commit };
        }
      }
      store.finishAllocation(a.id, run.id);
      results.push({ org, run: run.id, best });
    }
    store.endAllocating(night.id);
    const winner = results[0]!;
    store.recordNightResults(
      night.id,
      results.map((r, i) => ({
        orgId: r.org.id,
        runId: r.run,
        ...(r.best
          ? { experimentId: r.best.id, verification: { experimentId: r.best.id, parentCommit: champion, commit: r.best.commit, verdict: i === 0 ? ("real" as const) : ("noise" as const), seeds: 4, meanGain: 0.01, reason: "r", details: { interval: [0.005, 0.015], alpha: 0.05, margin: 0.001 } } }
          : {}),
        claimedGain: 0.02, verifiedGain: i === 0 ? 0.01 : 0, deviceSeconds: 100, experiments: perRun, score: i === 0 ? 1 : 0, rank: i + 1,
      })),
      winner.best ? { commit: winner.best.commit, orgId: winner.org.id, gain: 0.01 } : null,
    );
    if (winner.best) champion = winner.best.commit;
    store.evolveNight(night.id, { children: [], retire: [] });
  }
  return store;
}

/** The store with every method call counted by name. */
function counting(store: Store): { store: Store; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

describe("the tournament's readers", () => {
  const small = writeTournament(2, 3, 7);
  const large = writeTournament(4, 3, 7);

  it("build the tournament report with the same store calls for 2 nights as for 4, none per org or row", () => {
    const read = (store: Store) => {
      const c = counting(store);
      buildTournamentReport(c.store, store.listTournaments()[0]!);
      return c.calls;
    };
    const a = read(small);
    const b = read(large);
    for (const name of ["getOrg", "getRun", "listExperiments", "runVerifications", "listAgentCalls", "runCost"]) {
      expect(a.get(name) ?? 0, name).toBe(0);
      expect(b.get(name) ?? 0, name).toBe(0);
    }
    for (const name of ["listNights", "listOrgs", "listRuns", "listExperimentBriefs", "verificationsOfRuns", "agentCostGroups", "listChampions", "listMembers"]) expect([a.get(name), b.get(name)], name).toEqual([1, 1]);
    // Per night: its allocations and its results, nothing else.
    expect([a.get("listAllocations"), b.get("listAllocations")]).toEqual([2, 4]);
    expect([a.get("listNightResults"), b.get("listNightResults")]).toEqual([2, 4]);
  });

  it("build a night report with one read of each table", () => {
    const c = counting(large);
    const t = large.listTournaments()[0]!;
    buildNightReport(c.store, t, large.listNights(t.id).at(-1)!);
    expect(c.calls.get("getOrg") ?? 0).toBe(0);
    expect(c.calls.get("listExperimentBriefs")).toBe(1);
    expect(c.calls.get("listNights")).toBe(1);
    expect(c.calls.get("listAllocations")).toBe(1);
  });

  it("show `tournament status` with one read of the orgs and nights", () => {
    const c = counting(large);
    const s = tournamentStatus(c.store, large.listTournaments()[0]!);
    expect(s.nights).toHaveLength(4);
    expect(s.nights[0]!.results[0]).toMatchObject({ org: "org0", verdict: "real", margin: 0.001 });
    expect(s.champions.map((x) => x.night)).toEqual([0, 1, 2, 3, 4]);
    expect(c.calls.get("getOrg") ?? 0).toBe(0);
    expect(c.calls.get("runVerifications") ?? 0).toBe(0);
    expect([c.calls.get("listNights"), c.calls.get("listOrgs"), c.calls.get("verificationsOfRuns")]).toEqual([1, 1, 1]);
  });

  it("mark the champion chain: each move's kept changes, in the run that made it", () => {
    const t = large.listTournaments()[0]!;
    const model = buildTournamentReport(large, t);
    for (const run of model.runs) {
      const moved = run.org.name === "org0"; // org0 makes every move
      expect(run.kept.every((k) => k.onChain === moved), `${run.branch}`).toBe(true);
      // A small tournament lists everything: every kept change with its diff.
      expect(run.kept.every((k) => k.diff !== null)).toBe(true);
    }
    expect(model.detail.summarised).toBe(false);
  });
});
