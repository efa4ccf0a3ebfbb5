/**
 * One night of a tournament, as a state machine over the store (nights.status):
 *   allocating  rounds of allocations (allocation.ts); a pool of device slots runs them, each
 *               slot taking the next pending allocation, so no slot idles while work is left.
 *               An allocation runs the org's inner loop on its own run (tag <tournament>-n<k>,
 *               from the night's base) for granted − already done experiments, so a resumed
 *               allocation neither repeats nor skips one.
 *   verifying   each org's best (its run head, when it kept anything after the baseline) is
 *               verified against the night's base with paired seeds, BH across the night's
 *               claims; score = verified gain per device-hour; all recorded in one transaction
 *               with the new champion (only on a real gain that passes the champion level,
 *               by its p-value or by a test at that level on seeds of its own).
 *   evolving    the best breed, the worst retire (evolve.ts), one transaction.
 * Every step is recorded before the next begins, so a kill loses at most the experiment or the
 * verification training in flight (measurements are reused).
 */
import { basename } from "node:path";
import { INTERRUPTED, isInterrupted } from "../loop/interrupted.ts";
import { ProgressCounter } from "../util/progress.ts";
import { LoopError, runLoop } from "../loop/loop.ts";
import type { DeviceSlot } from "../workspace/devices.ts";
import type { Workspace } from "../workspace/workspace.ts";
import { runBranchName } from "../lab/index.ts";
import { deviceInfo } from "../engine/index.ts";
import type { MeasureSetup } from "../verification/measure.ts";
import { type Thresholds, verificationThresholds } from "../verification/thresholds.ts";
import { confirmationOf, creditedGain } from "../verification/confirm.ts";
import { baselineOf, claimsOf } from "../verification/claims.ts";
import { type ClaimAgainst, championTest, judgeClaims } from "../verification/verify.ts";
import { parseStrategy } from "../agents/strategy.ts";
import type { Allocation, Experiment, ExperimentBrief, ExperimentCounts, NewNightResult, NewVerification, Night, Tournament } from "../store/index.ts";
import { type OrgProgress, allocateRound } from "./allocation.ts";
import { breedNight } from "./evolve.ts";
import { DEFAULT_CHAMPION_ALPHA, type TournamentSettings } from "./settings.ts";

export interface NightContext {
  ws: Workspace;
  tournament: Tournament;
  settings: TournamentSettings;
  slots: DeviceSlot[];
  stopRequested: () => boolean;
  signal?: AbortSignal;
  log: (line: string) => void;
}

export type NightOutcome = "finished" | "stopped";

export const nightTag = (tournament: string, night: number) => `${tournament}-n${night}`;

/** Experiments of a run that count against its grants: finished ones, not those a stop interrupted. */
export function countedExperiments(experiments: readonly Pick<Experiment, "status" | "reason">[]): number {
  return experiments.filter((e) => e.status !== "proposed" && e.status !== "running" && !isInterrupted(e)).length;
}

/** countedExperiments from the store's counts (what the allocation loop reads each step). */
function countedOf(counts: ExperimentCounts): number {
  return counts.total - counts.proposed - counts.running - counts.skippedWithPrefix;
}

/**
 * Baseline val_bpb − best kept val_bpb (0 until something after the baseline is kept). The
 * baseline is the first keep (claims.ts), which a kill during the first one moves past seq 1.
 */
export function claimedGain(experiments: readonly Pick<ExperimentBrief, "id" | "status" | "seq" | "valBpb">[]): number {
  const baseline = baselineOf(experiments);
  const claims = claimsOf(experiments).filter((e) => e.valBpb !== null);
  if (!baseline || baseline.valBpb === null || claims.length === 0) return 0;
  const best = claims.reduce((m, e) => Math.min(m, e.valBpb!), Infinity);
  return Math.max(0, baseline.valBpb - best);
}

/** Seconds the run's experiments held a device (start to finish of each training). */
export function deviceSeconds(experiments: readonly Pick<Experiment, "startedAt" | "finishedAt">[]): number {
  let s = 0;
  for (const e of experiments) if (e.startedAt && e.finishedAt) s += (Date.parse(e.finishedAt) - Date.parse(e.startedAt)) / 1000;
  return s;
}

export async function runNight(c: NightContext, night: Night): Promise<NightOutcome> {
  const { store } = c.ws;
  let current = night;
  if (current.status === "allocating") {
    if ((await allocate(c, current)) === "stopped") return "stopped";
    current = store.endAllocating(current.id);
  }
  if (current.status === "verifying") {
    try {
      await verifyNight(c, current);
    } catch (err) {
      // A stop asked during verification: the night stays "verifying", and resume re-verifies
      // from the measurements already stored.
      if (err instanceof StopBeforeTraining) return "stopped";
      throw err;
    }
    current = { ...current, status: "evolving" };
  }
  if (current.status === "evolving") {
    const t = store.getTournament(c.tournament.id);
    const plan = await breedNight({
      store,
      tournament: t,
      night: current,
      settings: c.settings,
      trainTs: await c.ws.lab.trainTsAt(t.championCommit),
      log: c.log,
      ...(c.signal ? { signal: c.signal } : {}),
    });
    const children = store.evolveNight(current.id, plan);
    for (const child of children) c.log(`night ${current.number}: bred ${child.name} from ${store.getOrg(child.parentId!).name} (${child.mutationNote})`);
    for (const id of current.number < t.nights ? plan.retire : []) c.log(`night ${current.number}: retired ${store.getOrg(id).name}`);
  }
  return "finished";
}

/** What the night's agent budget has left, and what this org's run has spent of it (none: no cap). */
function costLeft(c: NightContext, night: Night, runId: number | undefined): { left: number; spentByRun: number } | undefined {
  const cap = c.settings.maxCostPerNight;
  if (cap === undefined) return undefined;
  const { store } = c.ws;
  const tag = nightTag(c.tournament.name, night.number);
  const spent = store.listRuns().filter((r) => r.tag === tag).reduce((sum, r) => sum + store.runCost(r.id).costUsd, 0);
  return { left: cap - spent, spentByRun: runId === undefined ? 0 : store.runCost(runId).costUsd };
}

/** Thrown by the verification's training hook when a stop was asked: nothing is trained further. */
class StopBeforeTraining extends Error {}

// ---- allocating --------------------------------------------------------------------------------

async function allocate(c: NightContext, night: Night): Promise<NightOutcome> {
  const { store } = c.ws;
  const progress = new ProgressCounter(c.settings.experimentsPerNight, countedInNight(c, night));
  for (;;) {
    if (c.stopRequested()) return "stopped";
    const allocations = store.listAllocations(night.id);
    const open = allocations.filter((a) => a.status !== "done");
    if (open.length === 0) {
      const round = allocations.length === 0 ? 0 : Math.max(...allocations.map((a) => a.round)) + 1;
      const grants = allocateRound(c.settings.allocation, c.settings.experimentsPerNight, round, progressOf(c, night, allocations));
      if (!grants) return "finished";
      store.addAllocations(night.id, round, grants);
      c.log(`night ${night.number}, round ${round}: ${grants.map((g) => `${store.getOrg(g.orgId).name} ${g.experiments}`).join(", ")}`);
      continue;
    }
    if ((await runPool(c, night, open, progress)) === "stopped") return "stopped";
  }
}

/** Experiments the night's runs have done so far (a resumed night's earlier ones). */
function countedInNight(c: NightContext, night: Night): number {
  const tag = nightTag(c.tournament.name, night.number);
  return c.ws.store
    .listRuns()
    .filter((r) => r.tag === tag)
    .reduce((sum, r) => sum + countedOf(c.ws.store.experimentCounts(r.id, INTERRUPTED)), 0);
}

function progressOf(c: NightContext, night: Night, allocations: readonly Allocation[]): OrgProgress[] {
  const { store } = c.ws;
  const members = store.listMembers(c.tournament.id).filter((m) => m.status === "active");
  return members.map((m) => {
    const mine = allocations.filter((a) => a.orgId === m.org.id);
    const run = store.findRunByBranch(runBranchName(nightTag(c.tournament.name, night.number), m.org.name));
    const experiments = run ? store.listExperimentBriefs([run.id]) : [];
    return {
      orgId: m.org.id,
      granted: mine.reduce((s, a) => s + a.experiments, 0),
      rounds: new Set(mine.map((a) => a.round)).size,
      gain: claimedGain(experiments),
      deviceSeconds: deviceSeconds(experiments),
    };
  });
}

/** Each slot takes the next open allocation until none is left (or a stop is asked). */
async function runPool(c: NightContext, night: Night, open: Allocation[], progress: ProgressCounter): Promise<NightOutcome> {
  const queue = [...open];
  let stopped = false;
  const failure = new AbortController();
  const signal = c.signal ? AbortSignal.any([c.signal, failure.signal]) : failure.signal;
  const worker = async (slot: DeviceSlot) => {
    while (!stopped && !signal.aborted) {
      const next = queue.shift();
      if (!next) return;
      if ((await runAllocation(c, night, next, slot, signal, progress)) === "stopped") stopped = true;
    }
  };
  const outcomes = await Promise.allSettled(
    c.slots.map((slot) =>
      worker(slot).catch((err: unknown) => {
        failure.abort(); // one slot failing stops the others after their experiment in flight
        throw err;
      }),
    ),
  );
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) throw failed.reason;
  return stopped || c.signal?.aborted ? "stopped" : "finished";
}

async function runAllocation(c: NightContext, night: Night, a: Allocation, slot: DeviceSlot, signal: AbortSignal, progress: ProgressCounter): Promise<NightOutcome> {
  const { store } = c.ws;
  const org = store.getOrg(a.orgId);
  const tag = nightTag(c.tournament.name, night.number);
  const branch = runBranchName(tag, org.name);
  // The run's target after this allocation: every grant of this org up to this round.
  const target = store
    .listAllocations(night.id)
    .filter((x) => x.orgId === a.orgId && x.round <= a.round)
    .reduce((s, x) => s + x.experiments, 0);
  store.startAllocation(a.id);
  for (;;) {
    const run = store.findRunByBranch(branch);
    const done = run ? countedOf(store.experimentCounts(run.id, INTERRUPTED)) : 0;
    const remaining = target - done;
    if (remaining <= 0) break;
    const budget = costLeft(c, night, run?.id);
    if (budget !== undefined && budget.left <= 0) {
      c.log(`night ${night.number}: the night's agent budget is spent; ${org.name} gets no more experiments`);
      break;
    }
    c.log(`night ${night.number}: ${org.name} runs ${remaining} experiment${remaining === 1 ? "" : "s"} on slot ${slot.slot} (${slot.label})`);
    let summary;
    try {
      summary = await runLoop(c.ws, {
          org: { name: org.name, path: `(tournament ${c.tournament.name})`, programMd: org.programMd },
          agent: c.settings.agent ?? { kind: "builtin" },
          ...(budget !== undefined ? { maxCostUsd: budget.spentByRun + budget.left } : {}),
          profile: c.settings.profile,
          timeBudget: c.settings.timeBudget,
          datasetDir: c.settings.datasetDir,
          tag,
          seed: c.settings.seed,
          resume: run !== undefined,
          baseCommit: night.baseCommit,
          sandbox: c.settings.sandbox ?? "auto",
          ...(c.settings.sharedMemory ? { sharedMemory: { tournamentId: c.tournament.id } } : {}),
          devices: [slot],
          experiments: remaining,
          stopRequested: c.stopRequested,
          signal,
          // Each result as it lands, with the night's count and time left.
          onEvent: (e) => {
            if (e.kind === "finished") {
              const x = e.experiment;
              c.log(`night ${night.number}: ${org.name} exp ${x.seq} ${x.status} ${x.summary ? x.summary.val_bpb.toFixed(6) : "—"} (best ${e.best?.toFixed(6) ?? "—"}) [${progress.tick()}]`);
            } else if (e.kind === "skipped") c.log(`night ${night.number}: ${org.name} exp ${e.experiment.seq} skipped [${progress.tick()}]`);
          },
        });
    } catch (err) {
      // The night's base did not run for this org (e.g. over budget on a loaded machine): the
      // org has no claim tonight and scores 0, and the others go on.
      if (err instanceof LoopError && err.code === "BASELINE_FAILED") {
        c.log(`night ${night.number}: ${org.name}: ${err.message}; it scores 0 tonight`);
        break;
      }
      throw err;
    }
    if (summary.stoppedBecause === "cost cap") break;
    if (summary.stoppedBecause !== "experiments") return "stopped";
  }
  const run = store.findRunByBranch(branch);
  store.finishAllocation(a.id, run?.id ?? null);
  return "finished";
}

// ---- verifying -------------------------------------------------------------------------------

async function verifyNight(c: NightContext, night: Night): Promise<void> {
  const { store, lab } = c.ws;
  const tag = nightTag(c.tournament.name, night.number);
  const orgIds = [...new Set(store.listAllocations(night.id).map((a) => a.orgId))];
  const entries = orgIds.map((orgId) => {
    const org = store.getOrg(orgId);
    const run = store.findRunByBranch(runBranchName(tag, org.name));
    const experiments = run ? store.listExperimentBriefs([run.id]) : [];
    const head = run ? store.runHead(run.id) : night.baseCommit;
    const bestBrief = claimsOf(experiments).find((e) => e.commit === head);
    const best = bestBrief ? store.getExperiment(bestBrief.id) : undefined;
    return { org, run, experiments, best };
  });
  const claims: ClaimAgainst[] = [];
  for (const e of entries) if (e.best) claims.push({ experiment: e.best, parentCommit: night.baseCommit, diff: await lab.diff(night.baseCommit, e.best.commit!) });

  const setup: MeasureSetup = {
    store,
    lab,
    logsDir: c.ws.logsDir,
    trainer: c.ws.trainer,
    profile: c.settings.profile,
    timeBudget: c.settings.timeBudget,
    datasetDir: c.settings.datasetDir,
    deviceKind: deviceInfo().kind,
    sandbox: c.settings.sandbox ?? "auto",
    ...(c.signal ? { signal: c.signal } : {}),
    onTraining: (commit, seed) => {
      if (c.stopRequested()) throw new StopBeforeTraining();
      c.log(`night ${night.number}: verifying ${commit.slice(0, 7)} with seed ${seed}`);
    },
  };
  const { maxSeeds, minSeeds, alpha, effect } = c.settings.verify;
  const championAlpha = c.settings.verify.championAlpha ?? DEFAULT_CHAMPION_ALPHA;
  const floor = store.latestNoiseFloor({ profile: setup.profile, timeBudget: setup.timeBudget, deviceKind: setup.deviceKind, dataset: basename(setup.datasetDir) }) ?? null;
  // Each claim against its own org's δ_min; the settings' effect is the smallest effect of interest.
  const given = c.settings.verify.margin;
  const thresholdsByClaim = new Map<number, Thresholds>();
  for (const e of entries) {
    if (!e.best) continue;
    const simplicityThreshold = parseStrategy(e.org.programMd)?.simplicityThreshold ?? 0;
    const t = verificationThresholds({ simplicityThreshold, floor, minEffect: effect, ...(given !== undefined ? { margin: given } : {}) });
    thresholdsByClaim.set(e.best.id, t);
    c.log(`night ${night.number}: ${e.org.name}'s claim needs a gain above δ_min ${t.margin.toPrecision(3)} bpb (${t.marginFrom})`);
  }
  const thresholds = (experiment: Experiment): Thresholds => thresholdsByClaim.get(experiment.id)!;
  const confirmSeeds = c.settings.verify.confirmSeeds ?? 0;
  const orgOf = new Map(entries.filter((e) => e.best).map((e) => [e.best!.id, e.org.name]));
  // The phase and its progress: which claim of how many is being verified.
  const onClaim = (experiment: Experiment, index: number, total: number) =>
    c.log(`night ${night.number}: verifying claim ${index + 1} of ${total}: ${orgOf.get(experiment.id) ?? "?"}'s best, ${experiment.commit?.slice(0, 7) ?? "?"} (${experiment.description})`);
  const onRetry = (experiment: Experiment, attempt: number) =>
    c.log(`night ${night.number}: verifying ${orgOf.get(experiment.id) ?? "?"}'s best again (retry ${attempt}): load changed within its pairs`);
  const judged = claims.length > 0 ? await judgeClaims(setup, claims, { thresholds, maxSeeds, minSeeds, alpha, confirmSeeds, onClaim, onRetry }) : [];

  const scored = entries.map((e) => {
    const v = judged.find((j) => j.experiment.id === e.best?.id)?.verification;
    // Credited: the confirmation seeds' mean when measured (the sequential mean overstates it).
    const verified = v ? creditedGain(v) : 0;
    const seconds = deviceSeconds(e.experiments);
    return {
      e,
      v,
      result: {
        orgId: e.org.id,
        ...(e.run ? { runId: e.run.id } : {}),
        ...(e.best ? { experimentId: e.best.id } : {}),
        ...(v ? { verification: v } : {}),
        claimedGain: claimedGain(e.experiments),
        verifiedGain: verified,
        deviceSeconds: seconds,
        experiments: countedExperiments(e.experiments),
        score: seconds > 0 ? verified / (seconds / 3600) : 0,
        rank: 0,
      } satisfies NewNightResult,
    };
  });
  scored.sort((a, b) => b.result.score - a.result.score || b.result.claimedGain - a.result.claimedGain || a.result.orgId - b.result.orgId);
  scored.forEach((s, i) => (s.result.rank = i + 1));
  // The champion moves only on a claim that is real at the stricter champion level too: by its
  // verification's p-value, or else by a test at that level on seeds of its own (championTest),
  // taken by the real claims in order of credited gain until one passes.
  const pOf = (v: NewVerification): number => v.pAdjusted ?? v.pValue ?? 1;
  const candidates = scored.filter((s) => s.v?.verdict === "real").sort((a, b) => b.result.verifiedGain - a.result.verifiedGain || a.result.rank - b.result.rank);
  const realButWeak: string[] = [];
  let real: (typeof scored)[number] | undefined;
  for (const s of candidates) {
    const v = s.v!;
    if (pOf(v) < championAlpha) {
      real = s;
      break;
    }
    c.log(`night ${night.number}: ${s.e.org.name}'s claim is real, but p ${pOf(v).toPrecision(3)} ≥ the champion level ${championAlpha}: testing it at that level on fresh seeds`);
    const claim = claims.find((x) => x.experiment.id === s.e.best!.id)!;
    const test = await championTest(setup, claim, thresholds(claim.experiment), { maxSeeds, minSeeds, alpha: championAlpha });
    v.details = { ...v.details, champion: JSON.parse(JSON.stringify(test)) };
    if (test.passed) {
      real = s;
      break;
    }
    realButWeak.push(`${s.e.org.name}: ${test.reason}`);
  }
  const champion = real ? { commit: real.e.best!.commit!, orgId: real.e.org.id, gain: real.result.verifiedGain } : null;
  store.recordNightResults(night.id, scored.map((s) => s.result), champion);
  for (const s of scored)
    c.log(`night ${night.number}: #${s.result.rank} ${s.e.org.name} ${s.v ? `${s.v.verdict} gain ${(s.v.meanGain ?? 0).toFixed(5)}${confirmedNote(s.v)} (${s.v.reason})` : "no claim"} score ${s.result.score.toFixed(4)}/h`);
  c.log(
    champion
      ? `night ${night.number}: champion → ${champion.commit.slice(0, 7)} (${real!.e.org.name}, +${champion.gain.toFixed(5)})`
      : `night ${night.number}: the champion stays${realButWeak.length > 0 ? ` (real, but not at the champion level ${championAlpha}: ${realButWeak.join("; ")})` : ""}`,
  );
}

/** ", confirmed 0.00310 [0.00150, 0.00470] over 3 seeds" when confirmation seeds were measured. */
function confirmedNote(v: NewVerification): string {
  const c = confirmationOf(v.details);
  if (!c) return "";
  const interval = c.interval ? ` [${c.interval[0].toFixed(5)}, ${c.interval[1].toFixed(5)}]` : "";
  return `, confirmed ${c.meanGain.toFixed(5)}${interval} over ${c.seeds} seed${c.seeds === 1 ? "" : "s"}`;
}
