/**
 * A long run through the store's API, fast enough for a test: N experiments on two slots, every
 * outcome a report must summarise, with a known answer for each summary. The store lives on
 * tmpfs when there is one (/dev/shm): synchronous FULL costs an fsync per write on a disk.
 *
 *   - seq 1 is the baseline (an empty diff, kept);
 *   - every KEEP_EVERY-th experiment is kept on the main line, a little better than the last;
 *   - one keep is proposed against an older head: it is kept but left off the champion chain;
 *   - every CRASH_EVERY-th crashes with one of CAUSES in turn (the next one tries to fix it);
 *   - every SKIP_EVERY-th is a skipped proposal;
 *   - the rest are discards, worse than the head, with val_bpb spread so a band has a width.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunResult } from "../../src/harness/types.ts";
import { type Store, openStore } from "../../src/store/index.ts";

export const KEEP_EVERY = 40;
export const CRASH_EVERY = 9;
export const SKIP_EVERY = 31;
export const CAUSES: { outcome: RunResult["status"]; error: string }[] = [
  { outcome: "out-of-memory", error: "out of memory: tried to allocate 2.00 GiB" },
  { outcome: "crash", error: "RangeError: offset is out of bounds" },
  { outcome: "non-finite", error: "loss became NaN at step 12" },
];
const BUDGET = 10;

export interface LongRun {
  store: Store;
  dir: string;
  runId: number;
  /** What was written, by seq: the answer every summary is checked against. */
  written: { seq: number; id: number; status: string; valBpb: number | null; cause?: string; onChain: boolean; knob: string }[];
}

const hex = (n: number) => n.toString(16).padStart(40, "0");

/** A diff of one line, as the lab would store it for a knob change (`+` and `-` one line each). */
function knobDiff(knob: string, from: string, to: string): string {
  return [
    "diff --git a/train.ts b/train.ts",
    "--- a/train.ts",
    "+++ b/train.ts",
    "@@ -1,3 +1,3 @@",
    " // knobs",
    `-export const ${knob} = ${from};`,
    `+export const ${knob} = ${to};`,
    " // end",
    "",
  ].join("\n");
}

export function buildLongRun(n: number): LongRun {
  const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "ns-long-run-"));
  let t = Date.parse("2026-03-02T22:00:00Z");
  const store = openStore(join(dir, "nightshift.db"), { now: () => new Date(t) });
  const org = store.createOrg({ name: "default", programMd: "# default\n" });
  const run = store.createRun({
    tag: "long",
    orgId: org.id,
    branch: "nightshift/long/default",
    profile: "cpu",
    timeBudget: BUDGET,
    deviceKind: "cpu",
    agent: "builtin",
    baseCommit: hex(1),
    settings: { devices: ["cpu:0", "cpu:1"] },
  });
  const written: LongRun["written"] = [];
  const base: Pick<RunResult, "seed" | "profile" | "timeBudget" | "sandboxed"> = { seed: 1, profile: "cpu", timeBudget: BUDGET, sandboxed: true };
  const summary = (val_bpb: number) => ({ val_bpb, training_seconds: BUDGET, total_seconds: BUDGET + 2, peak_vram_mb: 2048, mfu_percent: 1, total_tokens_M: 1, num_steps: 50, num_params_M: 1, depth: 2 });
  let head = hex(1);
  let olderHead = hex(1);
  let headBpb = 2;
  let lastCrash: number | undefined;
  let cause = 0;
  for (let seq = 1; seq <= n; seq++) {
    t += 60_000;
    const slot = seq % 2;
    const knob = `KNOB_${seq}`;
    if (seq > 1 && seq % SKIP_EVERY === 0) {
      const e = store.recordSkipped({ runId: run.id, slot, parentCommit: head, reason: "malformed answer: no edit block" });
      written.push({ seq, id: e.id, status: "skipped", valBpb: null, cause: "skipped", onChain: false, knob });
      continue;
    }
    const offChain = seq === 3 * KEEP_EVERY + 1; // kept, but against an older head
    const parent = offChain ? olderHead : head;
    const fixOf = lastCrash;
    lastCrash = undefined;
    const e = store.proposeExperiment({
      runId: run.id,
      slot,
      parentCommit: parent,
      description: `experiment ${seq}: set ${knob}`,
      hypothesis: `hypothesis ${seq}`,
      ...(fixOf !== undefined ? { fixOf, fixAttempt: 1 } : {}),
    });
    // Distinct in their first digits, as git's are: 9e30…, ae30…, be30…
    const commit = [...hex(1000 + seq)].reverse().join("");
    store.startExperiment(e.id, { commit, diff: seq === 1 ? "" : knobDiff(knob, "1", "2"), seed: 1 });
    t += 30_000;
    if (seq === 1 || seq % KEEP_EVERY === 0 || offChain) {
      const valBpb = offChain ? headBpb - 0.0001 : seq === 1 ? 2 : headBpb - 0.001;
      store.finishExperiment(e.id, { status: "keep", result: { ...base, status: "ok", summary: summary(valBpb), logTail: "ok\n" } });
      written.push({ seq, id: e.id, status: "keep", valBpb, onChain: !offChain, knob });
      if (!offChain) {
        olderHead = head;
        head = commit;
        headBpb = valBpb;
      }
    } else if (seq % CRASH_EVERY === 0) {
      const c = CAUSES[cause++ % CAUSES.length]!;
      store.finishExperiment(e.id, { status: "crash", result: { ...base, status: c.outcome, error: c.error, logTail: `step 3\n${c.error}\nlog end of ${seq}\n` } });
      written.push({ seq, id: e.id, status: "crash", valBpb: null, cause: `${c.outcome}\u0000${c.error}`, onChain: false, knob });
      lastCrash = e.id;
    } else {
      const valBpb = headBpb + 0.001 + ((seq * 7919) % 100) / 10_000;
      store.finishExperiment(e.id, { status: "discard", result: { ...base, status: "ok", summary: summary(valBpb), logTail: "ok\n" }, reason: "not better" });
      written.push({ seq, id: e.id, status: "discard", valBpb, onChain: false, knob });
    }
  }
  store.setRunStatus(run.id, "finished");
  return { store, dir, runId: run.id, written };
}
