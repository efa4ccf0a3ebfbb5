/**
 * `nightshift tournament start|resume|status|stop`: research orgs race for device nights
 * (builtin or LLM agents), each org's best is verified, the champion moves only on a verified
 * gain, winners breed (the builtin mutator, or an LLM meta-agent: --meta-agent) and losers
 * retire. `resume` continues after any stop or kill; `stop` asks a running tournament to stop
 * after the experiments in flight (a STOP file its loops check). Where the bubblewrap sandbox
 * cannot run, LLM agents are refused unless given --no-sandbox (stored with the tournament;
 * `resume --no-sandbox` or `resume --sandbox` overrides it for that invocation); the builtin
 * agent's experiments train unsandboxed with a warning.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Argv, CommandModule } from "yargs";
import { PROFILES } from "../harness/constants.ts";
import { AGENT_KINDS, type AgentKind, createAgent } from "../agents/factory.ts";
import { type DeviceSlot, engineMachine, parseClusterDevices, parseDevices, slotDevice } from "../workspace/devices.ts";
import { type LauncherSettings, launcherFromStore } from "../launcher/index.ts";
import { type LauncherArgs, checkLauncher, launcherFromArgs, withLauncher } from "./launcher-flags.ts";
import { authorOfAgent, checkSandbox, sandboxModeFromFlag, storedSandboxMode } from "../workspace/sandbox.ts";
import { DEFAULT_WORKSPACE, type Workspace, openWorkspace, withLauncherOf } from "../workspace/workspace.ts";
import {
  ALLOCATION_POLICIES,
  type AllocationPolicy,
  DEFAULT_META,
  type TournamentSettings,
  driveTournament,
  findTournament,
  formatStatus,
  loadPopulation,
  startTournament,
  stopFile,
  tournamentStatus,
} from "../tournament/index.ts";
import { TournamentError } from "../tournament/errors.ts";
import { metaAgentFor } from "../tournament/evolve.ts";
import { DEFAULT_CHAMPION_ALPHA, META_AGENTS, type MetaAgentKind } from "../tournament/settings.ts";
import { DEFAULT_CONFIRM_SEEDS, checkConfirmSeeds } from "../verification/confirm.ts";
import { PRICE_OPTION, PROMPT_CACHE_OPTION, parsePriceFlag } from "./llm-flags.ts";
import { UsageError, resolveDatasetDir, resolveProfile, warn, withProfile, withSandbox, workspaceDb } from "./common.ts";

const PROJECT = fileURLToPath(new URL("../../", import.meta.url));
/** The one-sided level a night's claims are verified at. */
const VERIFY_ALPHA = 0.05;
const DEFAULT_ORGS = join(PROJECT, "orgs");

interface TournamentArgs extends LauncherArgs {
  action: string;
  /** The positional name; --name is `name`. Both given and different is refused. */
  tournament?: string;
  name?: string;
  nights?: number;
  experiments?: number;
  orgs?: string;
  population?: number;
  allocation: string;
  devices: string;
  "time-budget"?: number;
  dataset?: string;
  profile?: string;
  seed: number;
  "max-seeds"?: number;
  "confirm-seeds"?: number;
  margin?: number;
  "champion-alpha"?: number;
  quick: boolean;
  agent: string;
  model?: string;
  "base-url"?: string;
  price?: string;
  "prompt-cache": boolean;
  "max-cost-per-night"?: number;
  "shared-memory"?: boolean;
  "meta-agent": string;
  "meta-model"?: string;
  "meta-base-url"?: string;
  workspace: string;
  json: boolean;
  sandbox?: boolean;
}

const QUICK = { population: 4, timeBudget: 10, experiments: 12, maxSeeds: 3 };
/** Paired seeds per claim at most: per-claim power ≥ 0.8 at 2·δ_min when δ_min is one paired sd (BENCHMARKS.md). */
const DEFAULT_MAX_SEEDS = 12;

export const tournamentCommand: CommandModule<object, TournamentArgs> = {
  command: "tournament <action> [tournament]",
  describe: "Research orgs race for device nights; verified winners breed, losers retire",
  builder: (y: Argv) =>
    withLauncher(withSandbox(withProfile(y)))
      .positional("action", { choices: ["start", "resume", "status", "stop"] as const, describe: "what to do" })
      .positional("tournament", { type: "string", describe: "the tournament's name, here or as --name NAME (default: the latest; start: today's date)" })
      // A positional of the same key as an option would silently win over it: they have their own keys.
      .option("name", { type: "string", describe: "the tournament's name (as the positional)" })
      .option("nights", { type: "number", describe: "nights to run (start)" })
      .option("experiments", { type: "number", describe: "experiments per night over all orgs (start)" })
      .option("orgs", { type: "string", describe: "a directory of orgs/<name>/program.md (default: orgs/ plus the top-level program.md)" })
      .option("population", { type: "number", describe: "orgs in the tournament (default: all found; the first ones by name)" })
      .option("allocation", { choices: ALLOCATION_POLICIES, default: "halving", describe: "how a night's experiments are shared" })
      .option("devices", { type: "string", default: "auto", describe: "device slots (as for `run`): allocations run on them side by side; auto = GPU 0 if the engine has one, else cpu" })
      .option("time-budget", { type: "number", describe: "training seconds per experiment (default: the profile's)" })
      .option("dataset", { type: "string", describe: "a prepared dataset directory (default: the latest `prepare`)" })
      .option("seed", { type: "number", default: 42, describe: "the harness seed of every experiment, and of the meta-mutator" })
      .option("max-seeds", { type: "number", describe: "cap on paired verification seeds per claim (default 12; --quick 3)" })
      .option("margin", {
        type: "number",
        describe: "δ_min in val_bpb for every claim: real needs a gain shown above it (default: per org, its simplicity threshold or half the seed-noise sd from `nightshift noise`, whichever is larger)",
      })
      .option("confirm-seeds", {
        type: "number",
        describe: "paired seeds, after a real verdict, that estimate the credited gain free of the stopping rule's selection (default 3; 0: credit the sequential mean)",
      })
      .option("champion-alpha", { type: "number", describe: `a real claim moves the champion only if its p-value is also below this (default ${DEFAULT_CHAMPION_ALPHA})` })
      .option("agent", { choices: AGENT_KINDS, default: "builtin", describe: "who proposes the orgs' experiments (LLM keys from ANTHROPIC_API_KEY / OPENAI_API_KEY)" })
      .option("model", { type: "string", describe: "the LLM (anthropic / openai agents)" })
      .option("base-url", { type: "string", describe: "an OpenAI- or Anthropic-compatible server" })
      .option("price", PRICE_OPTION)
      .option("prompt-cache", PROMPT_CACHE_OPTION)
      .option("max-cost-per-night", { type: "number", describe: "agent spending allowed per night over all orgs, USD" })
      .option("shared-memory", {
        type: "boolean",
        default: false,
        describe: "show every org the other orgs' verified results too (each org always remembers its own and its ancestors' earlier nights); off by default, so strategies are compared on their own",
      })
      .option("meta-agent", { choices: META_AGENTS, default: "builtin", describe: "who breeds the winners: the builtin mutator, or an LLM that rewrites their program.md (keys as for --agent)" })
      .option("meta-model", { type: "string", describe: "the meta-agent's LLM" })
      .option("meta-base-url", { type: "string", describe: "an OpenAI- or Anthropic-compatible server for the meta-agent" })
      .option("quick", { type: "boolean", default: false, describe: "a tiny CPU tournament: 4 orgs, 10 s budget, 12 experiments a night, 3 seeds" })
      .option("workspace", { type: "string", default: DEFAULT_WORKSPACE, describe: "where the store, the lab and the logs live" })
      .option("json", { type: "boolean", default: false, describe: "status as JSON" })
      .example("$0 tournament start --nights 1 --quick", "a short tournament on the CPU")
      .example("$0 tournament start --nights 7 --experiments 96 --devices 0,1,2,3 --name week1", "a weekly tournament on four GPUs")
      .example("$0 tournament start --nights 3 --quick --meta-agent anthropic", "winners bred by an LLM meta-agent")
      .example("$0 tournament resume week1", "continue after a stop or a kill")
      .example("$0 tournament start --nights 1 --quick --agent anthropic --no-sandbox", "LLM agents on a machine without bubblewrap, at your own risk") as never,
  handler: async (argv) => {
    if (argv.tournament !== undefined && argv.name !== undefined && argv.tournament !== argv.name)
      throw new UsageError(`two names for the tournament: '${argv.tournament}' and --name ${argv.name}; give one`);
    argv.name ??= argv.tournament;
    switch (argv.action) {
      case "start":
        return start(argv);
      case "resume":
        return resume(argv);
      case "status":
        return status(argv);
      case "stop":
        return stop(argv);
    }
  },
};

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function start(argv: TournamentArgs): Promise<void> {
  if (argv.nights === undefined) throw new UsageError("tournament start needs --nights N");
  if (!Number.isInteger(argv.nights) || argv.nights < 1) throw new UsageError(`--nights must be an integer ≥ 1, got ${argv.nights}`);
  // An LLM agent without the sandbox is refused first: before the dataset, the orgs or its key.
  // The builtin agent's warning waits until every flag has been checked.
  const sandbox = sandboxModeFromFlag(argv.sandbox) ?? "auto";
  const sandboxWarning = checkSandboxOf({ agent: { kind: argv.agent }, sandbox });
  const population = argv.population ?? (argv.quick ? QUICK.population : undefined);
  if (population !== undefined && (!Number.isInteger(population) || population < 2)) throw new UsageError(`--population must be an integer ≥ 2, got ${population}`);
  const profile = argv.quick && argv.profile === undefined ? "cpu" : resolveProfile(argv.profile);
  const timeBudget = argv["time-budget"] ?? (argv.quick ? QUICK.timeBudget : PROFILES[profile].timeBudget);
  if (!(timeBudget > 0)) throw new UsageError(`--time-budget must be positive, got ${timeBudget}`);
  const experiments = argv.experiments ?? (argv.quick ? QUICK.experiments : 8 * 12);
  const maxSeeds = argv["max-seeds"] ?? (argv.quick ? QUICK.maxSeeds : DEFAULT_MAX_SEEDS);
  const launcher = launcherFromArgs(argv) ?? { kind: "local" as const };
  slotsOf(argv.devices, launcher, profile); // a bad --devices fails before anything is written
  if (argv.margin !== undefined && !(argv.margin >= 0)) throw new UsageError(`--margin must be a gain in val_bpb ≥ 0, got ${argv.margin}`);
  const championAlpha = argv["champion-alpha"] ?? DEFAULT_CHAMPION_ALPHA;
  if (!(championAlpha > 0 && championAlpha <= VERIFY_ALPHA))
    throw new UsageError(`--champion-alpha must be in (0, ${VERIFY_ALPHA}] (no looser than the verification's alpha ${VERIFY_ALPHA}), got ${championAlpha}`);
  const confirmSeeds = argv["confirm-seeds"] ?? DEFAULT_CONFIRM_SEEDS;
  const confirmProblem = checkConfirmSeeds(confirmSeeds);
  if (confirmProblem) throw new UsageError(confirmProblem);
  const orgsDir = argv.orgs ?? DEFAULT_ORGS;
  const sources = loadPopulation(orgsDir, argv.orgs === undefined ? [join(PROJECT, "program.md")] : []);
  const chosen = population === undefined ? sources : sources.slice(0, population);
  if (chosen.length < 2) throw new UsageError(`a tournament needs at least 2 orgs; ${orgsDir} has ${sources.length}`);
  if (population !== undefined && population > sources.length) throw new UsageError(`--population ${population}: ${orgsDir} has only ${sources.length} orgs`);
  const datasetDir = resolveDatasetDir(argv.dataset, profile);
  const settings: TournamentSettings = {
    profile,
    timeBudget,
    datasetDir,
    experimentsPerNight: experiments,
    allocation: argv.allocation as AllocationPolicy,
    seed: argv.seed,
    evolutionSeed: argv.seed,
    devices: argv.devices,
    verify: {
      maxSeeds,
      minSeeds: Math.min(2, maxSeeds),
      alpha: VERIFY_ALPHA,
      effect: 0.002,
      ...(argv.margin !== undefined ? { margin: argv.margin } : {}),
      championAlpha,
      confirmSeeds,
    },
    breed: 1,
    retire: 1,
    meta: {
      ...DEFAULT_META,
      mutator: argv["meta-agent"] as MetaAgentKind,
      ...(argv["meta-model"] ? { model: argv["meta-model"] } : {}),
      ...(argv["meta-base-url"] ? { baseURL: argv["meta-base-url"] } : {}),
    },
    agent: {
      kind: argv.agent as AgentKind,
      ...(argv.model ? { model: argv.model } : {}),
      ...(argv["base-url"] ? { baseURL: argv["base-url"] } : {}),
      limits: { promptCache: argv["prompt-cache"], ...(argv.price !== undefined ? { pricing: parsePriceFlag(argv.price) } : {}) },
    },
    ...(argv["max-cost-per-night"] !== undefined ? { maxCostPerNight: argv["max-cost-per-night"] } : {}),
    ...(argv["shared-memory"] ? { sharedMemory: true } : {}),
    sandbox,
    ...(launcher.kind !== "local" ? { launcher } : {}),
  };
  // An LLM agent's configuration (its key above all) is checked before anything is written.
  if (settings.agent && settings.agent.kind !== "builtin") await createAgent(settings.agent, chosen[0]!.programMd, "");
  await metaAgentFor(settings); // the meta-agent's too
  const name = argv.name ?? new Date().toISOString().slice(0, 10);
  await withWorkspace(argv.workspace, profile, true, async (ws) => {
    const t = await startTournament(ws, { name, nights: argv.nights!, population: chosen, settings });
    warn(sandboxWarning);
    log(`tournament ${t.name}: ${chosen.length} orgs (${chosen.map((o) => o.name).join(", ")}), ${t.nights} night${t.nights === 1 ? "" : "s"} of ${experiments} experiments, ${settings.allocation}`);
    await drive(ws, t.name, argv);
  });
}

async function resume(argv: TournamentArgs): Promise<void> {
  await withWorkspace(argv.workspace, undefined, false, async (ws) => {
    const t = findTournament(ws, argv.name);
    if (t.status === "finished") throw new TournamentError("TOURNAMENT_FINISHED", `tournament '${t.name}' is finished: \`nightshift tournament status ${t.name}\` shows its results`);
    const stored = t.settings as { agent?: { kind?: string }; sandbox?: unknown };
    const sandbox = sandboxModeFromFlag(argv.sandbox) ?? storedSandboxMode(stored.sandbox) ?? "auto";
    warn(checkSandboxOf({ agent: { kind: stored.agent?.kind ?? "builtin" }, sandbox }));
    await drive(ws, t.name, argv);
  });
}

/** Device slots: this machine's, or with the Slurm launcher, jobs in flight of each kind. */
function slotsOf(spec: string, launcher: LauncherSettings, profile: TournamentSettings["profile"]): DeviceSlot[] {
  return launcher.kind === "slurm" ? parseClusterDevices(spec, profile) : parseDevices(spec, engineMachine());
}

async function drive(opened: Workspace, name: string, argv: TournamentArgs): Promise<void> {
  const t = opened.store.getTournamentByName(name)!;
  // This invocation's launcher flags, else the tournament's stored launcher.
  const launcher = launcherFromArgs(argv) ?? launcherFromStore(t.settings.launcher);
  const ws = withLauncherOf(opened, launcher);
  const onCluster = launcher.kind === "slurm";
  const spec = typeof t.settings.devices === "string" ? t.settings.devices : argv.devices;
  const profile = t.settings.profile === "gpu" ? "gpu" : "cpu";
  const slots = slotsOf(spec, launcher, profile);
  const abort = new AbortController();
  let asked = false;
  // On a cluster, a stop cancels the jobs in flight (scancel) rather than wait on them in a queue.
  const onSigint = () => {
    if (asked || onCluster) abort.abort();
    asked = true;
    writeFileSync(stopFile(ws, name), "stop\n");
    log(onCluster ? "\nnightshift: the tournament stops; its Slurm jobs in flight are cancelled (scancel)" : "\nnightshift: the tournament stops after the experiments in flight (Ctrl-C again to abandon them)");
  };
  process.on("SIGINT", onSigint);
  const stopWatch = onCluster
    ? setInterval(() => {
        if (abort.signal.aborted || !existsSync(stopFile(ws, name))) return;
        log("nightshift: STOP: the tournament's Slurm jobs in flight are cancelled (scancel)");
        abort.abort();
      }, 500).unref()
    : null;
  try {
    const timeBudget = typeof t.settings.timeBudget === "number" ? t.settings.timeBudget : PROFILES[profile].timeBudget;
    const datasetDir = typeof t.settings.datasetDir === "string" ? t.settings.datasetDir : "";
    await checkLauncher(ws, { datasetDir, devices: slots.map(slotDevice), timeBudget, signal: abort.signal });
    const sandbox = sandboxModeFromFlag(argv.sandbox);
    const end = await driveTournament(ws, t, { slots, signal: abort.signal, log, ...(sandbox !== undefined ? { sandbox } : {}) });
    if (argv.json) console.log(JSON.stringify(tournamentStatus(ws.store, end)));
    else console.log(formatStatus(tournamentStatus(ws.store, end)));
  } finally {
    if (stopWatch) clearInterval(stopWatch);
    process.off("SIGINT", onSigint);
  }
}

async function status(argv: TournamentArgs): Promise<void> {
  await withWorkspace(argv.workspace, undefined, false, async (ws) => {
    const t = findTournament(ws, argv.name);
    const s = tournamentStatus(ws.store, t);
    console.log(argv.json ? JSON.stringify(s) : formatStatus(s));
  });
}

async function stop(argv: TournamentArgs): Promise<void> {
  await withWorkspace(argv.workspace, undefined, false, async (ws) => {
    const t = findTournament(ws, argv.name);
    if (t.status !== "running") throw new TournamentError("TOURNAMENT_FINISHED", `tournament '${t.name}' is ${t.status}, not running`);
    const file = stopFile(ws, t.name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, "stop\n");
    console.log(`tournament ${t.name}: asked to stop after the experiments in flight`);
  });
}

/** The sandbox check of a tournament's agent: throws for an LLM agent, a warning line for the builtin one. */
function checkSandboxOf(s: { agent?: { kind: string }; sandbox?: TournamentSettings["sandbox"] }): string | null {
  const kind = s.agent?.kind ?? "builtin";
  return checkSandbox(authorOfAgent(kind), s.sandbox ?? "auto", `the ${kind} agent's train.ts`);
}

/** Opens the workspace; resume/status/stop need one that exists. */
async function withWorkspace(dir: string, profile: TournamentSettings["profile"] | undefined, create: boolean, fn: (ws: Workspace) => Promise<void>): Promise<void> {
  if (!create) workspaceDb(dir);
  const ws = await openWorkspace(resolve(dir), profile ?? "cpu");
  try {
    await fn(ws);
  } finally {
    ws.store.close();
  }
}
