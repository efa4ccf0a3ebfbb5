/**
 * kill -9 at random moments: a child process (test/support/store-writer.ts) writes experiments
 * through the Store API in a loop and is SIGKILLed after a random delay — sometimes before it
 * has even opened the store, mostly mid-loop. After every trial the parent reopens the store
 * and checks: PRAGMA integrity_check is ok; every experiment row satisfies its status's
 * invariants; seqs run 1..n without gaps; every state change the child reported as returned is
 * in the file (a commit survives the kill); at most the one experiment in flight is left
 * proposed or running; experiment usage equals its agent_calls; and the secrets planted in the
 * run's settings and echoed through the environment appear nowhere in the file's bytes.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Experiment } from "../../src/store/index.ts";

const TRIALS = 12;
const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const WRITER = join(REPO_ROOT, "test", "support", "store-writer.ts");
const BRANCH = "nightshift/kill/kill";
const PLANTED = "sk-ant-planted-kill-test-0123456789";
const ECHOED = "sk-echoed-by-server-9876543210";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "nightshift-store-kill-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Trial {
  lines: string[];
  stderr: string;
  killed: boolean;
}

/** Runs the writer and SIGKILLs it `delayMs` after it is ready (or after spawn, `early`). */
async function runAndKill(dbPath: string, delayMs: number, early: boolean): Promise<Trial> {
  const child = spawn(process.execPath, ["--import", "tsx", WRITER, dbPath, BRANCH, PLANTED], {
    cwd: REPO_ROOT,
    env: { ...process.env, NIGHTSHIFT_TEST_API_KEY: ECHOED },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let buffered = "";
  let stderr = "";
  let timer: NodeJS.Timeout | undefined;
  const kill = () => child.kill("SIGKILL");
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_code, signal) => r(signal)));
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      if (line === "ready" && !early) timer = setTimeout(kill, delayMs);
    }
  });
  if (early) timer = setTimeout(kill, delayMs);
  const safety = setTimeout(kill, 20_000); // a writer that never got ready must not hang the suite
  const signal = await exited;
  clearTimeout(timer);
  clearTimeout(safety);
  return { lines, stderr, killed: signal === "SIGKILL" };
}

/** The invariants of each status, checked here independently of the schema's CHECKs. */
function invariantViolations(e: Experiment): string[] {
  const bad: string[] = [];
  const need = (cond: boolean, what: string) => cond || bad.push(`experiment ${e.id} (${e.status}): ${what}`);
  need((e.outcome === "ok") === (e.summary !== null), "summary present exactly when the outcome is ok");
  switch (e.status) {
    case "proposed":
      need(e.commit === null && e.outcome === null && e.startedAt === null && e.finishedAt === null, "not started");
      break;
    case "running":
      need(e.commit !== null && e.diff !== null && e.seed !== null && e.startedAt !== null, "started with commit, diff, seed");
      need(e.outcome === null && e.finishedAt === null, "not finished");
      break;
    case "keep":
    case "discard":
    case "crash":
      need(e.commit !== null && e.startedAt !== null && e.finishedAt !== null && e.outcome !== null, "finished with an outcome");
      if (e.status === "keep") need(e.outcome === "ok" && Number.isFinite(e.summary?.val_bpb), "keep has a finite val_bpb");
      if (e.status === "crash") need(e.outcome !== "ok" && !!e.reason, "crash has a failure and a reason");
      if (e.status === "discard") need(e.outcome === "ok" || !!e.reason, "a failed discard has a reason");
      break;
    case "skipped":
      need(!!e.reason && e.finishedAt !== null && e.outcome === null, "skipped with a reason, no outcome");
      break;
  }
  return bad;
}

describe("kill -9 resilience", () => {
  it(`survives ${TRIALS} SIGKILLs at random moments with an intact, consistent store`, async () => {
    const dbPath = join(root, "kill.db");
    const reported = new Map<number, string>(); // experiment id → the last state the child saw committed
    let killsMidLoop = 0;
    let leftInFlight = 0; // trials whose kill left an experiment proposed or running
    for (let trial = 0; trial < TRIALS; trial++) {
      // Every fourth trial (the first included) is killed on a clock started at spawn: the writer
      // is ready after ~250-350 ms, so these land in startup, open, migration or the resume; the
      // rest at a random point of the write loop.
      const early = trial % 4 === 0;
      const delay = early ? 150 + Math.random() * 250 : Math.random() * 400;
      const t = await runAndKill(dbPath, delay, early);
      expect(t.killed, `trial ${trial}: the writer exited on its own:\n${t.stderr}`).toBe(true);
      if (t.lines.includes("ready")) killsMidLoop++;
      for (const line of t.lines) {
        const [verb, id, status] = line.split(" ");
        if (verb === "finished") reported.set(Number(id), status!);
        else if (verb === "proposed" || verb === "started") reported.set(Number(id), verb === "proposed" ? "proposed" : "running");
        else if (verb === "skipped" || verb === "resumed") reported.set(Number(id), "skipped");
      }
      if (!existsSync(dbPath)) continue; // killed before the file was created

      for (const file of [dbPath, `${dbPath}-wal`]) {
        if (!existsSync(file)) continue;
        const bytes = readFileSync(file);
        expect(bytes.includes(PLANTED), `trial ${trial}: planted key in ${file}`).toBe(false);
        expect(bytes.includes(ECHOED), `trial ${trial}: echoed key in ${file}`).toBe(false);
      }

      const store = openStore(dbPath);
      try {
        expect(store.checkIntegrity(), `trial ${trial}`).toEqual({ ok: true, problems: [] });
        const run = store.findRunByBranch(BRANCH);
        if (!run) continue; // killed before the run was created
        expect(run.settings).toEqual({ agent: { maxTokens: 4096 }, experiments: 8 });
        const experiments = store.listExperiments(run.id);
        expect(experiments.flatMap(invariantViolations), `trial ${trial}`).toEqual([]);
        expect(experiments.map((e) => e.seq)).toEqual(experiments.map((_, i) => i + 1));
        const left = store.inFlight(run.id);
        if (left.length > 0) leftInFlight++;
        expect(left.length, `trial ${trial}: more than the one experiment in flight`).toBeLessThanOrEqual(1);
        const byId = new Map(experiments.map((e) => [e.id, e]));
        const order = ["proposed", "running", "keep", "discard", "crash", "skipped"];
        for (const [id, state] of reported) {
          const e = byId.get(id);
          expect(e, `trial ${trial}: experiment ${id} was reported ${state} but is missing`).toBeDefined();
          // Reported states are lower bounds: the row may have moved on after the report.
          if (state === "proposed" || state === "running") expect(order.indexOf(e!.status)).toBeGreaterThanOrEqual(order.indexOf(state));
          else expect(e!.status).toBe(state);
        }
        const calls = store.listAgentCalls(run.id);
        for (const e of experiments) {
          const mine = calls.filter((c) => c.experimentId === e.id);
          expect(e.usage.calls).toBe(mine.reduce((s, c) => s + c.calls, 0));
          expect(e.usage.inputTokens).toBe(mine.reduce((s, c) => s + c.inputTokens, 0));
        }
        expect(store.runCost(run.id).calls).toBe(calls.reduce((s, c) => s + c.calls, 0));
        expect(experiments.some((e) => e.description.includes(ECHOED))).toBe(false);
      } finally {
        store.close();
      }
    }
    expect(killsMidLoop).toBeGreaterThanOrEqual(TRIALS / 2);
    const store = openStore(dbPath, { readonly: true });
    const run = store.findRunByBranch(BRANCH)!;
    const all = store.listExperiments(run.id);
    console.log(
      `kill -9: ${TRIALS} trials (${killsMidLoop} mid-loop, ${leftInFlight} left one in flight), ${all.length} experiments: ` +
        ["keep", "discard", "crash", "skipped", "proposed", "running"].map((s) => `${s} ${all.filter((e) => e.status === s).length}`).join(", "),
    );
    store.close();
  });
});
