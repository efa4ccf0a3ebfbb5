/**
 * `verify <experiment>` finds what it names through the store's commit index (never by loading
 * every run's experiments): an id, a commit prefix, within --run when given; and the CLI says in
 * one line when the name matches nothing, several experiments, or one that was not kept.
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lookUpExperiment } from "../../src/commands/verify.ts";
import { Lab, baselineTrainTs, labReadme } from "../../src/lab/index.ts";
import { buildLongRun, type LongRun } from "../support/long-run.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
let fx: LongRun;
let otherRun: number;
/** A commit of another run that shares its first 7 digits with a discard of the long run. */
let twin: string;

beforeAll(async () => {
  fx = buildLongRun(60);
  const discard = fx.store.listExperiments(fx.runId).find((x) => x.status === "discard")!;
  twin = discard.commit!.slice(0, 7) + "f".repeat(33);
  otherRun = fx.store.createRun({ tag: "o", orgId: fx.store.listOrgs()[0]!.id, branch: "nightshift/o/default", profile: "cpu", timeBudget: 10, deviceKind: "cpu", agent: "builtin", baseCommit: "c".repeat(40) }).id;
  const e = fx.store.proposeExperiment({ runId: otherRun, parentCommit: "c".repeat(40), description: "twin", hypothesis: "h" });
  fx.store.startExperiment(e.id, { commit: twin, diff: "", seed: 1 });
  await Lab.init(join(fx.dir, "lab"), { trainTs: baselineTrainTs(), readme: labReadme({ profile: "cpu" }) });
});
afterAll(() => {
  fx?.store.close();
  if (fx) rmSync(fx.dir, { recursive: true, force: true });
});

describe("lookUpExperiment", () => {
  it("finds an experiment by id, by its full commit or by a prefix, and only in --run's run", () => {
    const e = fx.store.listExperiments(fx.runId).find((x) => x.seq === 40)!;
    expect(lookUpExperiment(fx.store, String(e.id)).map((x) => x.id)).toEqual([e.id]);
    expect(lookUpExperiment(fx.store, e.commit!).map((x) => x.id)).toEqual([e.id]);
    expect(lookUpExperiment(fx.store, e.commit!.slice(0, 7)).map((x) => x.id)).toEqual([e.id]);
    const other = fx.store.getRun(otherRun);
    expect(lookUpExperiment(fx.store, e.commit!, other)).toEqual([]);
    expect(lookUpExperiment(fx.store, twin.slice(0, 7)).map((x) => x.runId).sort()).toEqual([fx.runId, otherRun].sort());
    expect(lookUpExperiment(fx.store, twin.slice(0, 7), other).map((x) => x.commit)).toEqual([twin]);
    expect(lookUpExperiment(fx.store, String(e.id), other)).toEqual([]);
    expect(lookUpExperiment(fx.store, "999999")).toEqual([]);
    expect(lookUpExperiment(fx.store, "not-a-commit")).toEqual([]);
  });
});

describe("nightshift verify <experiment>", () => {
  const verify = (name: string) => spawnSync(process.execPath, [bin, "verify", name, "--workspace", fx.dir], { encoding: "utf8" });

  it("refuses in one line, with status 2, a name that matches nothing, several, or a discard", () => {
    const discard = fx.store.listExperiments(fx.runId).find((x) => x.status === "discard")!;
    const cases: [string, RegExp][] = [
      ["abcdef1", /no experiment 'abcdef1' in this workspace/],
      [discard.commit!.slice(0, 7), /matches \d+ experiments: give more of the commit/],
      [discard.commit!, new RegExp(`experiment ${discard.id} \\(${discard.commit!.slice(0, 7)}\\) was discard, not kept`)],
    ];
    for (const [name, message] of cases) {
      const r = verify(name);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
