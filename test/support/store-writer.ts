/**
 * A child process for the store's kill -9 tests: opens the store, resumes (skips what a
 * previous kill left in flight), then writes experiments through the Store API forever —
 * propose, start, finish (keep, discard, crash in turn, and a skipped proposal now and then) —
 * with diffs and log tails big enough that one transaction spans many pages. After each call
 * returns it prints one line ("proposed ID", "started ID", "finished ID STATUS",
 * "skipped ID"), so the parent knows what was committed before it pulled the plug.
 *
 *   node --import tsx test/support/store-writer.ts DB_PATH BRANCH PLANTED_SECRET
 *
 * The environment variable NIGHTSHIFT_TEST_API_KEY is echoed into descriptions and log tails
 * (as a misbehaving server might): the store must redact it.
 */
import type { RunResult } from "../../src/harness/types.ts";
import { openStore } from "../../src/store/index.ts";

const [dbPath, branch, planted] = process.argv.slice(2);
if (!dbPath || !branch || !planted) {
  process.stderr.write("usage: store-writer.ts DB_PATH BRANCH PLANTED_SECRET\n");
  process.exit(2);
}
const echoed = process.env.NIGHTSHIFT_TEST_API_KEY ?? "";
const say = (line: string) => process.stdout.write(line + "\n"); // synchronous on a Linux pipe

const hex = (n: number) => n.toString(16).padStart(8, "0");
let counter = Math.floor(Math.random() * 2 ** 31);
const newCommit = () => (hex(process.pid) + hex(++counter)).padEnd(40, "a");
const filler = (bytes: number) => "x".repeat(bytes);

const store = openStore(dbPath);
const org = store.getOrgByName("kill") ?? store.createOrg({ name: "kill", programMd: "# kill test org\n" });
const run =
  store.findRunByBranch(branch) ??
  store.createRun({
    tag: "kill",
    orgId: org.id,
    branch,
    profile: "cpu",
    timeBudget: 10,
    deviceKind: "cpu",
    agent: "builtin",
    baseCommit: "0".repeat(40),
    settings: { apiKey: planted, agent: { authToken: planted, maxTokens: 4096 }, experiments: 8 },
  });
for (const e of store.inFlight(run.id)) {
  store.skipExperiment(e.id, "abandoned: the writer was killed");
  say(`resumed ${e.id}`);
}
say("ready");

let head = store.runHead(run.id);
for (let i = 0; ; i++) {
  const usage = { model: "test-model", calls: 1, inputTokens: 1000 + i, outputTokens: 100, costUsd: 0.001 };
  if (i % 7 === 6) {
    const s = store.recordSkipped({ runId: run.id, parentCommit: head, reason: `malformed answer ${echoed}`, usage });
    say(`skipped ${s.id}`);
    continue;
  }
  const e = store.proposeExperiment({
    runId: run.id,
    parentCommit: head,
    description: `experiment ${i} (server said ${echoed})`,
    hypothesis: filler(2000 + Math.floor(Math.random() * 4000)),
    usage,
  });
  say(`proposed ${e.id}`);
  const commit = newCommit();
  const seed = 1000 + i;
  store.startExperiment(e.id, { commit, diff: filler(20_000 + Math.floor(Math.random() * 40_000)), seed });
  say(`started ${e.id}`);
  const kind = i % 3;
  const result: RunResult =
    kind === 2
      ? { status: "timeout", error: "run exceeded the budget", logTail: `${filler(8000)}\n${echoed}`, seed, profile: "cpu", timeBudget: 10, sandboxed: true }
      : {
          status: "ok",
          summary: {
            val_bpb: 1 + Math.random(),
            training_seconds: 10,
            total_seconds: 12.5,
            peak_vram_mb: 1024 * Math.random(),
            mfu_percent: 1.5,
            total_tokens_M: 0.5,
            num_steps: 100 + i,
            num_params_M: 2.1,
            depth: 4,
          },
          logTail: filler(8000),
          seed,
          profile: "cpu",
          timeBudget: 10,
          sandboxed: true,
        };
  const status = kind === 0 ? "keep" : kind === 1 ? "discard" : "crash";
  store.finishExperiment(e.id, { status, result, reason: kind === 1 ? "not better than the head" : undefined });
  say(`finished ${e.id} ${status}`);
  if (status === "keep") head = commit;
}
