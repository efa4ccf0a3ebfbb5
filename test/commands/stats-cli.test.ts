/**
 * `nightshift noise`, `verify` and `compare` as a user runs them: real CLI processes, training
 * for real (small recipe, 1 s), on a workspace whose runs the real loop made. The lab starts
 * detuned; the scripted agent restores UNEMBEDDING_LR (a planted real gain) and otherwise nudges
 * WEIGHT_DECAY by a negligible amount (A/A changes the naive rule may keep), and once changes
 * only a comment. The runs themselves are made with the fake trainer (val_bpb a bowl around the
 * tuned UNEMBEDDING_LR plus seed noise, so the naive rule keeps the restore and, by noise, some
 * nudges): what verify judges is its own real reruns of those commits. verify must confirm the
 * planted gain and nothing else.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent, Proposal } from "../../src/agents/types.ts";
import { runLoopIn } from "../support/loop.ts";
import { openStore } from "../../src/store/index.ts";
import { fakeTrainer } from "../support/fake-trainer.ts";
import { DETUNED, TUNED, initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-stats-cli-"));
const dataset = join(root, "data");
const ws = join(root, "ws");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args, "--workspace", ws], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: root }, timeout: 240_000 });

// No simplicity threshold: the naive rule keeps any lower val_bpb, as autoresearch's does.
const ORG = {
  name: "naive",
  path: "(test)",
  programMd: "# naive\n\n```nightshift-strategy\n" + JSON.stringify({ simplicityThreshold: 0, knobs: [{ name: "WEIGHT_DECAY", kind: "linear", min: 0, max: 0.4 }] }) + "\n```\n",
};

const edit = (search: string, replace: string, description: string): Proposal => ({ edits: [{ file: "train.ts", search, replace }], description, hypothesis: "h" });

function scriptedAgent(): Agent {
  let calls = 0;
  return {
    name: "scripted",
    async propose(ctx) {
      calls++;
      const usage = { model: "scripted", calls: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 };
      let proposal: Proposal;
      if (ctx.trainTs.includes(DETUNED.unembedding)) proposal = edit(DETUNED.unembedding, TUNED.unembedding, "restore UNEMBEDDING_LR");
      else if (calls % 4 === 0) proposal = edit("// Optimization\n", "// Optimization (the learning rates)\n", "comment only");
      else {
        const wd = /export const WEIGHT_DECAY = ([\d.]+);/.exec(ctx.trainTs)![1]!;
        proposal = edit(`export const WEIGHT_DECAY = ${wd};`, `export const WEIGHT_DECAY = ${(Number(wd) + 1e-7).toFixed(7)};`, `WEIGHT_DECAY +1e-7 (${calls})`);
      }
      return { proposal, usage, attempts: 1 };
    },
  };
}

beforeAll(async () => {
  writeTinyDataset(dataset, { docs: { val: 200, test: 200 } });
  await initSmallLab(ws, { detuned: true });
  const base = { org: ORG, agent: { kind: "builtin" as const }, profile: "cpu" as const, timeBudget: 1, datasetDir: dataset, seed: 5, resume: false, agentOverride: scriptedAgent() };
  const trainer = fakeTrainer({ noiseSd: 0.01, optima: { UNEMBEDDING_LR: 0.004 } }).train;
  await runLoopIn(ws, { ...base, tag: "a", experiments: 7 }, trainer);
  await runLoopIn(ws, { ...base, tag: "b", experiments: 2, agentOverride: scriptedAgent() }, trainer);
}, 180_000);

describe("nightshift verify", () => {
  it("confirms the planted gain, credits no negligible change, and flags none of the real diffs", () => {
    // A WEIGHT_DECAY nudge of 1e-7 does shift training a little, consistently across paired
    // seeds: without a margin one was confirmed real in about one CI run in six. δ_min (half the
    // seed-noise sd, measured here first as no noise floor exists yet) is what keeps it out; the
    // planted +0.19 bpb gain clears it by far.
    const r = cli("verify", "--run", "a", "--max-seeds", "3", "--json");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.margin).toBeGreaterThan(0);
    expect(out.marginFrom).toMatch(/^0\.5 × the seed-noise sd/);
    expect(out.effect).toBeGreaterThanOrEqual(2 * out.margin);
    const verdicts = new Map<string, string>(out.claims.map((c: { experiment: { description: string }; verification: { verdict: string } }) => [c.experiment.description, c.verification.verdict]));
    expect(verdicts.get("restore UNEMBEDDING_LR"), r.stdout).toBe("real");
    for (const [description, verdict] of verdicts) if (description !== "restore UNEMBEDDING_LR") expect(verdict, description).not.toBe("real");
    expect(out.counts.real).toBe(1);
    expect(out.naive.keeps).toBe(out.claims.length);
    // The null model H_N - 1 over the N experiments that finished (7 planned; under load one may
    // end another way, e.g. over budget, and then does not count).
    const finished = out.naive.finished as number;
    expect(finished).toBeGreaterThanOrEqual(out.claims.length + 1);
    expect(finished).toBeLessThanOrEqual(7);
    expect(out.naive.expectedFalseKeeps).toBeCloseTo(Array.from({ length: finished }, (_, k) => 1 / (k + 1)).reduce((h, x) => h + x, 0) - 1, 6);

    const planted = out.claims.find((c: { experiment: { description: string } }) => c.experiment.description === "restore UNEMBEDDING_LR").verification;
    expect(planted.meanGain).toBeGreaterThan(0.1);
    expect(planted.testBpb).toBeGreaterThan(0); // the winner scored on the held-out test split
    expect(planted.testBpb).toBeLessThan(planted.parentTestBpb);
    // The credited gain comes from 3 confirmation seeds apart from the stopping rule's.
    const confirmation = planted.details.confirmation;
    expect(confirmation.seeds).toBe(3);
    expect(confirmation.gains).toHaveLength(3);
    expect(confirmation.meanGain).toBeGreaterThan(0.1);
    expect(confirmation.interval[0]).toBeLessThanOrEqual(confirmation.meanGain);
    expect(confirmation.interval[1]).toBeGreaterThanOrEqual(confirmation.meanGain);
    for (const c of out.claims) if (c.verification.verdict !== "real") expect(c.verification.details.confirmation).toBeUndefined();

    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    const run = store.findRunByBranch("nightshift/a/naive")!;
    expect(store.runVerifications(run.id).map((v) => v.verdict)).toEqual(out.claims.map((c: { verification: { verdict: string } }) => c.verification.verdict));
    // The measured floor is stored, and every rerun claim records the δ_min it was judged by.
    expect(store.latestNoiseFloor({ profile: "cpu", timeBudget: 1, deviceKind: "cpu", dataset: "data" })?.seeds).toBeGreaterThanOrEqual(2);
    for (const v of store.runVerifications(run.id)) expect(v.details.margin).toBe(out.margin);
    store.close();
  }, 300_000);

  it("judges by --margin when given, without measuring, and refuses a margin that is negative or above --effect", () => {
    const ok = cli("verify", "--run", "a", "--max-seeds", "3", "--margin", "5", "--json");
    expect(ok.status, ok.stderr).toBe(0);
    const out = JSON.parse(ok.stdout);
    expect(out).toMatchObject({ margin: 5, marginFrom: "given", effect: 10 });
    // No claim gains 5 bpb (the planted one gains ~2.4): none is real against that margin.
    expect(out.counts.real, ok.stdout).toBe(0);
    for (const [args, message] of [
      [["--margin", "-0.1"], /--margin must be a gain in val_bpb ≥ 0/],
      [["--margin", "0.01", "--effect", "0.005"], /--effect \(0\.005\) must be above --margin \(0\.01\)/],
      // Below the default δ_min, which the first test measured from the noise floor.
      [["--effect", "1e-9"], /--effect \(1e-9\) must be above δ_min \(.*0\.5 × the seed-noise sd/],
    ] as const) {
      const r = cli("verify", "--run", "a", ...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  }, 240_000);

  it("reuses the measurements of an earlier verify instead of training again", () => {
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    const planted = store.listExperiments(store.findRunByBranch("nightshift/a/naive")!.id).find((e) => e.description === "restore UNEMBEDDING_LR")!;
    store.close();
    const started = Date.now();
    const r = cli("verify", planted.commit!.slice(0, 7), "--max-seeds", "3");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/real/);
    expect(r.stderr).not.toMatch(/training /); // every measurement came from the store
    expect(Date.now() - started).toBeGreaterThan(0);
  }, 60_000);

  it("rejects what is not a claim, in one line with exit code 2", () => {
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    const experiments = store.listExperiments(store.findRunByBranch("nightshift/a/naive")!.id);
    store.close();
    const cases: [string[], RegExp][] = [
      [["verify"], /name an experiment .* or pass --run/],
      [["verify", "99999"], /no experiment '99999'/],
      [["verify", String(experiments[0]!.id)], /baseline: it claims nothing/],
      [["verify", "--run", "nope"], /no run 'nope'/],
      [["verify", "--run", "a", "--max-seeds", "1"], /--max-seeds must be an integer ≥ 2/],
      [["noise", "--same-seed", "-1"], /--same-seed must be an integer ≥ 0, got -1/],
      [["verify", "--run", "a", "--confirm-seeds", "1"], /--confirm-seeds must be 0 \(none\) or an integer from 2 to 50, got 1/],
      [["noise", "--seeds", "1"], /--seeds must be an integer ≥ 2/],
    ];
    const discarded = experiments.find((e) => e.status === "discard");
    if (discarded) cases.push([["verify", String(discarded.id)], /was discard, not kept/]);
    for (const [args, message] of cases) {
      const r = cli(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});

describe("nightshift noise and compare", () => {
  it("measures and stores the noise floor of the baseline", () => {
    const r = cli("noise", "--seeds", "2", "--same-seed", "2", "--time-budget", "1", "--dataset", dataset, "--json");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.values).toHaveLength(2);
    // Timing noise alone: the first seed trained 3 times in all, each with its throughput.
    expect(out.timing.seed).toBe(2000);
    expect(out.timing.values.length + out.timing.failed).toBe(3);
    expect(out.timing.values[0]).toBe(out.values[0]);
    expect(out.timing.tokensPerSecond.every((t: number) => t > 0)).toBe(true);
    expect(out.floor.seeds).toBe(2);
    expect(out.floor.sd).toBeGreaterThanOrEqual(0);
    expect(out.floor.mde).toBeGreaterThan(0);
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    expect(store.latestNoiseFloor({ profile: "cpu", timeBudget: 1, deviceKind: "cpu", dataset: "data" })?.id).toBe(out.floor.id);
    store.close();
  }, 60_000);

  it("compares orgs and says what it needs", () => {
    const one = cli("compare", "naive");
    expect(one.status).toBe(2);
    expect(one.stderr).toMatch(/at least two different orgs/);
    const unknown = cli("compare", "naive", "ghost");
    expect(unknown.stderr).toMatch(/no org 'ghost'/);
  });
});
