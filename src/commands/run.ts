/**
 * `nightshift run`: the inner loop, unattended. An agent edits train.ts in the workspace's lab,
 * each experiment trains for the budget under the harness, improvements are kept, everything
 * is recorded. Ctrl-C (or a STOP file in the workspace) finishes the experiment in flight;
 * a second Ctrl-C abandons it. `--resume` continues a run after any stop or kill.
 */
import { existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { CommandModule } from "yargs";
import { PROFILES } from "../harness/constants.ts";
import { AGENT_KINDS, type AgentChoice, type AgentKind, type LlmLimits, createAgent } from "../agents/factory.ts";
import { runLoop } from "../loop/loop.ts";
import { loadOrg } from "../workspace/org.ts";
import { DEFAULT_WORKSPACE, openWorkspace } from "../workspace/workspace.ts";
import { engineMachine, parseClusterDevices, parseDevices, slotDevice } from "../workspace/devices.ts";
import { runBranchName } from "../lab/index.ts";
import { type LauncherArgs, checkLauncher, launcherFromArgs, storedRunLauncher, withLauncher } from "./launcher-flags.ts";
import { authorOfAgent, checkSandbox, sandboxModeFromFlag } from "../workspace/sandbox.ts";
import { PRICE_OPTION, PROMPT_CACHE_OPTION, parsePriceFlag } from "./llm-flags.ts";
import { RunDisplay } from "./run-display.ts";
import { UsageError, resolveDatasetDir, resolveProfile, withProfile, withSandbox } from "./common.ts";

const DEFAULT_ORG = fileURLToPath(new URL("../../program.md", import.meta.url));

interface RunArgs extends LauncherArgs {
  org: string;
  agent: string;
  model?: string;
  "base-url"?: string;
  workspace: string;
  tag?: string;
  experiments?: number;
  hours?: number;
  "time-budget"?: number;
  profile?: string;
  dataset?: string;
  seed: number;
  resume: boolean;
  "fix-attempts": number;
  devices: string;
  pipeline: boolean;
  "max-cost"?: number;
  "hard-limit"?: number;
  "max-turns"?: number;
  "max-tokens"?: number;
  temperature?: number;
  "agent-timeout"?: number;
  "max-retries"?: number;
  "context-tokens"?: number;
  price?: string;
  "prompt-cache": boolean;
  stream: boolean;
  json: boolean;
  sandbox?: boolean;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: "run",
  describe: "Run the research loop: an agent edits train.ts, each experiment trains for the budget, improvements are kept",
  builder: (y) =>
    withLauncher(withSandbox(withProfile(y)))
      .option("org", { type: "string", default: DEFAULT_ORG, describe: "the org: orgs/NAME or a program.md (default: the top-level program.md)" })
      .option("agent", { choices: AGENT_KINDS, default: "builtin" as AgentKind, describe: "who proposes experiments" })
      .option("model", { type: "string", describe: "the LLM (anthropic / openai agents)" })
      .option("base-url", { type: "string", describe: "an OpenAI- or Anthropic-compatible server (vLLM, llama.cpp, Ollama…)" })
      .option("workspace", { type: "string", default: DEFAULT_WORKSPACE, describe: "where the store, the lab repo and the logs live" })
      .option("tag", { type: "string", describe: "names the run (branch nightshift/<tag>/<org>); default: today's date" })
      .option("experiments", { type: "number", describe: "stop after this many experiments in this invocation (with --resume: this many more)" })
      .option("hours", { type: "number", describe: "stop after this many hours" })
      .option("time-budget", { type: "number", describe: "training seconds per experiment (default: the profile's)" })
      .option("dataset", { type: "string", describe: "a prepared dataset directory (default: the latest `prepare`)" })
      .option("seed", { type: "number", default: 42, describe: "the harness seed of every experiment" })
      .option("resume", { type: "boolean", default: false, describe: "continue the run after a stop or a kill" })
      .option("fix-attempts", { type: "number", default: 2, describe: "proposals that try to fix a crash" })
      .option("devices", { type: "string", default: "auto", describe: "device slots, one experiment each: GPU indices (0,1) or cpu entries (cpu,cpu splits the cores); auto = GPU 0 if the engine has one, else cpu" })
      .option("pipeline", { type: "boolean", default: true, describe: "prepare the next proposal while an experiment trains (--no-pipeline: wait for each)" })
      .option("hard-limit", { type: "number", describe: "kill a training run after this many seconds (default: 1.5 × budget + 180)" })
      .option("max-turns", { type: "number", group: "LLM agents:", describe: "model answers per conversation (default 10)" })
      .option("max-tokens", { type: "number", group: "LLM agents:", describe: "output tokens per answer (default 4096)" })
      .option("temperature", { type: "number", group: "LLM agents:", describe: "sampling temperature (default: the provider's)" })
      .option("agent-timeout", { type: "number", group: "LLM agents:", describe: "seconds one API call may take (default 120)" })
      .option("max-retries", { type: "number", group: "LLM agents:", describe: "retries of a call after 429/5xx/timeouts, with backoff (default 4)" })
      .option("context-tokens", { type: "number", group: "LLM agents:", describe: "token budget of the opening prompt; history and memory get fixed shares, crash logs are trimmed to fit (default 32000)" })
      .option("price", { ...PRICE_OPTION, group: "LLM agents:" })
      .option("prompt-cache", { ...PROMPT_CACHE_OPTION, group: "LLM agents:" })
      .option("stream", { type: "boolean", default: false, group: "LLM agents:", describe: "stream answers (SSE)" })
      .option("max-cost", { type: "number", describe: "stop proposing once the run's agent spending reaches this many US dollars" })
      .option("json", { type: "boolean", default: false, describe: "one JSON line per experiment, and the summary" })
      .example("$0 run --agent builtin --experiments 8 --time-budget 10", "a quick offline run")
      .example("$0 run --org orgs/tuner --agent anthropic --hours 8", "a night with Claude")
      .example("$0 run --devices 0,1,2,3 --agent openai --base-url http://localhost:8000/v1 --model qwen", "four GPUs, a local model")
      .example("$0 run --resume --tag nov24", "continue after a kill")
      .example("$0 run --launcher slurm --slurm-partition gpu --devices 0,1,2,3", "four GPU jobs in flight on a Slurm cluster")
      .example("$0 run --agent anthropic --no-sandbox", "an LLM agent on a machine without bubblewrap, at your own risk") as never,
  handler: async (argv) => {
    const profile = resolveProfile(argv.profile);
    const positive = (name: string, v: number | undefined) => {
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new UsageError(`--${name} must be a positive number, got ${v}`);
    };
    positive("experiments", argv.experiments);
    positive("hours", argv.hours);
    positive("time-budget", argv["time-budget"]);
    positive("max-cost", argv["max-cost"]);
    positive("hard-limit", argv["hard-limit"]);
    if (!Number.isSafeInteger(argv.seed) || argv.seed < 0) throw new UsageError(`--seed must be a non-negative integer, got ${argv.seed}`);
    if (!Number.isInteger(argv["fix-attempts"]) || argv["fix-attempts"] < 0)
      throw new UsageError(`--fix-attempts must be a non-negative integer, got ${argv["fix-attempts"]}`);
    const limits = llmLimits(argv);
    // An LLM agent is refused here, before the dataset, the workspace or its key is looked at,
    // when the sandbox cannot run and --no-sandbox was not given. A resumed run is checked by
    // the loop against the mode stored with it. (A warning for the builtin agent comes from the loop.)
    const sandbox = sandboxModeFromFlag(argv.sandbox);
    if (!argv.resume) checkSandbox(authorOfAgent(argv.agent), sandbox ?? "auto", `the ${argv.agent} agent's train.ts`);
    const launcherFlag = launcherFromArgs(argv);
    const org = loadOrg(argv.org);
    const workspace = resolve(argv.workspace);
    const tag = argv.tag ?? new Date().toISOString().slice(0, 10);
    // A resumed run trains where it was started unless the flags say otherwise.
    const launcher = launcherFlag ?? (argv.resume ? storedRunLauncher(workspace, runBranchName(tag, org.name)) : { kind: "local" as const });
    const onCluster = launcher.kind === "slurm";
    const devices = onCluster ? parseClusterDevices(argv.devices, profile) : parseDevices(argv.devices, engineMachine());
    const datasetDir = resolveDatasetDir(argv.dataset, profile);
    const stopFile = join(workspace, "STOP");

    let stopAsked = false;
    const abort = new AbortController();
    // On a cluster, "finish what is in flight" can mean hours in a queue: STOP and Ctrl-C cancel
    // the run's jobs (scancel) at once, and --resume goes on from there.
    const onSigint = () => {
      if (stopAsked || onCluster) abort.abort();
      stopAsked = true;
      process.stderr.write(onCluster ? "\nnightshift: cancelling the run's Slurm jobs (scancel)\n" : "\nnightshift: finishing the experiment in flight (Ctrl-C again to abandon it)\n");
    };
    process.on("SIGINT", onSigint);
    // The loop looks for STOP between experiments; a cluster's jobs are cancelled as soon as it appears.
    const stopWatch = onCluster
      ? setInterval(() => {
          if (!existsSync(stopFile) || abort.signal.aborted) return;
          rmSync(stopFile, { force: true });
          stopAsked = true;
          process.stderr.write("nightshift: STOP: cancelling the run's Slurm jobs (scancel)\n");
          abort.abort();
        }, 500).unref()
      : null;
    const agent: AgentChoice = {
      kind: argv.agent as AgentKind,
      ...(argv.model ? { model: argv.model } : {}),
      ...(argv["base-url"] ? { baseURL: argv["base-url"] } : {}),
      limits: { ...limits, ...(argv.json ? {} : { log: (line: string) => process.stderr.write(`agent: ${line}\n`) }) },
    };
    // An LLM agent's configuration (its key above all) is checked before the workspace exists:
    // a missing key must not leave an empty workspace behind.
    if (agent.kind !== "builtin") await createAgent({ ...agent, limits: { ...limits } }, org.programMd, "");
    const display = new RunDisplay({ json: argv.json, tty: process.stderr.isTTY === true, ...(argv.experiments !== undefined ? { experiments: argv.experiments } : {}) });
    const ws = await openWorkspace(workspace, profile, { launcher });
    try {
      const timeBudget = argv["time-budget"] ?? PROFILES[profile].timeBudget;
      await checkLauncher(ws, { datasetDir, devices: devices.map(slotDevice), timeBudget, ...(argv["hard-limit"] !== undefined ? { hardLimit: argv["hard-limit"] } : {}), signal: abort.signal });
      const result = await runLoop(ws, {
        org,
        agent,
        profile,
        timeBudget,
        datasetDir,
        tag,
        seed: argv.seed,
        resume: argv.resume,
        ...(argv.experiments !== undefined ? { experiments: argv.experiments } : {}),
        ...(argv.hours !== undefined ? { hours: argv.hours } : {}),
        fixAttempts: argv["fix-attempts"],
        devices,
        pipeline: argv.pipeline,
        ...(argv["max-cost"] !== undefined ? { maxCostUsd: argv["max-cost"] } : {}),
        ...(argv["hard-limit"] !== undefined ? { hardLimit: argv["hard-limit"] } : {}),
        ...(sandbox !== undefined ? { sandbox } : {}),
        signal: abort.signal,
        stopRequested: () => {
          if (existsSync(stopFile)) {
            rmSync(stopFile, { force: true });
            return true;
          }
          return stopAsked;
        },
        onEvent: (e) => display.show(e),
      });
      display.summary(result);
    } finally {
      ws.store.close();
      display.close();
      if (stopWatch) clearInterval(stopWatch);
      process.off("SIGINT", onSigint);
    }
  },
};

/** The LLM agents' limits from the flags; the agents check their ranges and name a bad one. */
function llmLimits(argv: RunArgs): LlmLimits {
  const limits: LlmLimits = { stream: argv.stream, promptCache: argv["prompt-cache"] };
  if (argv["max-turns"] !== undefined) limits.maxTurns = argv["max-turns"];
  if (argv["max-tokens"] !== undefined) limits.maxTokens = argv["max-tokens"];
  if (argv.temperature !== undefined) limits.temperature = argv.temperature;
  if (argv["agent-timeout"] !== undefined) limits.timeoutMs = argv["agent-timeout"] * 1000;
  if (argv["max-retries"] !== undefined) limits.maxRetries = argv["max-retries"];
  if (argv["context-tokens"] !== undefined) limits.contextTokenBudget = argv["context-tokens"];
  if (argv.price !== undefined) limits.pricing = parsePriceFlag(argv.price);
  return limits;
}
