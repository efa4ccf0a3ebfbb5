/**
 * The inner loop, autoresearch's as a tool: propose an edit to train.ts (agent) → commit it in
 * the lab → train it for the budget under the harness → keep (advance the branch) or discard
 * (reset) → record everything in the store → repeat until a stop condition. The store is the
 * source of truth: after a kill at any moment, `resume` marks the experiment that was in flight
 * as interrupted and returns the lab to the last recorded head.
 *
 * This version drives one device slot and waits for each proposal (pipelining comes next).
 */
import { join } from "node:path";
import { EditError, applyEdits } from "../agents/edits.ts";
import { parseStrategy } from "../agents/strategy.ts";
import type { Agent } from "../agents/types.ts";
import { deviceInfo } from "../engine/index.ts";
import type { Profile } from "../harness/constants.ts";
import { RunnerError, runTrain } from "../harness/runner/index.ts";
import type { ProgressSnapshot } from "../harness/runner/index.ts";
import { LabError, labReadme, runBranchName } from "../lab/index.ts";
import type { Experiment, Run } from "../store/index.ts";
import { type AgentChoice, createAgent } from "./agent-factory.ts";
import { decide } from "./keep-rule.ts";
import type { OrgSource } from "./org.ts";
import { type Workspace, openWorkspace } from "./workspace.ts";
import { CodedError } from "../util/errors.ts";

export type LoopErrorCode = "RUN_EXISTS" | "NO_RUN_TO_RESUME" | "ORG_CHANGED" | "BASELINE_FAILED";

export class LoopError extends CodedError<LoopErrorCode> {}

export type LoopEvent =
  | { kind: "run"; run: Run; resumed: boolean; interrupted: number }
  | { kind: "proposing"; seq: number; fixing: boolean }
  | { kind: "training"; seq: number; description: string }
  | { kind: "progress"; progress: ProgressSnapshot }
  | { kind: "finished"; experiment: Experiment; best: number | null }
  | { kind: "skipped"; experiment: Experiment };

export interface LoopOptions {
  workspace: string;
  org: OrgSource;
  agent: AgentChoice;
  profile: Profile;
  timeBudget: number;
  datasetDir: string;
  /** Names the run: its branch is nightshift/<tag>/<org>. */
  tag: string;
  /** The harness seed of every experiment: parent and candidate share init and data order. */
  seed: number;
  resume: boolean;
  /** Stop after this many experiments (skipped proposals count) in this invocation. */
  experiments?: number;
  /** Stop once this many hours have passed (the experiment in flight finishes). */
  hours?: number;
  /** Proposals that try to fix a crash before moving on. */
  fixAttempts?: number;
  /** Checked between experiments: true stops the loop gracefully. */
  stopRequested?: () => boolean;
  /** Aborting abandons the experiment in flight (recorded as interrupted). */
  signal?: AbortSignal;
  onEvent?: (event: LoopEvent) => void;
  /** An agent to use instead of building one from `agent` (tests). */
  agentOverride?: Agent;
}

export interface LoopSummary {
  runId: number;
  branch: string;
  experiments: number;
  kept: number;
  best: number | null;
  stoppedBecause: "experiments" | "hours" | "stop requested" | "interrupted";
}

export async function runLoop(options: LoopOptions): Promise<LoopSummary> {
  const ws = await openWorkspace(options.workspace, options.profile);
  try {
    return await drive(ws, options);
  } finally {
    ws.store.close();
  }
}

async function drive(ws: Workspace, o: LoopOptions): Promise<LoopSummary> {
  const { store, lab } = ws;
  const emit = (e: LoopEvent) => o.onEvent?.(e);
  const org = store.getOrgByName(o.org.name) ?? store.createOrg({ name: o.org.name, programMd: o.org.programMd });
  if (org.programMd !== o.org.programMd)
    throw new LoopError(
      "ORG_CHANGED",
      `org '${o.org.name}' already exists in this workspace with a different program.md: name the changed org differently (its directory) or use another --workspace`,
    );

  const branchName = runBranchName(o.tag, org.name);
  let run = store.findRunByBranch(branchName);
  if (run && !o.resume)
    throw new LoopError("RUN_EXISTS", `run ${branchName} already exists: pass --resume to continue it, or --tag to start a new one`);
  if (!run && o.resume) throw new LoopError("NO_RUN_TO_RESUME", `there is no run ${branchName} to resume: drop --resume to start it`);
  if (!run) {
    const base = await lab.branchHead("main");
    if (!base) throw new LabError("LAB_NOT_A_LAB", `the lab in ${ws.dir} has no main branch`);
    const { branch, head } = await lab.startBranch(o.tag, org.name, base);
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
      settings: { seed: o.seed, fixAttempts: o.fixAttempts ?? 2, ...(o.agent.baseURL ? { baseURL: o.agent.baseURL } : {}) },
    });
  } else {
    run = store.setRunStatus(run.id, "running");
  }

  // Whatever a previous process left in flight is recorded as interrupted; the lab returns to
  // the store's head, which only moves when a keep is recorded.
  const wt = await lab.addWorktree(0, run.branch);
  const interrupted = store.inFlight(run.id);
  for (const e of interrupted) store.skipExperiment(e.id, "interrupted: nightshift stopped while it was in flight");
  await lab.recover(wt, store.runHead(run.id));
  emit({ kind: "run", run, resumed: o.resume, interrupted: interrupted.length });

  const agent = o.agentOverride ?? createAgent(o.agent, o.org.programMd, await lab.readTrainTs(wt));
  const threshold = parseStrategy(o.org.programMd)?.simplicityThreshold ?? 0;
  const readme = labReadme({ profile: o.profile, timeBudget: o.timeBudget });
  const fixAttempts = o.fixAttempts ?? 2;
  const deadline = o.hours === undefined ? Number.POSITIVE_INFINITY : Date.now() + o.hours * 3600_000;

  let best = bestKept(store.listExperiments(run.id));
  let done = 0;
  let kept = 0;
  let crashed: { id: number; trainTs: string; logTail: string; attempt: number } | null = null;
  const stop = (): LoopSummary["stoppedBecause"] | null => {
    if (o.signal?.aborted) return "interrupted";
    if (o.experiments !== undefined && done >= o.experiments) return "experiments";
    if (Date.now() >= deadline) return "hours";
    if (o.stopRequested?.()) return "stop requested";
    return null;
  };

  for (let because = stop(); because === null; because = stop()) {
    const parent = await lab.headCommit(wt);
    const current = await lab.readTrainTs(wt);
    let description: string;
    let hypothesis: string;
    let newTs: string;
    let usage = undefined as Parameters<typeof store.proposeExperiment>[0]["usage"];
    const fix = crashed ? { fixAttempt: crashed.attempt, fixOf: crashed.id } : {};
    if (best === null) {
      // The first experiment of a run measures the unchanged train.ts: it sets the bar.
      description = "baseline";
      hypothesis = "the unchanged train.ts sets the bar the run must beat";
      newTs = current;
    } else {
      const proposed = store.listExperiments(run.id).length;
      emit({ kind: "proposing", seq: proposed + 1, fixing: crashed !== null });
      // Each proposal gets its own seed: two proposals over the same history must differ.
      const proposalSeed = (run.id * 1_000_003 + proposed) % 2 ** 31;
      const base = crashed?.trainTs ?? current;
      const answer = await agent.propose({
        programMd: o.org.programMd,
        trainTs: base,
        labReadme: readme,
        history: store.runHistory(run.id),
        seed: proposalSeed,
        ...(crashed ? { crashLog: crashed.logTail } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (!answer.proposal) {
        const skipped = store.recordSkipped({ runId: run.id, parentCommit: parent, reason: answer.error ?? "the agent made no proposal", usage: answer.usage, ...fix });
        emit({ kind: "skipped", experiment: skipped });
        done++;
        crashed = null;
        continue;
      }
      ({ description, hypothesis } = answer.proposal);
      usage = answer.usage;
      try {
        newTs = applyEdits(base, answer.proposal.edits);
      } catch (err) {
        if (!(err instanceof EditError)) throw err;
        const skipped = store.recordSkipped({ runId: run.id, parentCommit: parent, description, hypothesis, reason: err.message, usage, ...fix });
        emit({ kind: "skipped", experiment: skipped });
        done++;
        continue;
      }
    }

    const experiment = store.proposeExperiment({ runId: run.id, parentCommit: parent, description, hypothesis, ...(usage ? { usage } : {}), ...fix });
    let commit;
    try {
      commit = await lab.commitExperiment(wt, newTs, description, { allowEmpty: description === "baseline" });
    } catch (err) {
      if (!(err instanceof LabError)) throw err;
      emit({ kind: "skipped", experiment: store.skipExperiment(experiment.id, err.message) });
      done++;
      continue;
    }
    const logPath = join(ws.logsDir, `run${run.id}-exp${experiment.seq}.log`);
    store.startExperiment(experiment.id, { commit: commit.commit, diff: commit.diff, seed: o.seed, logPath });
    emit({ kind: "training", seq: experiment.seq, description });

    let result;
    try {
      result = await runTrain({
        file: join(wt.path, "train.ts"),
        datasetDir: o.datasetDir,
        profile: o.profile,
        seed: o.seed,
        timeBudget: o.timeBudget,
        logFile: logPath,
        ...(o.signal ? { signal: o.signal } : {}),
        onProgress: (progress) => emit({ kind: "progress", progress }),
      });
    } catch (err) {
      if (err instanceof RunnerError && err.code === "RUN_ABORTED") {
        await lab.discard(wt, commit.parent);
        store.skipExperiment(experiment.id, "interrupted by the user");
        return summary(run, done, kept, best, "interrupted");
      }
      throw err;
    }

    const decision = decide(result, best, description === "baseline" ? 0 : threshold);
    if (decision.status === "keep") {
      await lab.keep(wt, commit.commit);
      best = result.summary!.val_bpb;
      kept++;
    } else {
      await lab.discard(wt, commit.parent);
    }
    const finished = store.finishExperiment(experiment.id, {
      status: decision.status,
      result,
      ...(decision.reason ? { reason: decision.reason } : {}),
    });
    emit({ kind: "finished", experiment: finished, best });
    done++;

    if (description === "baseline" && decision.status === "crash")
      throw new LoopError("BASELINE_FAILED", `the unchanged train.ts does not run (${decision.reason}); see ${logPath}`);
    const attempt: number = (crashed?.attempt ?? 0) + 1;
    crashed =
      decision.status === "crash" && attempt <= fixAttempts
        ? { id: experiment.id, trainTs: newTs, logTail: result.logTail, attempt }
        : null;
  }
  return summary(run, done, kept, best, stop() ?? "stop requested");
}

function bestKept(experiments: Experiment[]): number | null {
  let best: number | null = null;
  for (const e of experiments) if (e.status === "keep" && e.summary) best = e.summary.val_bpb;
  return best;
}

function summary(run: Run, experiments: number, kept: number, best: number | null, stoppedBecause: LoopSummary["stoppedBecause"]): LoopSummary {
  return { runId: run.id, branch: run.branch, experiments, kept, best, stoppedBecause };
}
