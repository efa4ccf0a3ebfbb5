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
import { parseStrategy } from "../agents/strategy.ts";
import type { Agent, ResearchMemory } from "../agents/types.ts";
import type { SandboxMode } from "../harness/runner/index.ts";
import type { RunResult } from "../harness/types.ts";
import { type Worktree, labReadme } from "../lab/index.ts";
import type { Experiment, Run } from "../store/index.ts";
import type { DeviceSlot } from "../workspace/devices.ts";
import type { Workspace } from "../workspace/workspace.ts";
import { type Answer, BASELINE, type Candidate, type CrashToFix, ask } from "./candidates.ts";
import { type Trial, type TrialContext, tryCandidate } from "./experiment.ts";
import { decide } from "./keep-rule.ts";
import { LoopError, type LoopEvent, type LoopOptions, type LoopSummary, type StopReason } from "./loop-types.ts";
import { openRun } from "./run-start.ts";

export { LoopError, type LoopErrorCode, type LoopEvent, type LoopOptions, type LoopSummary, type StopReason } from "./loop-types.ts";

/**
 * Finished experiments a proposal shows its agent, newest first to go: more than an LLM
 * prompt's history share holds (which then trims), enough for the builtin agent's replay
 * (which stops at the first change it cannot read). Loading a fixed number keeps a
 * proposal's store read the same at experiment 20,000 as at 20.
 */
const HISTORY_ROWS = 300;

/** Stop reasons that end a run as "finished"; the others leave it "stopped". */
const REACHED_LIMIT: readonly StopReason[] = ["experiments", "hours", "cost cap"];

/**
 * Runs the loop in an open workspace, which trains with the workspace's trainer (the tournament
 * runs several orgs' loops at once over one workspace, whose git calls it then serializes).
 */
export async function runLoop(ws: Workspace, options: LoopOptions): Promise<LoopSummary> {
  const opened = await openRun(ws, options);
  options.onEvent?.({ kind: "run", run: opened.run, resumed: options.resume, interrupted: opened.interrupted, slots: opened.slots.map((s) => s.device), memory: opened.memory });
  if (opened.sandboxWarning) options.onEvent?.({ kind: "warning", message: opened.sandboxWarning });
  const threshold = parseStrategy(options.org.programMd)?.simplicityThreshold ?? 0;
  const readme = labReadme({ profile: options.profile, timeBudget: options.timeBudget });
  return new Scheduler(ws, options, opened.run, opened.slots, opened.agent, threshold, readme, opened.sandbox, opened.memory).drive(opened.recovered);
}

/** What one slot carries from one experiment to the next. */
interface SlotState {
  /** A proposal prepared while the last experiment trained (pipelining), not yet taken. */
  prefetched: Promise<Answer> | null;
  /** The crash the next proposal should fix, and which attempt that is. */
  crash: CrashToFix | null;
}

/**
 * The run's scheduler: which candidate each slot trains next, when the run stops, and what a
 * result does to the run (the keep rule, the branch's compare-and-swap, requeues, fixes). One
 * experiment's mechanics (commit, train) are experiment.ts's.
 */
class Scheduler {
  private head: string;
  private best: number | null;
  private readonly trainTsCache = new Map<string, string>();
  /** Candidates that beat the best on a head that had moved: measured again on the new one. */
  private readonly requeued: Candidate[] = [];
  /** Experiments taken by a slot in this invocation (the --experiments limit), and settled. */
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

  constructor(
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

  /**
   * Drives the slots, then records how the run ended: "finished" when it reached its limit
   * (experiments, hours or cost cap), "stopped" when a stop was asked, the user interrupted it
   * or it failed (a later --resume sets it running again). A killed process records nothing and
   * leaves the run "running", which is how --resume knows what a kill left.
   */
  async drive(recovered: { experiment: Experiment; result: RunResult }[] = []): Promise<LoopSummary> {
    let summary: LoopSummary;
    try {
      await this.settleRecovered(recovered);
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
      { programMd: this.o.org.programMd, labReadme: this.readme, memory: this.memory, history, historyOmitted: recent.total - history.length, seed, signal },
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

  /** Whether this slot takes another experiment; the baseline sets the bar, so the other slots wait for it. */
  private async mayContinue(slot: number): Promise<boolean> {
    if (this.best === null && slot !== this.slots[0]!.device.slot) await this.baselineDone;
    return !this.baselineFailed && this.stopReason() === null;
  }

  /** What the slot tries next: the baseline, a fix, a requeued candidate, the prepared proposal or a new one. */
  private async next(slot: number, state: SlotState): Promise<Answer> {
    if (this.best === null) return { kind: "candidate", candidate: BASELINE(this.head) };
    if (state.crash) return this.ask(slot, state.crash, this.halt.signal, false);
    if (this.requeued.length > 0) return { kind: "candidate", candidate: this.requeued.shift()! };
    if (state.prefetched) {
      const answer = await state.prefetched;
      state.prefetched = null;
      return answer;
    }
    return this.ask(slot, null, this.halt.signal, false);
  }

  /** One slot's loop: take a candidate, try it on the current head, settle what happened. */
  private async work(device: DeviceSlot, wt: Worktree): Promise<void> {
    const slot = device.slot;
    const fixAttempts = this.o.fixAttempts ?? 2;
    const prefetchAbort = new AbortController();
    const prefetchSignal = AbortSignal.any([this.halt.signal, prefetchAbort.signal]);
    const state: SlotState = { prefetched: null, crash: null };
    const trial: TrialContext = {
      ws: this.ws,
      run: this.run,
      options: this.o,
      sandbox: this.sandbox,
      device,
      wt,
      signal: this.halt.signal,
      onTraining: (experiment) => {
        this.emit({ kind: "training", slot, seq: experiment.seq, description: experiment.description });
        // Pipelining: the next proposal is made now, against the current head, on the bet that
        // this experiment is discarded (most are); a keep makes the loop re-apply it.
        if (this.o.pipeline !== false && state.prefetched === null) {
          state.prefetched = this.ask(slot, null, prefetchSignal, true);
          state.prefetched.catch(() => undefined); // awaited later; an abort before then is expected
        }
      },
      onProgress: (seq, progress) => this.emit({ kind: "progress", slot, seq, progress }),
      onTrained: (ms) => (this.trainingMs += ms),
    };
    const nextAttempt = (c: CrashToFix | null): CrashToFix | null => (c && c.attempt < fixAttempts ? { ...c, attempt: c.attempt + 1 } : null);

    try {
      while (await this.mayContinue(slot)) {
        this.claimed++;
        const answer = await this.next(slot, state);
        const head = this.head;
        if (answer.kind === "none") {
          // The agent gave up on this proposal (a fix included): record it and move on.
          const skipped = this.ws.store.recordSkipped({ runId: this.run.id, slot, parentCommit: head, reason: answer.reason, usage: answer.usage, ...answer.fix });
          this.settleSkipped(slot, skipped);
          state.crash = null;
          continue;
        }
        const candidate = answer.candidate;
        const outcome = await tryCandidate(trial, candidate, head, await this.trainTsAt(head));
        switch (outcome.kind) {
          case "stale":
            // No experiment was lost: ask again (the spent tokens stay on the ledger).
            this.recordUnused(candidate.usage, `unused: ${outcome.why}`);
            this.claimed--;
            break;
          case "skipped":
            this.settleSkipped(slot, outcome.experiment);
            state.crash = nextAttempt(state.crash);
            break;
          case "interrupted":
            return;
          case "trained":
            state.crash = await this.settleTrained(slot, candidate, outcome, fixAttempts, state.crash);
            break;
        }
      }
    } finally {
      // A prepared proposal nobody will use: stop it, and keep what it cost on the ledger.
      if (state.prefetched) {
        prefetchAbort.abort();
        const unused = await state.prefetched.catch(() => null);
        if (unused?.kind === "candidate") this.recordUnused(unused.candidate.usage, "unused: the loop stopped before trying it");
        else if (unused?.kind === "none") this.recordUnused(unused.usage, `unused: ${unused.reason}`);
      }
    }
  }

  /**
   * Results of trainings a killed process left in flight, whose jobs finished anyway: judged by
   * the keep rule like any other, in the order they were proposed. One built on a head that has
   * moved since is discarded with the reason, not kept blind (its edits are not at hand to
   * measure again). They count against no limit of this invocation.
   */
  private async settleRecovered(recovered: { experiment: Experiment; result: RunResult }[]): Promise<void> {
    for (const { experiment, result } of [...recovered].sort((a, b) => a.experiment.seq - b.experiment.seq)) {
      const isBaseline = this.best === null && (experiment.diff ?? "").trim() === "";
      let { status, reason } = decide(result, this.best, isBaseline ? 0 : this.threshold);
      if (status === "keep") {
        if (experiment.parentCommit === this.head && experiment.commit !== null) {
          await this.ws.lab.advanceBranch(this.run.branch, experiment.parentCommit, experiment.commit);
          this.head = experiment.commit;
          this.best = result.summary!.val_bpb;
          this.kept++;
        } else {
          status = "discard";
          reason = `val_bpb ${result.summary!.val_bpb.toFixed(6)} beat the best, but it finished after a kill on a head that has moved since: not kept blind`;
        }
      }
      const finished = this.ws.store.finishExperiment(experiment.id, { status, result, ...(reason ? { reason } : {}) });
      this.emit({ kind: "finished", slot: experiment.slot, experiment: finished, best: this.best });
      if (isBaseline && (status === "crash" || status === "invalid")) {
        this.baselineFailed = true;
        this.resolveBaseline();
        throw new LoopError("BASELINE_FAILED", `the unchanged train.ts does not run (${reason}); see ${experiment.logPath ?? "its log"}`);
      }
      if (this.best !== null) this.resolveBaseline();
    }
  }

  private settleSkipped(slot: number, experiment: Experiment): void {
    this.emit({ kind: "skipped", slot, experiment });
    this.done++;
  }

  /**
   * What a trained experiment does to the run: the keep rule against the best, the branch moved
   * by compare-and-swap (a win on a head that moved meanwhile is requeued, not kept blind), the
   * result recorded. Returns the crash the slot's next proposal should fix, if any.
   */
  private async settleTrained(slot: number, candidate: Candidate, t: Extract<Trial, { kind: "trained" }>, fixAttempts: number, crash: CrashToFix | null): Promise<CrashToFix | null> {
    const { experiment, commit, result } = t;
    const isBaseline = candidate.edits.length === 0;
    let { status, reason } = decide(result, this.best, isBaseline ? 0 : this.threshold);
    if (status === "keep") {
      if (commit.parent === this.head) {
        // The head moves before the git call: another slot settling during it must see the
        // move (and requeue), not compare against the old head and fail the branch's CAS.
        this.head = commit.commit;
        this.best = result.summary!.val_bpb;
        this.kept++;
        await this.ws.lab.advanceBranch(this.run.branch, commit.parent, commit.commit);
      } else {
        // It beat the best, but on a head another slot has since replaced: measure its edits
        // again on the new head rather than keep a combination nobody ran.
        status = "discard";
        reason = `val_bpb ${result.summary!.val_bpb.toFixed(6)} beat the best, but the head moved while it trained: its edits are requeued on the new head`;
        this.requeued.push({ edits: candidate.edits, description: `${candidate.description} (again, on the new head)`, hypothesis: candidate.hypothesis, proposedAt: commit.parent });
      }
    }
    const finished = this.ws.store.finishExperiment(experiment.id, { status, result, ...(reason ? { reason } : {}) });
    this.emit({ kind: "finished", slot, experiment: finished, best: this.best });
    this.done++;

    if (isBaseline) {
      if (status === "crash" || status === "invalid") {
        this.baselineFailed = true;
        this.resolveBaseline();
        throw new LoopError("BASELINE_FAILED", `the unchanged train.ts does not run (${reason}); see ${t.logPath}`);
      }
      this.resolveBaseline();
    }
    // Only a crash gets fix attempts: an invalid model (the evaluator caught it cheating) ran
    // as written, and asking the agent to "fix" it would ask for a cheat the probes miss.
    const attempt = (crash?.attempt ?? 0) + 1;
    return status === "crash" && attempt <= fixAttempts ? { experimentId: experiment.id, edits: candidate.edits, trainTs: t.trainTs, logTail: result.logTail, attempt } : null;
  }
}

function bestKept(experiments: Experiment[]): number | null {
  let best: number | null = null;
  for (const e of experiments) if (e.status === "keep" && e.summary) best = e.summary.val_bpb;
  return best;
}
