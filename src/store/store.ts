/**
 * The Store class: one open store file. It only assembles the concept modules (orgs, runs,
 * experiments, agent calls, results) over one StoreContext, and turns SQLite's failures into
 * StoreErrors on the way out.
 */
import type { HistoryEntry } from "../agents/types.ts";
import * as agentCalls from "./agent-calls.ts";
import * as briefs from "./briefs.ts";
import { StoreContext } from "./context.ts";
import { StoreError, wrapSqlite } from "./errors.ts";
import * as experiments from "./experiments.ts";
import * as imports from "./imports.ts";
import { checkStoreOptions, openConnection } from "./open.ts";
import * as memory from "./memory.ts";
import * as metaPrompts from "./meta-prompts.ts";
import * as orgs from "./orgs.ts";
import * as results from "./results.ts";
import * as runs from "./runs.ts";
import * as statistics from "./statistics.ts";
import * as tournaments from "./tournaments.ts";
import { type JsonValue, Redactor, environmentSecrets } from "./secrets.ts";
import type {
  Allocation,
  Champion,
  Member,
  NewAllocation,
  NewNightResult,
  NewTournament,
  Night,
  NightEvolution,
  NightResult,
  Tournament,
  AgentCallRecord,
  AgentCostGroup,
  ExperimentBrief,
  ExperimentCounts,
  ExperimentText,
  ExperimentTextField,
  Experiment,
  ExperimentFinish,
  ExperimentStart,
  ImportOutcome,
  IntegrityReport,
  Measurement,
  MetaPrompt,
  NewMetaPrompt,
  MeasurementKey,
  NewMeasurement,
  NewNoiseFloor,
  NewVerification,
  NoiseFloor,
  Verification,
  NewAgentCall,
  NewExperiment,
  NewImportedRun,
  NewOrg,
  NewRun,
  Org,
  Run,
  RunCost,
  RunFilter,
  RunState,
  SkippedProposal,
  StoreOptions,
} from "./types.ts";

/** Opens (creating and migrating if needed) the store at `path`. */
export function openStore(path: string, options: StoreOptions = {}): Store {
  checkStoreOptions(path, options);
  const { db, version } = openConnection(path, options);
  const redactor = new Redactor([...environmentSecrets(), ...(options.secrets ?? [])]);
  const ctx = new StoreContext(db, options.readonly ?? false, redactor, options.now ?? (() => new Date()));
  return new Store(path, version, ctx);
}

export class Store {
  #ctx: StoreContext | null;

  /** @internal use openStore */
  constructor(
    readonly path: string,
    /** The schema version of the file (always the latest this nightshift knows). */
    readonly schemaVersion: number,
    ctx: StoreContext,
  ) {
    this.#ctx = ctx;
  }

  get readonly(): boolean {
    return this.#ctx?.readonly ?? true;
  }

  /** Closes the connection (checkpointing the WAL when it is the last one). Idempotent. */
  close(): void {
    this.#ctx?.db.close();
    this.#ctx = null;
  }

  #call<T>(doing: string, fn: (ctx: StoreContext) => T): T {
    const ctx = this.#ctx;
    if (ctx === null) throw new StoreError("STORE_CLOSED", `${doing}: the store ${this.path} is closed`);
    try {
      return fn(ctx);
    } catch (err) {
      throw wrapSqlite(err, doing);
    }
  }

  // ---- orgs --------------------------------------------------------------------------------
  createOrg(input: NewOrg): Org {
    return this.#call("createOrg", (c) => orgs.createOrg(c, input));
  }
  getOrg(id: number): Org {
    return this.#call("getOrg", (c) => orgs.getOrg(c, id));
  }
  getOrgByName(name: string): Org | undefined {
    return this.#call("getOrgByName", (c) => orgs.getOrgByName(c, name));
  }
  listOrgs(): Org[] {
    return this.#call("listOrgs", (c) => orgs.listOrgs(c));
  }

  // ---- runs --------------------------------------------------------------------------------
  createRun(input: NewRun): Run {
    return this.#call("createRun", (c) => runs.createRun(c, input));
  }
  getRun(id: number): Run {
    return this.#call("getRun", (c) => runs.getRun(c, id));
  }
  findRunByBranch(branch: string): Run | undefined {
    return this.#call("findRunByBranch", (c) => runs.findRunByBranch(c, branch));
  }
  listRuns(filter?: RunFilter): Run[] {
    return this.#call("listRuns", (c) => runs.listRuns(c, filter));
  }
  findRunningRuns(): Run[] {
    return this.#call("findRunningRuns", (c) => runs.findRunningRuns(c));
  }
  setRunStatus(id: number, status: RunState): Run {
    return this.#call("setRunStatus", (c) => runs.setRunStatus(c, id, status));
  }

  /**
   * A run nightshift did not train (an autoresearch run, mapped by src/import), with its org and
   * every experiment, in one transaction; the same source again writes nothing (created: false).
   */
  importRun(input: NewImportedRun): ImportOutcome {
    return this.#call("importRun", (c) => imports.importRun(c, input));
  }

  // ---- experiments -------------------------------------------------------------------------
  proposeExperiment(input: NewExperiment): Experiment {
    return this.#call("proposeExperiment", (c) => experiments.proposeExperiment(c, input));
  }
  recordSkipped(input: SkippedProposal): Experiment {
    return this.#call("recordSkipped", (c) => experiments.recordSkipped(c, input));
  }
  startExperiment(id: number, input: ExperimentStart): Experiment {
    return this.#call("startExperiment", (c) => experiments.startExperiment(c, id, input));
  }
  finishExperiment(id: number, input: ExperimentFinish): Experiment {
    return this.#call("finishExperiment", (c) => experiments.finishExperiment(c, id, input));
  }
  skipExperiment(id: number, reason: string): Experiment {
    return this.#call("skipExperiment", (c) => experiments.skipExperiment(c, id, reason));
  }
  getExperiment(id: number): Experiment {
    return this.#call("getExperiment", (c) => experiments.getExperiment(c, id));
  }
  listExperiments(runId: number): Experiment[] {
    return this.#call("listExperiments", (c) => experiments.listExperiments(c, runId));
  }
  inFlight(runId: number): Experiment[] {
    return this.#call("inFlight", (c) => experiments.inFlight(c, runId));
  }

  // ---- narrow reads (what grows with the store: reports, listings, the tournament) -----------
  /** Every experiment of the runs without diff, log tail or hypothesis, by run then seq. */
  listExperimentBriefs(runIds: readonly number[]): ExperimentBrief[] {
    return this.#call("listExperimentBriefs", (c) => briefs.listExperimentBriefs(c, runIds));
  }
  /** The named large texts of the experiments a caller shows, by id. */
  experimentTexts(ids: readonly number[], fields: readonly ExperimentTextField[]): Map<number, ExperimentText> {
    return this.#call("experimentTexts", (c) => briefs.experimentTexts(c, ids, fields));
  }
  /** Experiments whose commit starts with `prefix`, through the commit index (optionally of one run). */
  findExperimentsByCommit(prefix: string, runId?: number): Experiment[] {
    return this.#call("findExperimentsByCommit", (c) => briefs.findExperimentsByCommit(c, prefix, runId));
  }
  /** A run's experiments per status, and its skipped ones whose reason starts with `skippedReasonPrefix`. */
  experimentCounts(runId: number, skippedReasonPrefix?: string): ExperimentCounts {
    return this.#call("experimentCounts", (c) => briefs.experimentCounts(c, runId, skippedReasonPrefix));
  }
  /** The runs' agent-call ledgers summed by run, purpose and model. */
  agentCostGroups(runIds: readonly number[]): AgentCostGroup[] {
    return this.#call("agentCostGroups", (c) => briefs.agentCostGroups(c, runIds));
  }

  // ---- results -----------------------------------------------------------------------------
  runHistory(runId: number): HistoryEntry[] {
    return this.#call("runHistory", (c) => results.runHistory(c, runId));
  }
  /** The newest `limit` finished experiments (oldest of them first) and how many there are in all. */
  recentHistory(runId: number, limit: number): results.RecentHistory {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new StoreError("STORE_INVALID_ARGUMENT", `recentHistory: limit must be a whole number >= 0, got ${limit}`);
    return this.#call("recentHistory", (c) => results.recentHistory(c, runId, limit));
  }
  resultsTsv(runId: number): string {
    return this.#call("resultsTsv", (c) => results.resultsTsv(c, runId));
  }
  runHead(runId: number): string {
    return this.#call("runHead", (c) => results.runHead(c, runId));
  }

  // ---- research memory ---------------------------------------------------------------------
  /** Verified and crashed experiments of the given orgs' runs other than `currentRunId`, newest first. */
  lineageResults(orgIds: readonly number[], currentRunId: number, limits: memory.LineageLimits): { verified: memory.MemorySource[]; crashes: memory.MemorySource[] } {
    return this.#call("lineageResults", (c) => memory.lineageResults(c, orgIds, currentRunId, limits));
  }
  /** Verified experiments of the tournament's runs by orgs outside `lineage`, newest first. */
  sharedResults(tournamentId: number, lineage: readonly number[], limit: number): memory.MemorySource[] {
    return this.#call("sharedResults", (c) => memory.sharedResults(c, tournamentId, lineage, limit));
  }
  setRunMemory(runId: number, value: JsonValue): void {
    this.#call("setRunMemory", (c) => memory.setRunMemory(c, runId, value));
  }
  runMemory(runId: number): JsonValue | null {
    return this.#call("runMemory", (c) => memory.runMemory(c, runId));
  }
  /** The recorded memories of several runs in one read, by run id. */
  runMemories(runIds: readonly number[]): Map<number, JsonValue> {
    return this.#call("runMemories", (c) => memory.runMemories(c, runIds));
  }

  // ---- agent usage -------------------------------------------------------------------------
  /** A call without runId belongs to no run (the meta-agent's, purpose "meta"): run_id NULL. */
  recordAgentCall(input: NewAgentCall): AgentCallRecord {
    return this.#call("recordAgentCall", (c) => agentCalls.recordAgentCall(c, input));
  }
  /** Ledger rows that belong to no run, optionally of one purpose ("meta"). */
  listRunlessCalls(purpose?: string): AgentCallRecord[] {
    return this.#call("listRunlessCalls", (c) => agentCalls.listRunlessCalls(c, purpose));
  }
  listAgentCalls(runId: number): AgentCallRecord[] {
    return this.#call("listAgentCalls", (c) => agentCalls.listAgentCalls(c, runId));
  }
  runCost(runId: number): RunCost {
    return this.#call("runCost", (c) => agentCalls.runCost(c, runId));
  }

  // ---- statistics --------------------------------------------------------------------------
  recordMeasurement(input: NewMeasurement): Measurement {
    return this.#call("recordMeasurement", (c) => statistics.recordMeasurement(c, input));
  }
  findMeasurements(key: MeasurementKey): Measurement[] {
    return this.#call("findMeasurements", (c) => statistics.findMeasurements(c, key));
  }
  recordNoiseFloor(input: NewNoiseFloor): NoiseFloor {
    return this.#call("recordNoiseFloor", (c) => statistics.recordNoiseFloor(c, input));
  }
  latestNoiseFloor(key: Omit<MeasurementKey, "commit">): NoiseFloor | undefined {
    return this.#call("latestNoiseFloor", (c) => statistics.latestNoiseFloor(c, key));
  }
  recordVerification(input: NewVerification): Verification {
    return this.#call("recordVerification", (c) => statistics.recordVerification(c, input));
  }
  runVerifications(runId: number): Verification[] {
    return this.#call("runVerifications", (c) => statistics.runVerifications(c, runId));
  }
  /** runVerifications of several runs in one read, by run (in the order given) then seq. */
  verificationsOfRuns(runIds: readonly number[]): Verification[] {
    return this.#call("verificationsOfRuns", (c) => statistics.verificationsOfRuns(c, runIds));
  }

  // ---- tournaments -------------------------------------------------------------------------
  createTournament(input: NewTournament): Tournament {
    return this.#call("createTournament", (c) => tournaments.createTournament(c, input));
  }
  getTournament(id: number): Tournament {
    return this.#call("getTournament", (c) => tournaments.getTournament(c, id));
  }
  getTournamentByName(name: string): Tournament | undefined {
    return this.#call("getTournamentByName", (c) => tournaments.getTournamentByName(c, name));
  }
  listTournaments(): Tournament[] {
    return this.#call("listTournaments", (c) => tournaments.listTournaments(c));
  }
  setTournamentStatus(id: number, status: "running" | "stopped"): Tournament {
    return this.#call("setTournamentStatus", (c) => tournaments.setTournamentStatus(c, id, status));
  }
  listMembers(tournamentId: number): Member[] {
    return this.#call("listMembers", (c) => tournaments.listMembers(c, tournamentId));
  }
  startNight(tournamentId: number, number: number): Night {
    return this.#call("startNight", (c) => tournaments.startNight(c, tournamentId, number));
  }
  listNights(tournamentId: number): Night[] {
    return this.#call("listNights", (c) => tournaments.listNights(c, tournamentId));
  }
  addAllocations(nightId: number, round: number, grants: NewAllocation[]): Allocation[] {
    return this.#call("addAllocations", (c) => tournaments.addAllocations(c, nightId, round, grants));
  }
  listAllocations(nightId: number): Allocation[] {
    return this.#call("listAllocations", (c) => tournaments.listAllocations(c, nightId));
  }
  startAllocation(id: number): Allocation {
    return this.#call("startAllocation", (c) => tournaments.startAllocation(c, id));
  }
  finishAllocation(id: number, runId: number | null, note?: string): Allocation {
    return this.#call("finishAllocation", (c) => tournaments.finishAllocation(c, id, runId, note));
  }
  endAllocating(nightId: number): Night {
    return this.#call("endAllocating", (c) => tournaments.endAllocating(c, nightId));
  }
  recordNightResults(nightId: number, results: NewNightResult[], champion: { commit: string; orgId: number; gain: number } | null): NightResult[] {
    return this.#call("recordNightResults", (c) => tournaments.recordNightResults(c, nightId, results, champion));
  }
  listNightResults(nightId: number): NightResult[] {
    return this.#call("listNightResults", (c) => tournaments.listNightResults(c, nightId));
  }
  listChampions(tournamentId: number): Champion[] {
    return this.#call("listChampions", (c) => tournaments.listChampions(c, tournamentId));
  }
  evolveNight(nightId: number, evolution: NightEvolution): Org[] {
    return this.#call("evolveNight", (c) => tournaments.evolveNight(c, nightId, evolution));
  }

  // ---- the meta-agent's prompts ------------------------------------------------------------
  recordMetaPrompt(input: NewMetaPrompt): MetaPrompt {
    return this.#call("recordMetaPrompt", (c) => metaPrompts.recordMetaPrompt(c, input));
  }
  getMetaPrompt(id: number): MetaPrompt {
    return this.#call("getMetaPrompt", (c) => metaPrompts.getMetaPrompt(c, id));
  }
  /** A tournament's meta prompts, oldest first; the last is the current one. */
  listMetaPrompts(tournamentId: number): MetaPrompt[] {
    return this.#call("listMetaPrompts", (c) => metaPrompts.listMetaPrompts(c, tournamentId));
  }

  // ---- health ------------------------------------------------------------------------------
  /** PRAGMA integrity_check plus foreign_key_check: what a resume checks after a crash. */
  checkIntegrity(): IntegrityReport {
    return this.#call("checkIntegrity", (c) => {
      const problems = (c.db.pragma("integrity_check") as { integrity_check: string }[])
        .map((r) => r.integrity_check)
        .filter((line) => line !== "ok");
      for (const fk of c.db.pragma("foreign_key_check") as { table: string; rowid: number; parent: string }[])
        problems.push(`${fk.table} row ${fk.rowid} references a missing ${fk.parent} row`);
      return { ok: problems.length === 0, problems };
    });
  }
}
