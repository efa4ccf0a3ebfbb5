/**
 * store/: the single source of truth — one SQLite file (better-sqlite3) per workspace holding
 * orgs, runs, experiments and the agent-call ledger. Nothing else in nightshift issues SQL.
 *
 *   const store = openStore(join(workspace, "nightshift.db"));      // creates + migrates
 *   const org = store.getOrgByName("default") ?? store.createOrg({ name: "default", programMd });
 *   const run = store.createRun({ tag, orgId: org.id, branch, profile: "cpu", timeBudget: 300,
 *                                 deviceKind: "cpu", agent: "builtin", baseCommit, settings });
 *   const e = store.proposeExperiment({ runId: run.id, parentCommit: head, description,
 *                                       hypothesis, usage });                   // proposed, seq n
 *   store.startExperiment(e.id, { commit, diff, seed });                         // running
 *   store.finishExperiment(e.id, { status: "keep", result });                    // keep|discard|crash
 *   store.recordSkipped({ runId, parentCommit: head, reason: "malformed answer", usage });
 *   store.runHistory(run.id);  store.resultsTsv(run.id);  store.runCost(run.id);
 *
 * Reading at scale (briefs.ts: a week is ~2,000 experiments per GPU): listExperimentBriefs reads
 * every row without diff, log tail or hypothesis; experimentTexts fetches those for the rows a
 * caller shows; findExperimentsByCommit uses the commit index; experimentCounts and
 * agentCostGroups are aggregates. listExperiments reads whole rows: for one run's resume or tests.
 *
 * After a kill: store.findRunningRuns() are the runs to resume; store.inFlight(runId) the
 * experiments left proposed or running (redo them, or skipExperiment them); store.runHead(runId)
 * the commit the branch should sit at; store.checkIntegrity() runs PRAGMA integrity_check.
 * Imported runs (an autoresearch branch + results.tsv, mapped by src/import): store.importRun
 * writes one whole, in one transaction; run.importedFrom says where it came from.
 * The meta-agent: store.recordMetaPrompt / listMetaPrompts (its prompt, with lineage);
 * store.recordAgentCall without runId (purpose "meta") and store.listRunlessCalls("meta").
 *
 * Guarantees:
 * - One IMMEDIATE transaction per state change; an experiment moves proposed → running →
 *   keep|discard|crash (or → skipped) and never backwards, and every row satisfies its status's
 *   invariants (CHECK constraints in migrations.ts), kill -9 or not.
 * - WAL: readers (stats, reports, a read-only open) see committed rows and never block the
 *   writer; synchronous FULL (why: open.ts).
 * - Versioned migrations (migrations.ts): a newer store is refused (STORE_TOO_NEW, "upgrade"),
 *   a foreign file too (STORE_NOT_NIGHTSHIFT); opening an up-to-date store writes nothing.
 * - Secrets never stored: run settings lose keys matching /key|token|secret|password|auth|credential/i
 *   (numbers and booleans under such keys stay: `maxTokens: 4096`), and every free-form text is
 *   redacted of known secret values (StoreOptions.secrets and credential-named env vars). See
 *   secrets.ts.
 *
 * Errors: StoreError with a stable `code` (errors.ts), one line each.
 */
export { openStore, Store } from "./store.ts";
export { StoreError, type StoreErrorCode } from "./errors.ts";
export { LATEST_VERSION, APPLICATION_ID } from "./migrations.ts";
export { RESULTS_TSV_HEADER, tsvLine, type RecentHistory } from "./results.ts";
export type { MemorySource, MemoryOutcome, LineageLimits } from "./memory.ts";
export { scrubSettings, SECRET_KEY_PATTERN, REDACTED, type JsonValue } from "./secrets.ts";
export type {
  StoreOptions,
  Org,
  NewOrg,
  Run,
  NewRun,
  RunFilter,
  RunState,
  ImportSource,
  NewImportedRun,
  NewImportedExperiment,
  ImportOutcome,
  Experiment,
  ExperimentBrief,
  ExperimentCounts,
  ExperimentText,
  ExperimentTextField,
  AgentCostGroup,
  ExperimentStatus,
  Decision,
  NewExperiment,
  ExperimentStart,
  ExperimentFinish,
  SkippedProposal,
  UsageTotals,
  CachedUsageTotals,
  NewAgentCall,
  AgentCallRecord,
  RunCost,
  IntegrityReport,
  MeasurementKey,
  MeasurementPurpose,
  NewMeasurement,
  Measurement,
  NewNoiseFloor,
  NoiseFloor,
  Verdict,
  NewVerification,
  Verification,
  Tournament,
  TournamentState,
  NewTournament,
  Member,
  MemberState,
  Night,
  NightState,
  Allocation,
  AllocationState,
  NewAllocation,
  NightResult,
  NewNightResult,
  Champion,
  NightEvolution,
  MetaPrompt,
  NewMetaPrompt,
} from "./types.ts";
