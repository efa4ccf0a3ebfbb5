/**
 * The inner loop's fault suite (issue 4, "How it will be judged"): `nightshift run` as a real
 * child process, its agent talking through the official SDKs to the scripted LLM server of
 * test/support/llm-server.ts, which this process serves while the child runs (hence spawn, not
 * spawnSync). Every fault must be survived — exit 0, later experiments still run — and recorded
 * in the store: status, reason, outcome, agent usage. Then the workspaces and the CLI's output
 * are searched for the API keys planted in the environment: they must be nowhere.
 *
 * Four runs share the work and run concurrently:
 *   A  openai     malformed JSON (recovered; and forever), an edit that does not apply, an edit
 *                 to another file, NaN loss, over budget, 429 then success, a train.ts that
 *                 prints its environment
 *   B  anthropic  HTTP 400 (not retried; the error echoes the Authorization header) → skipped;
 *                 a train.ts that does not compile → crash, a fix attempt shown the crash log
 *   C  openai     HTTP 500 on every try (the error echoes the Authorization header) → skipped
 *   D  anthropic  an infinite loop, killed at the hard limit (--hard-limit 10)
 * Replies are scripted so that their order between proposals does not matter (a pipelined loop
 * asks for the next proposal while the current experiment trains): a fault's replies are queued,
 * and once they are used up every request gets a reply that applies to any train.ts. Each lab is
 * created beforehand with a bigram train.ts (test/fixtures/loop/lab-train.ts; why: its header),
 * which the CLI then opens like any existing lab.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyEdits } from "../../src/agents/edits.ts";
import { Lab, labReadme } from "../../src/lab/index.ts";
import { type AgentCallRecord, type Experiment, type Run, openStore } from "../../src/store/index.ts";
import * as edits from "../fixtures/loop/fault-edits.ts";
import type { FaultEdit } from "../fixtures/loop/fault-edits.ts";
import { type CliResult, startCli, stopAll } from "../support/cli-process.ts";
import { type LlmServer, type RecordedRequest, type ScriptedReply, type ScriptedToolCall, reply, startLlmServer } from "../support/llm-server.ts";
import { scanForSecrets } from "../support/secret-scan.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";


// Distinctive fake keys, and a tail of each on its own: a key cut short must not leak either.
const OPENAI_KEY = "sk-proj-NSFAULT-openai-3f9c2e7a1b5d8e60";
const ANTHROPIC_KEY = "sk-ant-api03-NSFAULT-anthropic-9d4b7c2a6e1f";
const NEEDLES = [OPENAI_KEY, ANTHROPIC_KEY, "3f9c2e7a1b5d8e60", "9d4b7c2a6e1f"];

/** The LLM agents' defaults (src/agents/llm/options.ts): a proposal's turns and HTTP tries. */
const TURNS_PER_PROPOSAL = 10 * 2; // maxTurns × maxAttempts
const TRIES_PER_CALL = 4 + 1; // maxRetries + the first try
/** Waits between those tries without retry-after: 1 + 2 + 4 + 8 s (plus up to 20% jitter). */
const BACKOFF_TOTAL_MS = 15_000;

const LAB_TRAIN_TS = readFileSync(new URL("../fixtures/loop/lab-train.ts", import.meta.url), "utf8");

const root = mkdtempSync(join(tmpdir(), "ns-faults-"));
const dataset = join(root, "data");

// ---------------------------------------------------------------------------------------------
// Scripted replies
// ---------------------------------------------------------------------------------------------

const HYPOTHESIS = "scripted by the fault suite";
const editCall = (e: FaultEdit, path?: string): ScriptedToolCall => ({
  name: "edit_file",
  args: path === undefined ? { search: e.search, replace: e.replace } : { path, search: e.search, replace: e.replace },
});
const submitCall = (description: string): ScriptedToolCall => ({ name: "submit", args: { description, hypothesis: HYPOTHESIS } });
/** One answer that edits and submits at once. */
const proposal = (description: string, ...fault: FaultEdit[]): ScriptedReply =>
  reply.tools(...fault.map((e) => editCall(e)), submitCall(description));
const times = (n: number, r: ScriptedReply): ScriptedReply[] => Array.from({ length: n }, () => r);

const PROBE = "harmless probe";
/** Applies to any train.ts from lab-train.ts; on a train.ts broken by SYNTAX_ERROR it also fixes it. */
const FIXING_PROBE = reply.tools(editCall(edits.FIX_SYNTAX_ERROR), editCall(edits.HARMLESS), submitCall(PROBE));
const MALFORMED = '{"search": "export const LEARNING_RATE = 0.05;", "replace": "export const LEARNING_RATE';
const OTHER_FILE = "../harness/evaluate.ts";

const DESCRIPTION = {
  recovered: "harmless probe after a malformed answer",
  nan: "fault: the loss goes NaN",
  overBudget: "fault: trains for three times the budget",
  after429: "harmless probe after a 429",
  envProbe: "fault: prints its environment",
  syntax: "fault: a syntax error",
  infinite: "fault: an infinite loop",
} as const;

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

interface Outcome {
  cli: CliResult;
  ws: string;
  run: Run;
  experiments: Experiment[];
  calls: AgentCallRecord[];
  integrity: boolean;
}

interface Scenario {
  server: LlmServer;
  /** Settles once the CLI has exited and its store has been read. */
  outcome: Promise<Outcome>;
}

const scenarios: Record<string, Scenario> = {};

async function startScenario(
  tag: string,
  agent: "openai" | "anthropic",
  script: ScriptedReply[],
  fallback: ScriptedReply,
  flags: string[],
): Promise<Scenario> {
  const server = await startLlmServer();
  server.push(...script);
  server.setFallback(fallback);
  const ws = join(root, `ws-${tag}`);
  await Lab.init(join(ws, "lab"), { trainTs: LAB_TRAIN_TS, readme: labReadme({ profile: "cpu" }) });
  const baseURL = agent === "openai" ? server.openaiBaseURL : server.anthropicBaseURL;
  // --no-sandbox: these LLM runs test the agents' faults, on machines with or without bubblewrap.
  const args = ["run", "--workspace", ws, "--dataset", dataset, "--time-budget", "1", "--tag", tag, "--agent", agent, "--no-sandbox", "--base-url", baseURL, ...flags];
  const env = {
    ...process.env,
    NIGHTSHIFT_HOME: root,
    // Three or four runs share the cores: one engine thread each.
    NIGHTSHIFT_NUM_THREADS: "1",
    OPENAI_API_KEY: OPENAI_KEY,
    ANTHROPIC_API_KEY: ANTHROPIC_KEY,
  };
  const cli = startCli(args, env);
  const outcome = cli.done.then((result): Outcome => {
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    try {
      const run = store.findRunByBranch(`nightshift/${tag}/default`);
      if (!run) throw new Error(`run ${tag}: no run in the store; exit ${result.code}, stderr: ${result.stderr.trim()}`);
      return {
        cli: result,
        ws,
        run,
        experiments: store.listExperiments(run.id),
        calls: store.listAgentCalls(run.id),
        integrity: store.checkIntegrity().ok,
      };
    } finally {
      store.close();
    }
  });
  // Each test awaits the outcome it needs; this keeps a failed run from being an unhandled rejection.
  outcome.catch(() => {});
  return { server, outcome };
}

/**
 * Run A's script. Its proposals come one after another (one slot, one agent), so request i of
 * its server is answered by reply i: the tests below find a fault's requests by its index.
 */
const FIRST_MALFORMED: ScriptedReply = reply.tool("edit_file", MALFORMED);
const RATE_LIMITED: ScriptedReply = { type: "status", status: 429, headers: { "retry-after": "1" }, echoAuthorization: true };
const SCRIPT_A: ScriptedReply[] = [
  FIRST_MALFORMED,
  proposal(DESCRIPTION.recovered, edits.HARMLESS),
  ...times(TURNS_PER_PROPOSAL, reply.tool("edit_file", MALFORMED)),
  ...times(TURNS_PER_PROPOSAL, reply.tools(editCall(edits.NOT_FOUND))),
  ...times(TURNS_PER_PROPOSAL, reply.tools(editCall(edits.HARMLESS, OTHER_FILE))),
  proposal(DESCRIPTION.nan, edits.NAN_LOSS),
  proposal(DESCRIPTION.overBudget, edits.OVER_BUDGET),
  RATE_LIMITED,
  proposal(DESCRIPTION.after429, edits.HARMLESS),
  proposal(DESCRIPTION.envProbe, edits.ENV_PROBE),
];

beforeAll(async () => {
  writeTinyDataset(dataset, { docs: { val: 200 } });
  scenarios.a = await startScenario(
    "a",
    "openai",
    SCRIPT_A,
    proposal(PROBE, edits.HARMLESS),
    // baseline, recovered, 3 skipped, NaN, over budget, after 429, env probe, one more probe
    ["--experiments", "10", "--fix-attempts", "0"],
  );
  scenarios.b = await startScenario(
    "b",
    "anthropic",
    [{ type: "status", status: 400, echoAuthorization: true }, proposal(DESCRIPTION.syntax, edits.SYNTAX_ERROR)],
    FIXING_PROBE,
    // baseline, skipped (400), syntax error, its fix, one more probe
    ["--experiments", "5", "--fix-attempts", "1"],
  );
  scenarios.c = await startScenario(
    "c",
    "openai",
    times(TRIES_PER_CALL, { type: "status", status: 500, echoAuthorization: true }),
    proposal(PROBE, edits.HARMLESS),
    ["--experiments", "3"],
  );
  scenarios.d = await startScenario(
    "d",
    "anthropic",
    [proposal(DESCRIPTION.infinite, edits.INFINITE_LOOP)],
    proposal(PROBE, edits.HARMLESS),
    ["--experiments", "3", "--fix-attempts", "0", "--hard-limit", "10"],
  );
});

afterAll(async () => {
  await stopAll();
  await Promise.all(Object.values(scenarios).map((s) => s.server.close()));
  rmSync(root, { recursive: true, force: true });
});

/** The run's outcome once the CLI has exited 0 (its stderr is the failure message otherwise). */
async function finished(tag: string): Promise<Outcome> {
  const o = await scenarios[tag]!.outcome;
  expect(o.cli.code, `run ${tag} exited ${o.cli.code} (${o.cli.signal ?? "no signal"}): ${o.cli.stderr.trim()}`).toBe(0);
  return o;
}

const trained = (e: Experiment) => e.status === "keep" || e.status === "discard";
const byDescription = (o: Outcome, description: string): Experiment => {
  const found = o.experiments.filter((e) => e.description === description);
  expect(found, `experiments described "${description}" in run ${o.run.tag}`).toHaveLength(1);
  return found[0]!;
};
const skippedFor = (o: Outcome, reason: RegExp): Experiment => {
  const found = o.experiments.filter((e) => e.status === "skipped" && reason.test(e.reason ?? ""));
  expect(found, `skipped experiments of run ${o.run.tag} with a reason matching ${reason}: ${JSON.stringify(o.experiments.map((e) => [e.seq, e.status, e.reason]))}`).toHaveLength(1);
  return found[0]!;
};
/** The run went on past `e`: a later experiment trained. */
const expectGoesOnAfter = (o: Outcome, e: Experiment) =>
  expect(o.experiments.some((later) => later.seq > e.seq && trained(later)), `an experiment after #${e.seq} trained`).toBe(true);

/** The opening user message of a recorded request (train.ts, the history, a crash log). */
function openingUserText(r: RecordedRequest): string {
  const messages = r.body.messages as { role: string; content: unknown }[];
  const first = messages.find((m) => m.role === "user");
  const content = first?.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((b: { text?: string }) => b.text ?? "").join("\n");
  return "";
}

/** The tool results (or notes) of a request's last message, as text. */
const lastMessageText = (r: RecordedRequest): string => JSON.stringify((r.body.messages as unknown[]).at(-1));

// ---------------------------------------------------------------------------------------------

describe("the scripted faults", () => {
  it("still match the lab's train.ts: each search string occurs exactly once in it", () => {
    const base = LAB_TRAIN_TS;
    for (const [name, e] of Object.entries(edits)) {
      if (typeof e !== "object" || name === "FIX_SYNTAX_ERROR" || name === "NOT_FOUND") continue;
      expect(() => applyEdits(base, [{ file: "train.ts", ...e }]), name).not.toThrow();
    }
    expect(applyEdits(applyEdits(base, [{ file: "train.ts", ...edits.SYNTAX_ERROR }]), [{ file: "train.ts", ...edits.FIX_SYNTAX_ERROR }])).toBe(base);
    expect(base).not.toContain(edits.NOT_FOUND.search);
    // The probe applies again and again: its search string survives its own replacement.
    const twice = applyEdits(base, [{ file: "train.ts", ...edits.HARMLESS }, { file: "train.ts", ...edits.HARMLESS }]);
    expect(twice).not.toBe(base);
  });
});

describe("nightshift run survives agent faults and records them (openai agent)", () => {
  it("completes every experiment it was asked for and leaves a sound store", async () => {
    const o = await finished("a");
    expect(o.experiments.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(o.experiments[0]!.description).toBe("baseline");
    expect(o.experiments.some((e) => e.status === "proposed" || e.status === "running")).toBe(false);
    expect(o.integrity).toBe(true);
    expect(trained(o.experiments.at(-1)!)).toBe(true);
    expect(scenarios.a!.server.exhausted).toBe(0);
  }, 90_000);

  it("1. takes a proposal whose tool call first had malformed JSON arguments, once corrected", async () => {
    const o = await finished("a");
    const e = byDescription(o, DESCRIPTION.recovered);
    expect(trained(e), `status ${e.status}: ${e.reason}`).toBe(true);
    expect(e.usage.calls).toBe(2);
    expect(e.usage.inputTokens).toBeGreaterThan(0);
    // The agent told the model what was wrong, in the same conversation, before it corrected itself.
    const [malformed, corrected] = scenarios.a!.server.requests.slice(SCRIPT_A.indexOf(FIRST_MALFORMED));
    expect(lastMessageText(corrected!)).toMatch(/not valid JSON/);
    expect(openingUserText(corrected!)).toBe(openingUserText(malformed!));
  }, 90_000);

  it("1. skips a proposal whose arguments stay malformed, with the reason and the calls it cost", async () => {
    const o = await finished("a");
    const e = skippedFor(o, /not valid JSON/);
    expect(e.reason).toMatch(/no submitted proposal within \d+ turns/);
    expect(e.usage.calls).toBe(TURNS_PER_PROPOSAL);
    expect(e.usage.costUsd).toBeGreaterThan(0); // gpt-5.5 has a list price
    const ledger = o.calls.filter((c) => c.experimentId === e.id);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ ok: false, calls: TURNS_PER_PROPOSAL, model: "gpt-5.5" });
    expect(ledger[0]!.error).toMatch(/not valid JSON/);
    expectGoesOnAfter(o, e);
  }, 90_000);

  it("2. skips a proposal whose edit does not apply (search text not in train.ts)", async () => {
    const o = await finished("a");
    const e = skippedFor(o, /EDIT_NOT_FOUND/);
    expect(e.reason).toMatch(/was not found in train\.ts/);
    expect(e.usage.calls).toBe(TURNS_PER_PROPOSAL);
    expect(e.commit).toBeNull();
    expectGoesOnAfter(o, e);
  }, 90_000);

  it("3. skips a proposal that edits a file other than train.ts", async () => {
    const o = await finished("a");
    const e = skippedFor(o, /EDIT_WRONG_FILE/);
    expect(e.reason).toContain(OTHER_FILE);
    expect(e.reason).toMatch(/only train\.ts may change/);
    expect(e.commit).toBeNull();
    expectGoesOnAfter(o, e);
  }, 90_000);

  it("6. records a train.ts whose loss goes NaN as a crash (non-finite)", async () => {
    const o = await finished("a");
    const e = byDescription(o, DESCRIPTION.nan);
    expect(e.status).toBe("crash");
    expect(e.outcome).toBe("non-finite");
    expect(e.reason).toMatch(/non-finite training loss \(NaN\)/);
    expect(e.summary).toBeNull();
    expect(e.diff).toContain("sqrt of a negative");
    expect(e.logTail).toMatch(/non-finite/);
    expect(e.usage.calls).toBe(1);
    expectGoesOnAfter(o, e);
  }, 90_000);

  it("7. records a train.ts that ignores the budget as over budget", async () => {
    const o = await finished("a");
    const e = byDescription(o, DESCRIPTION.overBudget);
    expect(e.status).toBe("crash");
    expect(e.outcome).toBe("over-budget");
    expect(e.reason).toMatch(/the budget is 1s/);
    expect(e.summary).toBeNull();
    expectGoesOnAfter(o, e);
  }, 90_000);

  it("8. waits out a 429 with retry-after, then the proposal goes through", async () => {
    const o = await finished("a");
    const e = byDescription(o, DESCRIPTION.after429);
    expect(trained(e), `status ${e.status}: ${e.reason}`).toBe(true);
    expect(e.usage.calls).toBe(2); // the 429 and the answer
    // The request that got the 429 was sent again as it was.
    const [limited, retried] = scenarios.a!.server.requests.slice(SCRIPT_A.indexOf(RATE_LIMITED));
    expect(retried!.body).toEqual(limited!.body);
  }, 90_000);
});

describe("nightshift run survives a train.ts that does not compile (anthropic agent)", () => {
  it("4. records the crash and asks for a fix with the crash log, then goes on", async () => {
    const o = await finished("b");
    expect(o.integrity).toBe(true);
    expect(o.experiments.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const crash = byDescription(o, DESCRIPTION.syntax);
    expect(crash.status).toBe("crash");
    expect(crash.reason).toMatch(/compile error in train\.ts:\d+:\d+/);
    expect(crash.logTail).toMatch(/compile error/);
    expect(crash.diff).toContain(edits.SYNTAX_ERROR.replace);

    // The fix attempt: recorded against the crash, and it compiles and trains.
    const fixes = o.experiments.filter((e) => e.fixOf === crash.id);
    expect(fixes).toHaveLength(1);
    const fix = fixes[0]!;
    expect(fix.fixAttempt).toBe(1);
    expect(fix.seq).toBeGreaterThan(crash.seq);
    expect(trained(fix), `fix status ${fix.status}: ${fix.reason}`).toBe(true);
    expect(o.calls.find((c) => c.experimentId === fix.id)?.purpose).toBe("fix");

    // The request that asked for the fix showed the crashed train.ts and the end of its log.
    const lastLogLine = crash.logTail!.trim().split("\n").at(-1)!;
    const asked = scenarios.b!.server.requests.filter((r) => openingUserText(r).includes("<crash-log>"));
    expect(asked.length).toBeGreaterThan(0);
    const text = openingUserText(asked[0]!);
    expect(text).toContain(lastLogLine);
    expect(text).toContain(edits.SYNTAX_ERROR.replace);
    expect(text).toMatch(/Fix the crash/);
    expectGoesOnAfter(o, crash);
  }, 90_000);
});

describe("nightshift run survives a request the API refuses (anthropic agent)", () => {
  it("skips the proposal after HTTP 400 without retrying it, and goes on", async () => {
    const o = await finished("b");
    const e = skippedFor(o, /HTTP 400/);
    expect(e.reason).toMatch(/not retried/);
    expect(e.usage.calls).toBe(1);
    expect(o.calls.find((c) => c.experimentId === e.id)).toMatchObject({ ok: false, calls: 1, model: "claude-sonnet-5-5" });
    expectGoesOnAfter(o, e);
  }, 90_000);
});

describe("nightshift run survives an API that fails on every try (openai agent)", () => {
  it("9. skips the proposal after HTTP 500 forever, with backoff, and goes on", async () => {
    const o = await finished("c");
    expect(o.integrity).toBe(true);
    expect(o.experiments.map((e) => e.seq)).toEqual([1, 2, 3]);
    const e = skippedFor(o, /HTTP 500/);
    expect(e.reason).toMatch(new RegExp(`gave up after ${TRIES_PER_CALL} tries`));
    expect(e.reason!.split("\n")).toHaveLength(1);
    expect(e.usage).toMatchObject({ calls: TRIES_PER_CALL, inputTokens: 0, outputTokens: 0, costUsd: 0 });
    // The server's message echoed the Authorization header; the store holds it redacted.
    expect(e.reason).toContain("[REDACTED]");
    expect(o.cli.ms).toBeGreaterThan(BACKOFF_TOTAL_MS);
    expectGoesOnAfter(o, e);
  }, 90_000);
});

describe("nightshift run survives a train.ts that never returns", () => {
  it("5. kills it at the runner's hard limit, records a crash (timeout), and goes on", async () => {
    const o = await finished("d");
    const e = byDescription(o, DESCRIPTION.infinite);
    expect(e.status).toBe("crash");
    expect(e.outcome).toBe("timeout");
    expect(e.reason).toMatch(/hard limit/);
    expect(o.integrity).toBe(true);
    expectGoesOnAfter(o, e);
  }, 90_000);
});

describe("API keys", () => {
  it("reach the LLM server, and nowhere else: not the store, the lab repo, the logs or the output", async () => {
    const outcomes = await Promise.all(Object.keys(scenarios).map(finished));
    // Not vacuous: the keys were in the environment and went out with every request (the
    // Anthropic SDK sends its key as a bearer token too), and servers echoed them into errors.
    for (const s of Object.values(scenarios))
      for (const r of s.server.requests) {
        const sent = `${String(r.headers.authorization)} ${String(r.headers["x-api-key"])}`;
        expect(sent).toContain(r.api === "openai" ? OPENAI_KEY : ANTHROPIC_KEY);
      }
    const echoed = outcomes.flatMap((o) => o.experiments.filter((e) => e.status === "skipped" && /authorization/.test(e.reason ?? "")));
    expect(echoed.map((e) => e.reason)).toEqual([expect.stringContaining("[REDACTED]"), expect.stringContaining("[REDACTED]")]);
    const envProbeLog = envProbe(outcomes[0]!).logPath!;
    for (const o of outcomes) {
      // The env probe's log is the next test's subject.
      const findings = scanForSecrets(o.ws, NEEDLES, { exclude: (rel) => join(o.ws, rel) === envProbeLog });
      expect(findings, `keys found in workspace ${relative(root, o.ws)}`).toEqual([]);
      for (const needle of NEEDLES) {
        expect(o.cli.stdout, `run ${o.run.tag} stdout`).not.toContain(needle);
        expect(o.cli.stderr, `run ${o.run.tag} stderr`).not.toContain(needle);
      }
    }
  }, 400_000);

  it("stay out of the training process: a train.ts that prints its environment logs no key", async () => {
    const o = await finished("a");
    const e = envProbe(o);
    expect(e.status).toBe("crash");
    expect(e.reason).toMatch(/env probe: done/);
    const log = readFileSync(e.logPath!, "utf8");
    expect(log).toContain(edits.ENV_PROBE_MARKER); // the probe ran
    const line = log.split("\n").find((l) => l.includes(edits.ENV_PROBE_MARKER))!;
    for (const needle of NEEDLES) expect(line, "the training child's environment holds an API key").not.toContain(needle);
    expect(scanForSecrets(o.ws, NEEDLES)).toEqual([]);
  }, 90_000);
});

function envProbe(o: Outcome): Experiment {
  return byDescription(o, DESCRIPTION.envProbe);
}
