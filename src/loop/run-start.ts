/**
 * Opening a run for the loop: find or create the org and the run, check the sandbox and build
 * the agent before anything is written, and bring the lab back to the store's head (what a
 * kill left in flight is recorded as interrupted). The research memory is built when the run
 * first starts and kept.
 */
import { parseResearchMemory } from "../agents/memory.ts";
import type { Agent, ResearchMemory } from "../agents/types.ts";
import { deviceInfo } from "../engine/index.ts";
import type { SandboxMode } from "../harness/runner/index.ts";
import { LabError, type Worktree, runBranchName } from "../lab/index.ts";
import type { Run } from "../store/index.ts";
import { createAgent } from "../agents/factory.ts";
import type { DeviceSlot } from "../workspace/devices.ts";
import { authorOfAgent, checkSandbox, storedSandboxMode } from "../workspace/sandbox.ts";
import type { Workspace } from "../workspace/workspace.ts";
import { INTERRUPTED_BY_KILL } from "./interrupted.ts";
import { type LoopOptions, LoopError } from "./loop-types.ts";
import { buildResearchMemory, memoryJson } from "./memory.ts";

export interface OpenedRun {
  run: Run;
  slots: { device: DeviceSlot; wt: Worktree }[];
  agent: Agent;
  sandbox: SandboxMode;
  memory: ResearchMemory;
  /** Experiments a previous process left in flight, now recorded as interrupted. */
  interrupted: number;
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
  const leftInFlight = store.inFlight(run.id);
  for (const e of leftInFlight) store.skipExperiment(e.id, INTERRUPTED_BY_KILL);
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
  return { run, slots, agent, sandbox, memory, interrupted: leftInFlight.length, sandboxWarning };
}
