/**
 * The inner loop, autoresearch's as a tool: propose an edit to train.ts (agent) → commit it in
 * the lab → train it for the budget under the harness → keep (advance the run branch) or
 * discard → record everything in the store → repeat until a stop condition.
 *
 * - Slots: one worker per device slot, each with its own worktree and slot branch, all
 *   experimenting on the same run. A keep moves the run branch atomically (compare-and-swap);
 *   an experiment that beats the best but was built on a head that has since moved is not kept
 *   blind — its edits are requeued on the new head and measured again.
 * - Pipelining: while a slot trains, its next proposal is already being made against the
 *   current head, so the device does not wait on the agent. When the experiment in flight is
 *   kept, the prepared edits are re-applied to the new head (or, if they no longer apply, a
 *   fresh proposal is made and the unused one's cost is still recorded).
 * - The store is the source of truth: after a kill at any moment, `resume` records the
 *   experiments that were in flight as interrupted, puts the run branch back at the store's
 *   head and cleans every slot.
 */
import { join } from "node:path";
import { parseStrategy } from "../agents/strategy.ts";
import { parseResearchMemory } from "../agents/memory.ts";
import type { Agent, ResearchMemory } from "../agents/types.ts";
import { deviceInfo } from "../engine/index.ts";
import type { Profile } from "../harness/constants.ts";
import { RunnerError } from "../harness/runner/index.ts";
import type { ProgressSnapshot, SandboxMode } from "../harness/runner/index.ts";
import { LabError, type Worktree, labReadme, runBranchName } from "../lab/index.ts";
import type { Experiment, Run } from "../store/index.ts";
import { CodedError } from "../util/errors.ts";
import { type AgentChoice, createAgent } from "../agents/factory.ts";
import { type Answer, BASELINE, type Candidate, type CrashToFix, ask, materialize } from "./candidates.ts";
import type { DeviceSlot } from "../workspace/devices.ts";
import { decide } from "./keep-rule.ts";
import { buildResearchMemory, memoryJson } from "./memory.ts";
import type { OrgSource } from "../workspace/org.ts";
import { authorOfAgent, checkSandbox, storedSandboxMode } from "../workspace/sandbox.ts";
import type { Workspace } from "../workspace/workspace.ts";

export type LoopErrorCode = "RUN_EXISTS" | "NO_RUN_TO_RESUME" | "ORG_CHANGED" | "BASELINE_FAILED";

export class LoopError extends CodedError<LoopErrorCode> {}

export type LoopEvent =
  | { kind: "run"; run: Run; resumed: boolean; interrupted: number; slots: DeviceSlot[]; memory: ResearchMemory }
  | { kind: "proposing"; slot: number; fixing: boolean; speculative: boolean }
  | { kind: "training"; slot: number; seq: number; description: string }
  | { kind: "progress"; slot: number; seq: number; progress: ProgressSnapshot }
  | { kind: "finished"; slot: number; experiment: Experiment; best: number | null }
  | { kind: "skipped"; slot: number; experiment: Experiment }
  /** Something the user should know before the run goes on (train.ts trains unsandboxed). */
  | { kind: "warning"; message: string };

export interface LoopOptions {
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
  /** The commit a new run starts from (default: the lab's main). */
  baseCommit?: string;
  /** Where experiments train, one at a time per slot. Default: one CPU slot. */
  devices?: DeviceSlot[];
  /** Prepare the next proposal while an experiment trains (default true). */
  pipeline?: boolean;
  /** Stop after this many experiments (skipped proposals count) in this invocation. */
  experiments?: number;
  /** Stop once this many hours have passed (experiments in flight finish). */
  hours?: number;
  /** Stop proposing once the run's agent spending reaches this many US dollars. */
  maxCostUsd?: number;
  /** Proposals that try to fix a crash before moving on. */
  fixAttempts?: number;
  /** Seconds after which a training child is killed (default: the runner's, 1.5 × budget + 180 s). */
  hardLimit?: number;
  /**
   * Where every train.ts trains (the runner's sandbox option): "auto" sandboxes it when bubblewrap
   * works here, "off" never (the user's --no-sandbox). Undefined: a resumed run keeps the mode
   * stored with it, a new run takes "auto". The mode is stored in the run's settings. Either way
   * an LLM agent's run is refused before anything is written when the sandbox cannot run and the
   * mode is not "off" (SandboxRefusal, from ./sandbox.ts).
   */
  sandbox?: SandboxMode;
  /**
   * Besides the org's own and its ancestors' earlier runs, the research memory holds other
   * orgs' verified results of this tournament (the tournament's --shared-memory).
   */
  sharedMemory?: { tournamentId: number };
  /** Checked between experiments: true stops the loop gracefully. */
  stopRequested?: () => boolean;
  /** Aborting abandons the experiments in flight (recorded as interrupted). */
  signal?: AbortSignal;
  onEvent?: (event: LoopEvent) => void;
  /** An agent to use instead of building one from `agent` (tests, benchmarks). */
  agentOverride?: Agent;
}

export type StopReason = "experiments" | "hours" | "cost cap" | "stop requested" | "interrupted";

/** Stop reasons that end a run as "finished"; the others leave it "stopped". */
/**
 * Finished experiments a proposal shows its agent, newest first to go: more than an LLM
 * prompt's history share holds (which then trims), enough for the builtin agent's replay
 * (which stops at the first change it cannot read). Loading a fixed number keeps a
 * proposal's store read the same at experiment 20,000 as at 20.
 */
const HISTORY_ROWS = 300;

const REACHED_LIMIT: readonly StopReason[] = ["experiments", "hours", "cost cap"];

export interface LoopSummary {
  runId: number;
  branch: string;
  experiments: number;
  kept: number;
  best: number | null;
  stoppedBecause: StopReason;
  /** Wall-clock seconds of this invocation, and seconds the slots spent training (summed). */
  wallSeconds: number;
  trainingSeconds: number;
  slots: number;
}

const CPU_SLOT: DeviceSlot = { slot: 0, label: "cpu", env: {} };

/**
 * Runs the loop in an open workspace, which trains with the workspace's trainer (the tournament
 * runs several orgs' loops at once over one workspace, whose git calls it then serializes).
 */
export async function runLoop(ws: Workspace, options: LoopOptions): Promise<LoopSummary> {
  const driver = await RunDriver.start(ws, options);
  return await driver.drive();
}

class RunDriver {
  private head: string;
  private best: number | null;
  private readonly trainTsCache = new Map<string, string>();
  /** Candidates that beat the best on a head that had moved: measured again on the new one. */
  private readonly requeued: Candidate[] = [];
  private claimed = 0;
  private done = 0;
  private kept = 0;
  private proposals: number;
  private trainingMs = 0;
  private stopAsked = false;
  private baselineFailed = false;
  private readonly baselineDone: Promise<void>;
  private resolveBaseline!: () => void;
  /** Aborted by the user's signal or by a failing slot: every slot's training and agent call stop. */
  private readonly halt = new AbortController();
  private readonly deadline: number;
  private readonly startedAt = Date.now();

  private constructor(
    private readonly ws: Workspace,
    private readonly o: LoopOptions,
    private readonly run: Run,
    private readonly slots: { device: DeviceSlot; wt: Worktree }[],
    private readonly agent: Agent,
    private readonly threshold: number,
    private readonly readme: string,
    private readonly sandbox: SandboxMode,
    private readonly memory: ResearchMemory,
  ) {
    const { store } = ws;
    this.head = store.runHead(run.id);
    const experiments = store.listExperiments(run.id);
    this.best = bestKept(experiments);
    this.proposals = experiments.length + store.listAgentCalls(run.id).length;
    this.deadline = o.hours === undefined ? Number.POSITIVE_INFINITY : Date.now() + o.hours * 3600_000;
    this.baselineDone = new Promise((resolve) => (this.resolveBaseline = resolve));
    if (this.best !== null) this.resolveBaseline();
    if (o.signal) {
      if (o.signal.aborted) this.halt.abort();
      else o.signal.addEventListener("abort", () => this.halt.abort(), { once: true });
    }
  }

  /** Finds or creates the org and the run, and brings the lab back to the store's head. */
  static async start(ws: Workspace, o: LoopOptions): Promise<RunDriver> {
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
    const agent = o.agentOverride ?? createAgent(o.agent, o.org.programMd, await lab.trainTsAt(startCommit));
    const org = existingOrg ?? store.createOrg({ name: o.org.name, programMd: o.org.programMd });
    const devices = o.devices ?? [CPU_SLOT];
    if (!run) {
      const base = startCommit;
      // A branch without a run in the store is what a kill between the two steps leaves: take it.
      const { branch, head } = await lab.startBranch(o.tag, org.name, base, { resume: true });
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
    const interrupted = store.inFlight(run.id);
    for (const e of interrupted) store.skipExperiment(e.id, "interrupted: nightshift stopped while it was in flight");
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
    o.onEvent?.({ kind: "run", run, resumed: o.resume, interrupted: interrupted.length, slots: devices, memory });
    if (sandboxWarning) o.onEvent?.({ kind: "warning", message: sandboxWarning });

    const threshold = parseStrategy(o.org.programMd)?.simplicityThreshold ?? 0;
    const readme = labReadme({ profile: o.profile, timeBudget: o.timeBudget });
    return new RunDriver(ws, o, run, slots, agent, threshold, readme, sandbox, memory);
  }

  /**
   * Drives the loop, then records how the run ended: "finished" when it reached its limit
   * (experiments, hours or cost cap), "stopped" when a stop was asked, the user interrupted it
   * or it failed (a later --resume sets it running again). A killed process records nothing and
   * leaves the run "running", which is how --resume knows what a kill left.
   */
  async drive(): Promise<LoopSummary> {
    let summary: LoopSummary;
    try {
      summary = await this.driveSlots();
    } catch (err) {
      try {
        this.ws.store.setRunStatus(this.run.id, "stopped");
      } catch {
        // The store failing too: the loop's own error is the one to report.
      }
      throw err;
    }
    this.ws.store.setRunStatus(this.run.id, REACHED_LIMIT.includes(summary.stoppedBecause) ? "finished" : "stopped");
    return summary;
  }

  private async driveSlots(): Promise<LoopSummary> {
    const outcomes = await Promise.allSettled(
      this.slots.map((s) =>
        this.work(s.device, s.wt)
          .catch((err) => {
            this.halt.abort(); // one slot failing stops the others, which record what they had in flight
            throw err;
          })
          .finally(() => this.resolveBaseline()), // slots waiting for a baseline that never came stop too
      ),
    );
    for (const { wt } of this.slots) await this.ws.lab.recover(wt, this.head);
    const failed = outcomes.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    return {
      runId: this.run.id,
      branch: this.run.branch,
      experiments: this.done,
      kept: this.kept,
      best: this.best,
      stoppedBecause: this.stopReason() ?? "stop requested",
      wallSeconds: (Date.now() - this.startedAt) / 1000,
      trainingSeconds: this.trainingMs / 1000,
      slots: this.slots.length,
    };
  }

  private stopReason(): StopReason | null {
    if (this.halt.signal.aborted) return "interrupted";
    if (this.o.experiments !== undefined && this.claimed >= this.o.experiments) return "experiments";
    if (Date.now() >= this.deadline) return "hours";
    if (this.o.maxCostUsd !== undefined && this.ws.store.runCost(this.run.id).costUsd >= this.o.maxCostUsd) return "cost cap";
    // Sticky: the caller's check may consume its trigger (a STOP file is deleted when seen).
    this.stopAsked ||= this.o.stopRequested?.() === true;
    return this.stopAsked ? "stop requested" : null;
  }

  private emit(e: LoopEvent): void {
    this.o.onEvent?.(e);
  }

  private async trainTsAt(commit: string): Promise<string> {
    let text = this.trainTsCache.get(commit);
    if (text === undefined) {
      text = await this.ws.lab.trainTsAt(commit);
      this.trainTsCache.set(commit, text);
    }
    return text;
  }

  /** One proposal from the agent, against the current head (or a crash to fix). */
  private async ask(slot: number, crash: CrashToFix | null, signal: AbortSignal, speculative: boolean): Promise<Answer> {
    const head = { commit: this.head, trainTs: await this.trainTsAt(this.head) };
    this.emit({ kind: "proposing", slot, fixing: crash !== null, speculative });
    // Each proposal gets its own seed: two proposals over the same history must differ.
    const seed = (this.run.id * 1_000_003 + this.proposals++) % 2 ** 31;
    const recent = this.ws.store.recentHistory(this.run.id, HISTORY_ROWS);
    const history = recent.entries;
    return ask(
      this.agent,
      {
        programMd: this.o.org.programMd,
        labReadme: this.readme,
        memory: this.memory,
        history,
        historyOmitted: recent.total - history.length,
        seed,
        signal,
      },
      head,
      crash,
    );
  }

  /** A proposal made but never tried still cost something: the ledger keeps it. */
  private recordUnused(usage: Candidate["usage"], why: string): void {
    if (!usage || usage.calls === 0 || (usage.inputTokens === 0 && usage.outputTokens === 0 && usage.costUsd === 0)) return;
    const { model, calls, inputTokens, outputTokens, cacheReadTokens = 0, cacheWriteTokens = 0, costUsd } = usage;
    this.ws.store.recordAgentCall({ runId: this.run.id, purpose: "propose", model, calls, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, costUsd, ok: true, error: why });
  }

  /** One slot's loop: take a candidate, commit it on the current head, train, decide, record. */
  private async work(device: DeviceSlot, wt: Worktree): Promise<void> {
    const { store, lab } = this.ws;
    const slot = device.slot;
    const fixAttempts = this.o.fixAttempts ?? 2;
    const prefetchAbort = new AbortController();
    const prefetchSignal = AbortSignal.any([this.halt.signal, prefetchAbort.signal]);
    let prefetched: Promise<Answer> | null = null;
    let crash: CrashToFix | null = null;
    const nextAttempt = (c: CrashToFix | null): CrashToFix | null => (c && c.attempt < fixAttempts ? { ...c, attempt: c.attempt + 1 } : null);

    try {
      for (;;) {
        // The baseline sets the bar: the other slots wait for it.
        if (this.best === null && slot !== this.slots[0]!.device.slot) await this.baselineDone;
        if (this.baselineFailed || this.stopReason() !== null) break;
        this.claimed++;

        let answer: Answer;
        if (this.best === null) answer = { kind: "candidate", candidate: BASELINE(this.head) };
        else if (crash) answer = await this.ask(slot, crash, this.halt.signal, false);
        else if (this.requeued.length > 0) answer = { kind: "candidate", candidate: this.requeued.shift()! };
        else if (prefetched) {
          answer = await prefetched;
          prefetched = null;
        } else answer = await this.ask(slot, null, this.halt.signal, false);

        const head = this.head;
        if (answer.kind === "none") {
          const skipped = store.recordSkipped({ runId: this.run.id, slot, parentCommit: head, reason: answer.reason, usage: answer.usage, ...answer.fix });
          this.emit({ kind: "skipped", slot, experiment: skipped });
          this.done++;
          crash = null; // the agent gave up on this proposal (a fix included): move on
          continue;
        }
        const candidate = answer.candidate;
        const made = materialize(candidate, await this.trainTsAt(head));
        if ("error" in made) {
          if (candidate.proposedAt !== head) {
            // Prepared against a head that has moved on, and it does not fit the new one: no
            // experiment was lost, so ask again (the spent tokens stay on the ledger).
            this.recordUnused(candidate.usage, `unused: prepared on ${candidate.proposedAt.slice(0, 12)}, does not apply to the new head (${made.error.message})`);
            this.claimed--;
            continue;
          }
          const { description, hypothesis, usage, fix } = candidate;
          const skipped = store.recordSkipped({ runId: this.run.id, slot, parentCommit: head, description, hypothesis, reason: made.error.message, ...(usage ? { usage } : {}), ...fix });
          this.emit({ kind: "skipped", slot, experiment: skipped });
          this.done++;
          crash = nextAttempt(crash);
          continue;
        }

        const isBaseline = candidate.edits.length === 0;
        const { description, hypothesis, usage, fix } = candidate;
        const experiment = store.proposeExperiment({ runId: this.run.id, slot, parentCommit: head, description, hypothesis, ...(usage ? { usage } : {}), ...fix });
        let commit;
        try {
          await lab.recover(wt, head);
          commit = await lab.commitExperiment(wt, made.trainTs, description, { allowEmpty: isBaseline });
        } catch (err) {
          if (!(err instanceof LabError)) throw err;
          this.emit({ kind: "skipped", slot, experiment: store.skipExperiment(experiment.id, err.message) });
          this.done++;
          crash = nextAttempt(crash);
          continue;
        }
        const logPath = join(this.ws.logsDir, `run${this.run.id}-exp${experiment.seq}.log`);
        store.startExperiment(experiment.id, { commit: commit.commit, diff: commit.diff, seed: this.o.seed, logPath });
        this.emit({ kind: "training", slot, seq: experiment.seq, description });

        // Pipelining: the next proposal is made now, against the current head, on the bet that
        // this experiment is discarded (most are); a keep makes the loop re-apply it.
        if (this.o.pipeline !== false && prefetched === null) {
          prefetched = this.ask(slot, null, prefetchSignal, true);
          prefetched.catch(() => undefined); // awaited later; an abort before then is expected
        }

        let result;
        const trainingStart = Date.now();
        try {
          result = await this.ws.trainer({
            file: join(wt.path, "train.ts"),
            datasetDir: this.o.datasetDir,
            profile: this.o.profile,
            seed: this.o.seed,
            timeBudget: this.o.timeBudget,
            logFile: logPath,
            env: device.env,
            sandbox: this.sandbox,
            ...(this.o.hardLimit !== undefined ? { hardLimit: this.o.hardLimit } : {}),
            signal: this.halt.signal,
            onProgress: (progress) => this.emit({ kind: "progress", slot, seq: experiment.seq, progress }),
          });
        } catch (err) {
          if (err instanceof RunnerError && err.code === "RUN_ABORTED") {
            store.skipExperiment(experiment.id, "interrupted by the user");
            break;
          }
          throw err;
        } finally {
          this.trainingMs += Date.now() - trainingStart;
        }

        let { status, reason } = decide(result, this.best, isBaseline ? 0 : this.threshold);
        if (status === "keep") {
          if (commit.parent === this.head) {
            await lab.advanceBranch(this.run.branch, commit.parent, commit.commit);
            this.head = commit.commit;
            this.best = result.summary!.val_bpb;
            this.kept++;
          } else {
            // It beat the best, but on a head another slot has since replaced: measure its edits
            // again on the new head rather than keep a combination nobody ran.
            status = "discard";
            reason = `val_bpb ${result.summary!.val_bpb.toFixed(6)} beat the best, but the head moved while it trained: its edits are requeued on the new head`;
            this.requeued.push({ edits: candidate.edits, description: `${description} (again, on the new head)`, hypothesis, proposedAt: commit.parent });
          }
        }
        const finished = store.finishExperiment(experiment.id, { status, result, ...(reason ? { reason } : {}) });
        this.emit({ kind: "finished", slot, experiment: finished, best: this.best });
        this.done++;

        if (isBaseline) {
          if (status === "crash" || status === "invalid") {
            this.baselineFailed = true;
            this.resolveBaseline();
            throw new LoopError("BASELINE_FAILED", `the unchanged train.ts does not run (${reason}); see ${logPath}`);
          }
          this.resolveBaseline();
        }
        // Only a crash gets fix attempts: an invalid model (the evaluator caught it cheating) ran
        // as written, and asking the agent to "fix" it would ask for a cheat the probes miss.
        const attempt: number = (crash?.attempt ?? 0) + 1;
        crash =
          status === "crash" && attempt <= fixAttempts
            ? { experimentId: experiment.id, edits: candidate.edits, trainTs: made.trainTs, logTail: result.logTail, attempt }
            : null;
      }
    } finally {
      // A prepared proposal nobody will use: stop it, and keep what it cost on the ledger.
      if (prefetched) {
        prefetchAbort.abort();
        const unused = await prefetched.catch(() => null);
        if (unused?.kind === "candidate") this.recordUnused(unused.candidate.usage, "unused: the loop stopped before trying it");
        else if (unused?.kind === "none") this.recordUnused(unused.usage, `unused: ${unused.reason}`);
      }
    }
  }
}

function bestKept(experiments: Experiment[]): number | null {
  let best: number | null = null;
  for (const e of experiments) if (e.status === "keep" && e.summary) best = e.summary.val_bpb;
  return best;
}
