/**
 * Opening a run for the loop: find or create the org and the run, check the sandbox and build
 * the agent before anything is written, and bring the lab back to the store's head (what a
 * kill left in flight is recorded as interrupted). The research memory is built when the run
 * first starts and kept.
 */
import { parseResearchMemory } from "../agents/memory.ts";
import type { Agent, ResearchMemory } from "../agents/types.ts";
import { deviceInfo } from "../engine/index.ts";
import { RunnerError, type SandboxMode } from "../harness/runner/index.ts";
import type { RunResult } from "../harness/types.ts";
import { launcherJson } from "../launcher/index.ts";
import { LabError, type Worktree, runBranchName } from "../lab/index.ts";
import type { Experiment, Run } from "../store/index.ts";
import { createAgent } from "../agents/factory.ts";
import { type DeviceSlot, slotDevice } from "../workspace/devices.ts";
import { authorOfAgent, checkSandbox, storedSandboxMode } from "../workspace/sandbox.ts";
import type { Workspace } from "../workspace/workspace.ts";
import { INTERRUPTED_BY_ABORT, INTERRUPTED_BY_KILL } from "./interrupted.ts";
import { type LoopOptions, LoopError } from "./loop-types.ts";
import { buildResearchMemory, memoryJson } from "./memory.ts";
import { experimentJob } from "./training-job.ts";

export interface OpenedRun {
  run: Run;
  slots: { device: DeviceSlot; wt: Worktree }[];
  agent: Agent;
  sandbox: SandboxMode;
  memory: ResearchMemory;
  /** Experiments a previous process left in flight, now recorded as interrupted. */
  interrupted: number;
  /**
   * Experiments a previous process left training whose job finished anyway (a Slurm job runs on
   * without nightshift): their results, for the scheduler to judge like any other.
   */
  recovered: { experiment: Experiment; result: RunResult }[];
  /** A line to show the user before the run goes on (known code trains unsandboxed). */
  sandboxWarning: string | null;
}

const CPU_SLOT: DeviceSlot = { slot: 0, label: "cpu", env: {} };

export async function openRun(ws: Workspace, o: LoopOptions): Promise<OpenedRun> {
  const { store, lab } = ws;
  const existingOrg = store.getOrgByName(o.org.name);
  if (existingOrg && existingOrg.programMd !== o.org.programMd)
    throw new LoopError(
      "ORG_CHANGED",
      `org '${o.org.name}' already exists in this workspace with a different program.md: name the changed org differently (its directory) or use another --workspace`,
    );
  const branchName = runBranchName(o.tag, o.org.name);
  let run = store.findRunByBranch(branchName);
  if (run && !o.resume)
    throw new LoopError("RUN_EXISTS", `run ${branchName} already exists: pass --resume to continue it, or --tag to start a new one`);
  if (!run && o.resume) throw new LoopError("NO_RUN_TO_RESUME", `there is no run ${branchName} to resume: drop --resume to start it`);
  // The sandbox is checked first, then the agent is built (and its configuration checked),
  // both before anything is written: a refusal, a bad option or a missing key leaves no run
  // behind that a retry would trip over, and an LLM agent is refused without a key or a call.
  const sandbox = o.sandbox ?? storedSandboxMode(run?.settings.sandbox) ?? "auto";
  const sandboxWarning = checkSandbox(authorOfAgent(o.agent.kind), sandbox, `the ${o.agent.kind} agent's train.ts`);
  const startCommit = run ? store.runHead(run.id) : (o.baseCommit ?? (await lab.branchHead("main")));
  if (!startCommit) throw new LabError("LAB_NOT_A_LAB", `the lab in ${ws.dir} has no main branch`);
  const agent = o.agentOverride ?? await createAgent(o.agent, o.org.programMd, await lab.trainTsAt(startCommit));
  const org = existingOrg ?? store.createOrg({ name: o.org.name, programMd: o.org.programMd });
  const devices = o.devices ?? [CPU_SLOT];
  if (!run) {
    // A branch without a run in the store is what a kill between the two steps leaves: take it.
    const { branch, head } = await lab.startBranch(o.tag, org.name, startCommit, { resume: true });
    run = store.createRun({
      tag: o.tag,
      orgId: org.id,
      branch,
      profile: o.profile,
      timeBudget: o.timeBudget,
      deviceKind: deviceInfo().kind,
      agent: o.agent.kind,
      ...(o.agent.model ? { model: o.agent.model } : {}),
      baseCommit: head,
      settings: {
        seed: o.seed,
        fixAttempts: o.fixAttempts ?? 2,
        devices: devices.map((d) => d.label),
        dataset: o.datasetDir,
        sandbox,
        launcher: launcherJson(ws.launcher.settings),
        ...(o.agent.baseURL ? { baseURL: o.agent.baseURL } : {}),
      },
    });
  } else {
    run = store.setRunStatus(run.id, "running");
  }

  // What a previous process left in flight is recorded as interrupted; the run branch and
  // every slot return to the store's head, which only moves when a keep is recorded.
  const slots = [];
  for (const device of devices) slots.push({ device, wt: await lab.addSlot(device.slot, run.branch) });
  const { recovered, interrupted } = await recoverInFlight(ws, run, devices, o.signal, o.onEvent);
  const head = store.runHead(run.id);
  await lab.resetBranch(run.branch, head);
  for (const { wt } of slots) await lab.recover(wt, head);
  // Built once, when the run first starts, and kept: a resumed run shows its agent the same
  // memory (a stable, cacheable prompt), and the report shows what the agent was given.
  let memory = parseResearchMemory(store.runMemory(run.id));
  if (memory === null) {
    memory = buildResearchMemory(store, { runId: run.id, orgId: org.id, ...(o.sharedMemory ? { sharedTournamentId: o.sharedMemory.tournamentId } : {}) });
    store.setRunMemory(run.id, memoryJson(memory));
  }
  return { run, slots, agent, sandbox, memory, interrupted, recovered, sandboxWarning };
}

/**
 * What a previous process left in flight. An experiment still only proposed never trained: it is
 * interrupted. One that was training asks the launcher after its job: finished (while nightshift
 * was away, or since: a running job is waited for) gives its result, never a second training;
 * lost (and every local training, which died with its process) is interrupted.
 */
async function recoverInFlight(
  ws: Workspace,
  run: Run,
  devices: DeviceSlot[],
  signal: AbortSignal | undefined,
  onEvent: LoopOptions["onEvent"],
): Promise<{ recovered: OpenedRun["recovered"]; interrupted: number }> {
  const { store } = ws;
  const left = store.inFlight(run.id);
  const training = left.filter((e) => e.status === "running" && e.commit !== null);
  if (training.length > 0 && ws.launcher.kind !== "local")
    onEvent?.({ kind: "warning", message: `${training.length} experiment${training.length === 1 ? " was" : "s were"} training when nightshift stopped: asking ${ws.launcher.describe()} what became of ${training.length === 1 ? "it" : "them"}` });
  const device = (e: Experiment) => slotDevice(devices.find((d) => d.slot === e.slot) ?? devices[0]!);
  const answers = await Promise.all(
    training.map(async (e) => {
      try {
        return { e, answer: await ws.launcher.recover(experimentJob(run, e, device(e)), signal) };
      } catch (err) {
        if (err instanceof RunnerError && err.code === "RUN_ABORTED") return { e, answer: { kind: "aborted" as const } };
        throw err;
      }
    }),
  );
  const recovered: OpenedRun["recovered"] = [];
  let interrupted = 0;
  for (const e of left) {
    const found = answers.find((a) => a.e.id === e.id)?.answer;
    if (found?.kind === "finished") recovered.push({ experiment: e, result: found.result });
    else {
      const why = found?.kind === "aborted" ? INTERRUPTED_BY_ABORT : found?.kind === "lost" && ws.launcher.kind !== "local" ? `${INTERRUPTED_BY_KILL} (${found.why})` : INTERRUPTED_BY_KILL;
      store.skipExperiment(e.id, why);
      interrupted++;
    }
  }
  return { recovered, interrupted };
}
