/**
 * The schema, as an ordered list of migrations. Each step runs in one IMMEDIATE transaction
 * together with its schema_version row, so a store is always at exactly one version, never
 * between two. Steps are append-only: a released step is never edited, a change is a new step
 * (ALTER TABLE ... ADD COLUMN, or a table rebuild with `PRAGMA defer_foreign_keys = ON`, since
 * foreign_keys cannot be switched off inside a transaction).
 *
 * The CHECK constraints restate the invariants the TypeScript API enforces, so that no code
 * path (nor a kill -9 half-way through one) can leave a row that breaks them:
 *   proposed  no commit, no outcome, not started
 *   running   a commit, started, no outcome yet
 *   keep      finished with outcome 'ok' and a finite val_bpb
 *   discard   finished; outcome 'ok', or a reason why not
 *   crash     finished with an outcome other than 'ok' (nor 'invalid') and a reason
 *   invalid   finished with the outcome 'invalid' and the probe's evidence as its reason (v5)
 *   skipped   finished with a reason, never run to an outcome
 *   metrics   all nine summary columns present exactly when the outcome is 'ok'
 *   imported  a row of a run nightshift did not train (v9): keep, discard or crash only, with
 *             val_bpb (and memory) as its only metrics and no times, seed or sandbox record
 *
 * Room left for later issues: orgs carry lineage (parent, generation, mutation note, program.md
 * hash) for the tournament; runs carry profile, time budget and device kind, the key statistics
 * groups noise floors by; experiments carry seed, slot and timestamps (reruns, utilization);
 * agent_calls.run_id is nullable and has a `purpose`, for calls that belong to no run (the
 * meta-agent that breeds orgs).
 */

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** "NSFT": PRAGMA application_id marks the file as a nightshift store (SQLite's own mechanism). */
export const APPLICATION_ID = 0x4e534654;

const METRIC_COLUMNS = [
  "val_bpb",
  "training_seconds",
  "total_seconds",
  "peak_vram_mb",
  "mfu_percent",
  "total_tokens_m",
  "num_steps",
  "num_params_m",
  "depth",
] as const;

const allMetrics = (predicate: string) => METRIC_COLUMNS.map((c) => `${c} ${predicate}`).join(" AND ");

const V1 = /* sql */ `
CREATE TABLE orgs (
  id              INTEGER PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
  program_md      TEXT NOT NULL,
  program_md_hash TEXT NOT NULL CHECK (length(program_md_hash) = 64),
  parent_id       INTEGER REFERENCES orgs(id),
  generation      INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
  mutation_note   TEXT,
  created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX orgs_program_md_hash ON orgs(program_md_hash);
CREATE INDEX orgs_parent ON orgs(parent_id);

CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  tag           TEXT NOT NULL CHECK (length(tag) > 0),
  org_id        INTEGER NOT NULL REFERENCES orgs(id),
  branch        TEXT NOT NULL UNIQUE CHECK (length(branch) > 0),
  profile       TEXT NOT NULL,
  time_budget   REAL NOT NULL CHECK (time_budget > 0),
  device_kind   TEXT NOT NULL,
  agent         TEXT NOT NULL,
  model         TEXT,
  base_commit   TEXT NOT NULL,
  status        TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'stopped', 'finished')),
  settings_json TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings_json)),
  cost_cap_usd  REAL CHECK (cost_cap_usd IS NULL OR cost_cap_usd >= 0),
  started_at    TEXT NOT NULL,
  ended_at      TEXT,
  CHECK ((status = 'running') = (ended_at IS NULL))
) STRICT;
CREATE INDEX runs_org ON runs(org_id);
CREATE INDEX runs_status ON runs(status);

-- "commit" is an SQL keyword, hence commit_hash.
CREATE TABLE experiments (
  id               INTEGER PRIMARY KEY,
  run_id           INTEGER NOT NULL REFERENCES runs(id),
  seq              INTEGER NOT NULL CHECK (seq >= 1),
  slot             INTEGER NOT NULL DEFAULT 0 CHECK (slot >= 0),
  parent_commit    TEXT NOT NULL,
  commit_hash      TEXT,
  diff             TEXT,
  description      TEXT NOT NULL DEFAULT '',
  hypothesis       TEXT NOT NULL DEFAULT '',
  status           TEXT NOT NULL DEFAULT 'proposed'
                   CHECK (status IN ('proposed', 'running', 'keep', 'discard', 'crash', 'skipped')),
  outcome          TEXT CHECK (outcome IS NULL OR outcome IN
                     ('ok', 'crash', 'timeout', 'over-budget', 'non-finite', 'out-of-memory')),
  reason           TEXT,
  val_bpb          REAL CHECK (val_bpb IS NULL OR (val_bpb >= 0 AND val_bpb < 1e300)),
  training_seconds REAL,
  total_seconds    REAL,
  peak_vram_mb     REAL,
  mfu_percent      REAL,
  total_tokens_m   REAL,
  num_steps        INTEGER,
  num_params_m     REAL,
  depth            INTEGER,
  seed             INTEGER,
  log_path         TEXT,
  log_tail         TEXT,
  fix_attempt      INTEGER NOT NULL DEFAULT 0 CHECK (fix_attempt >= 0),
  fix_of           INTEGER REFERENCES experiments(id),
  agent_calls      INTEGER NOT NULL DEFAULT 0 CHECK (agent_calls >= 0),
  input_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens    INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  cost_usd         REAL NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
  created_at       TEXT NOT NULL,
  started_at       TEXT,
  finished_at      TEXT,
  UNIQUE (run_id, seq),
  CHECK (status <> 'proposed' OR
         (commit_hash IS NULL AND outcome IS NULL AND started_at IS NULL AND finished_at IS NULL)),
  CHECK (status <> 'running' OR
         (commit_hash IS NOT NULL AND outcome IS NULL AND started_at IS NOT NULL AND finished_at IS NULL)),
  CHECK (status NOT IN ('keep', 'discard', 'crash') OR
         (commit_hash IS NOT NULL AND outcome IS NOT NULL AND started_at IS NOT NULL AND finished_at IS NOT NULL)),
  CHECK (status <> 'keep' OR (outcome = 'ok' AND val_bpb IS NOT NULL)),
  CHECK (status <> 'discard' OR outcome = 'ok' OR reason IS NOT NULL),
  CHECK (status <> 'crash' OR (outcome <> 'ok' AND reason IS NOT NULL)),
  CHECK (status <> 'skipped' OR (outcome IS NULL AND reason IS NOT NULL AND finished_at IS NOT NULL)),
  CHECK ((outcome IS 'ok') = (${allMetrics("IS NOT NULL")})),
  CHECK (outcome IS 'ok' OR (${allMetrics("IS NULL")}))
) STRICT;
CREATE INDEX experiments_run_status ON experiments(run_id, status);
CREATE INDEX experiments_commit ON experiments(commit_hash);

CREATE TABLE agent_calls (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER REFERENCES runs(id),
  experiment_id INTEGER REFERENCES experiments(id),
  purpose       TEXT NOT NULL DEFAULT 'propose',
  model         TEXT NOT NULL,
  calls         INTEGER NOT NULL DEFAULT 1 CHECK (calls >= 0),
  input_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  cost_usd      REAL NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
  ok            INTEGER NOT NULL CHECK (ok IN (0, 1)),
  error         TEXT,
  duration_ms   INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),
  created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX agent_calls_run ON agent_calls(run_id);
CREATE INDEX agent_calls_experiment ON agent_calls(experiment_id);
`;

// Statistics. A measurement is one training of one commit with one seed, recorded when it
// finishes: a kill mid-verification loses only the training in flight, and a rerun of verify
// reuses every measurement already made under the same conditions (the key of
// measurements_key). Verifications and noise floors are the conclusions drawn from them.
const V2 = /* sql */ `
CREATE TABLE measurements (
  id               INTEGER PRIMARY KEY,
  commit_hash      TEXT NOT NULL,
  seed             INTEGER NOT NULL,
  profile          TEXT NOT NULL,
  time_budget      REAL NOT NULL CHECK (time_budget > 0),
  device_kind      TEXT NOT NULL,
  dataset          TEXT NOT NULL,
  purpose          TEXT NOT NULL CHECK (purpose IN ('noise', 'verify')),
  outcome          TEXT NOT NULL CHECK (outcome IN ('ok', 'crash', 'timeout', 'over-budget', 'non-finite', 'out-of-memory')),
  val_bpb          REAL CHECK (val_bpb IS NULL OR (val_bpb >= 0 AND val_bpb < 1e300)),
  test_bpb         REAL CHECK (test_bpb IS NULL OR (test_bpb >= 0 AND test_bpb < 1e300)),
  training_seconds REAL,
  num_steps        INTEGER,
  error            TEXT,
  log_path         TEXT,
  created_at       TEXT NOT NULL,
  CHECK ((outcome = 'ok') = (val_bpb IS NOT NULL)),
  CHECK (outcome = 'ok' OR error IS NOT NULL)
) STRICT;
CREATE INDEX measurements_key ON measurements(commit_hash, profile, time_budget, device_kind, dataset, seed);

CREATE TABLE noise_floors (
  id          INTEGER PRIMARY KEY,
  commit_hash TEXT NOT NULL,
  profile     TEXT NOT NULL,
  time_budget REAL NOT NULL CHECK (time_budget > 0),
  device_kind TEXT NOT NULL,
  dataset     TEXT NOT NULL,
  seeds       INTEGER NOT NULL CHECK (seeds >= 2),
  mean        REAL NOT NULL,
  sd          REAL NOT NULL CHECK (sd >= 0),
  mde         REAL NOT NULL CHECK (mde >= 0),
  created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX noise_floors_key ON noise_floors(profile, time_budget, device_kind, dataset);

CREATE TABLE verifications (
  id            INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  parent_commit TEXT NOT NULL,
  commit_hash   TEXT NOT NULL,
  verdict       TEXT NOT NULL CHECK (verdict IN ('real', 'noise', 'inconclusive', 'flagged')),
  seeds         INTEGER NOT NULL CHECK (seeds >= 0),
  mean_gain     REAL,
  p_value       REAL CHECK (p_value IS NULL OR (p_value >= 0 AND p_value <= 1)),
  p_adjusted    REAL CHECK (p_adjusted IS NULL OR (p_adjusted >= 0 AND p_adjusted <= 1)),
  test_bpb      REAL,
  parent_test_bpb REAL,
  reason        TEXT NOT NULL,
  details_json  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details_json)),
  created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX verifications_experiment ON verifications(experiment_id);
`;

// The tournament (src/tournament). A tournament holds a population of orgs (membership, with
// the night each joined and retired), a sequence of nights (each from one base commit: the
// champion when it began), the allocation of experiments to orgs within a night (rounds of
// successive halving, a bandit or round-robin; each allocation grants experiments to the org's
// run of that night), each org's result of the night (its best, verified against the night's
// base), and the champion chain. Rows only move forward: a kill at any moment leaves a
// tournament that `resume` continues from the last recorded step.
const V3 = /* sql */ `
CREATE TABLE tournaments (
  id              INTEGER PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
  status          TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'stopped', 'finished')),
  nights          INTEGER NOT NULL CHECK (nights >= 1),
  settings_json   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings_json)),
  base_commit     TEXT NOT NULL,
  champion_commit TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  ended_at        TEXT,
  CHECK ((status = 'finished') = (ended_at IS NOT NULL))
) STRICT;

CREATE TABLE tournament_orgs (
  id            INTEGER PRIMARY KEY,
  tournament_id INTEGER NOT NULL REFERENCES tournaments(id),
  org_id        INTEGER NOT NULL REFERENCES orgs(id),
  status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
  joined_night  INTEGER NOT NULL CHECK (joined_night >= 1),
  retired_night INTEGER CHECK (retired_night IS NULL OR retired_night >= joined_night),
  UNIQUE (tournament_id, org_id),
  CHECK ((status = 'retired') = (retired_night IS NOT NULL))
) STRICT;

CREATE TABLE nights (
  id            INTEGER PRIMARY KEY,
  tournament_id INTEGER NOT NULL REFERENCES tournaments(id),
  number        INTEGER NOT NULL CHECK (number >= 1),
  status        TEXT NOT NULL DEFAULT 'allocating' CHECK (status IN ('allocating', 'verifying', 'evolving', 'finished')),
  base_commit   TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  finished_at   TEXT,
  UNIQUE (tournament_id, number),
  CHECK ((status = 'finished') = (finished_at IS NOT NULL))
) STRICT;

CREATE TABLE allocations (
  id          INTEGER PRIMARY KEY,
  night_id    INTEGER NOT NULL REFERENCES nights(id),
  org_id      INTEGER NOT NULL REFERENCES orgs(id),
  round       INTEGER NOT NULL CHECK (round >= 0),
  experiments INTEGER NOT NULL CHECK (experiments >= 1),
  run_id      INTEGER REFERENCES runs(id),
  status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done')),
  note        TEXT,
  created_at  TEXT NOT NULL,
  finished_at TEXT,
  UNIQUE (night_id, org_id, round),
  CHECK ((status = 'done') = (finished_at IS NOT NULL))
) STRICT;
CREATE INDEX allocations_night ON allocations(night_id, round);

CREATE TABLE night_results (
  id              INTEGER PRIMARY KEY,
  night_id        INTEGER NOT NULL REFERENCES nights(id),
  org_id          INTEGER NOT NULL REFERENCES orgs(id),
  run_id          INTEGER REFERENCES runs(id),
  experiment_id   INTEGER REFERENCES experiments(id),
  verification_id INTEGER REFERENCES verifications(id),
  verdict         TEXT CHECK (verdict IS NULL OR verdict IN ('real', 'noise', 'inconclusive', 'flagged')),
  claimed_gain    REAL NOT NULL,
  verified_gain   REAL NOT NULL CHECK (verified_gain >= 0),
  device_seconds  REAL NOT NULL CHECK (device_seconds >= 0),
  experiments     INTEGER NOT NULL CHECK (experiments >= 0),
  score           REAL NOT NULL CHECK (score >= 0),
  rank            INTEGER NOT NULL CHECK (rank >= 1),
  created_at      TEXT NOT NULL,
  UNIQUE (night_id, org_id),
  UNIQUE (night_id, rank),
  CHECK ((verification_id IS NULL) = (verdict IS NULL)),
  CHECK (verdict IS 'real' OR verified_gain = 0)
) STRICT;

CREATE TABLE champions (
  id            INTEGER PRIMARY KEY,
  tournament_id INTEGER NOT NULL REFERENCES tournaments(id),
  night_id      INTEGER REFERENCES nights(id),
  commit_hash   TEXT NOT NULL,
  org_id        INTEGER REFERENCES orgs(id),
  gain          REAL NOT NULL CHECK (gain >= 0),
  created_at    TEXT NOT NULL,
  UNIQUE (tournament_id, night_id)
) STRICT;
`;

// The meta-agent (src/agents/meta, src/tournament/evolve.ts): the prompt an LLM meta-agent
// breeds orgs with is data, one row per version with its lineage (parent, generation, the night
// whose hyper-mutation wrote it, the note, the model). A tournament's current meta prompt is its
// latest row; at most one hyper-mutation per night, so a resumed breeding reuses the one stored.
// The meta-agent's calls go to agent_calls with run_id NULL and purpose 'meta'.
const V4 = /* sql */ `
CREATE TABLE meta_prompts (
  id            INTEGER PRIMARY KEY,
  tournament_id INTEGER NOT NULL REFERENCES tournaments(id),
  parent_id     INTEGER REFERENCES meta_prompts(id),
  generation    INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
  night         INTEGER CHECK (night IS NULL OR night >= 1),
  prompt        TEXT NOT NULL CHECK (length(prompt) > 0),
  prompt_hash   TEXT NOT NULL CHECK (length(prompt_hash) = 64),
  note          TEXT,
  model         TEXT,
  created_at    TEXT NOT NULL,
  UNIQUE (tournament_id, night),
  CHECK ((parent_id IS NULL) = (generation = 0))
) STRICT;
CREATE INDEX meta_prompts_tournament ON meta_prompts(tournament_id, id);
CREATE INDEX agent_calls_no_run ON agent_calls(purpose) WHERE run_id IS NULL;
`;

// A model the trusted evaluator catches cheating (its logits looked ahead at future tokens, or
// changed when the same rows were sent again) ends with the outcome 'invalid', and its
// experiment gets a status of its own, 'invalid': never kept, never a crash to fix, its reason the
// probe's evidence. Every training outcome also records whether train.ts ran inside the sandbox
// (sandboxed 0/1; NULL for rows written before this version: unknown).
//
// SQLite cannot alter a CHECK, so experiments and measurements are rebuilt: copied aside, dropped,
// created anew and refilled in id order, with every id kept. Foreign keys stay on: the DROP's
// implicit DELETE leaves deferred violations in the rows that point at experiments
// (agent_calls, verifications, night_results, fix_of), and refilling the parent rows resolves
// each of them before the commit, which fails if any were lost. Neither table has a trigger;
// their indexes are created again by the same names.
const V5 = /* sql */ `
PRAGMA defer_foreign_keys = ON;

CREATE TABLE experiments_v4_copy AS SELECT * FROM experiments;
DROP TABLE experiments;
CREATE TABLE experiments (
  id               INTEGER PRIMARY KEY,
  run_id           INTEGER NOT NULL REFERENCES runs(id),
  seq              INTEGER NOT NULL CHECK (seq >= 1),
  slot             INTEGER NOT NULL DEFAULT 0 CHECK (slot >= 0),
  parent_commit    TEXT NOT NULL,
  commit_hash      TEXT,
  diff             TEXT,
  description      TEXT NOT NULL DEFAULT '',
  hypothesis       TEXT NOT NULL DEFAULT '',
  status           TEXT NOT NULL DEFAULT 'proposed'
                   CHECK (status IN ('proposed', 'running', 'keep', 'discard', 'crash', 'invalid', 'skipped')),
  outcome          TEXT CHECK (outcome IS NULL OR outcome IN
                     ('ok', 'crash', 'timeout', 'over-budget', 'non-finite', 'out-of-memory', 'invalid')),
  reason           TEXT,
  val_bpb          REAL CHECK (val_bpb IS NULL OR (val_bpb >= 0 AND val_bpb < 1e300)),
  training_seconds REAL,
  total_seconds    REAL,
  peak_vram_mb     REAL,
  mfu_percent      REAL,
  total_tokens_m   REAL,
  num_steps        INTEGER,
  num_params_m     REAL,
  depth            INTEGER,
  seed             INTEGER,
  log_path         TEXT,
  log_tail         TEXT,
  fix_attempt      INTEGER NOT NULL DEFAULT 0 CHECK (fix_attempt >= 0),
  fix_of           INTEGER REFERENCES experiments(id),
  agent_calls      INTEGER NOT NULL DEFAULT 0 CHECK (agent_calls >= 0),
  input_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens    INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  cost_usd         REAL NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
  created_at       TEXT NOT NULL,
  started_at       TEXT,
  finished_at      TEXT,
  sandboxed        INTEGER CHECK (sandboxed IS NULL OR sandboxed IN (0, 1)),
  UNIQUE (run_id, seq),
  CHECK (status <> 'proposed' OR
         (commit_hash IS NULL AND outcome IS NULL AND started_at IS NULL AND finished_at IS NULL)),
  CHECK (status <> 'running' OR
         (commit_hash IS NOT NULL AND outcome IS NULL AND started_at IS NOT NULL AND finished_at IS NULL)),
  CHECK (status NOT IN ('keep', 'discard', 'crash', 'invalid') OR
         (commit_hash IS NOT NULL AND outcome IS NOT NULL AND started_at IS NOT NULL AND finished_at IS NOT NULL)),
  CHECK (status <> 'keep' OR (outcome = 'ok' AND val_bpb IS NOT NULL)),
  CHECK (status <> 'discard' OR outcome = 'ok' OR reason IS NOT NULL),
  CHECK (status <> 'crash' OR (outcome <> 'ok' AND reason IS NOT NULL)),
  CHECK ((status = 'invalid') = (outcome IS 'invalid')),
  CHECK (status <> 'invalid' OR reason IS NOT NULL),
  CHECK (status <> 'skipped' OR (outcome IS NULL AND reason IS NOT NULL AND finished_at IS NOT NULL)),
  CHECK (sandboxed IS NULL OR outcome IS NOT NULL),
  CHECK ((outcome IS 'ok') = (${allMetrics("IS NOT NULL")})),
  CHECK (outcome IS 'ok' OR (${allMetrics("IS NULL")}))
) STRICT;
INSERT INTO experiments (id, run_id, seq, slot, parent_commit, commit_hash, diff, description, hypothesis, status,
  outcome, reason, val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_m, num_steps,
  num_params_m, depth, seed, log_path, log_tail, fix_attempt, fix_of, agent_calls, input_tokens, output_tokens,
  cost_usd, created_at, started_at, finished_at)
SELECT id, run_id, seq, slot, parent_commit, commit_hash, diff, description, hypothesis, status,
  outcome, reason, val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_m, num_steps,
  num_params_m, depth, seed, log_path, log_tail, fix_attempt, fix_of, agent_calls, input_tokens, output_tokens,
  cost_usd, created_at, started_at, finished_at
FROM experiments_v4_copy ORDER BY id;
DROP TABLE experiments_v4_copy;
CREATE INDEX experiments_run_status ON experiments(run_id, status);
CREATE INDEX experiments_commit ON experiments(commit_hash);

CREATE TABLE measurements_v4_copy AS SELECT * FROM measurements;
DROP TABLE measurements;
CREATE TABLE measurements (
  id               INTEGER PRIMARY KEY,
  commit_hash      TEXT NOT NULL,
  seed             INTEGER NOT NULL,
  profile          TEXT NOT NULL,
  time_budget      REAL NOT NULL CHECK (time_budget > 0),
  device_kind      TEXT NOT NULL,
  dataset          TEXT NOT NULL,
  purpose          TEXT NOT NULL CHECK (purpose IN ('noise', 'verify')),
  outcome          TEXT NOT NULL CHECK (outcome IN ('ok', 'crash', 'timeout', 'over-budget', 'non-finite', 'out-of-memory', 'invalid')),
  val_bpb          REAL CHECK (val_bpb IS NULL OR (val_bpb >= 0 AND val_bpb < 1e300)),
  test_bpb         REAL CHECK (test_bpb IS NULL OR (test_bpb >= 0 AND test_bpb < 1e300)),
  training_seconds REAL,
  num_steps        INTEGER,
  error            TEXT,
  log_path         TEXT,
  created_at       TEXT NOT NULL,
  sandboxed        INTEGER CHECK (sandboxed IS NULL OR sandboxed IN (0, 1)),
  CHECK ((outcome = 'ok') = (val_bpb IS NOT NULL)),
  CHECK (outcome = 'ok' OR error IS NOT NULL)
) STRICT;
INSERT INTO measurements (id, commit_hash, seed, profile, time_budget, device_kind, dataset, purpose, outcome,
  val_bpb, test_bpb, training_seconds, num_steps, error, log_path, created_at)
SELECT id, commit_hash, seed, profile, time_budget, device_kind, dataset, purpose, outcome,
  val_bpb, test_bpb, training_seconds, num_steps, error, log_path, created_at
FROM measurements_v4_copy ORDER BY id;
DROP TABLE measurements_v4_copy;
CREATE INDEX measurements_key ON measurements(commit_hash, profile, time_budget, device_kind, dataset, seed);
`;

// Verification with a margin (src/stats/sequential.ts): a claim whose gain is shown to lie within
// ±δ_min, the smallest gain worth crediting, is 'negligible': the change alters training, but
// by less than anything worth keeping. Its δ_min, like the rest of the rule, is in details_json.
// verifications and night_results are rebuilt to widen their CHECKs, as in V5: the DROP of
// verifications leaves deferred violations in night_results, which its refill resolves.
const V6 = /* sql */ `
PRAGMA defer_foreign_keys = ON;

CREATE TABLE verifications_v5_copy AS SELECT * FROM verifications;
DROP TABLE verifications;
CREATE TABLE verifications (
  id            INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  parent_commit TEXT NOT NULL,
  commit_hash   TEXT NOT NULL,
  verdict       TEXT NOT NULL CHECK (verdict IN ('real', 'noise', 'negligible', 'inconclusive', 'flagged')),
  seeds         INTEGER NOT NULL CHECK (seeds >= 0),
  mean_gain     REAL,
  p_value       REAL CHECK (p_value IS NULL OR (p_value >= 0 AND p_value <= 1)),
  p_adjusted    REAL CHECK (p_adjusted IS NULL OR (p_adjusted >= 0 AND p_adjusted <= 1)),
  test_bpb      REAL,
  parent_test_bpb REAL,
  reason        TEXT NOT NULL,
  details_json  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details_json)),
  created_at    TEXT NOT NULL
) STRICT;
INSERT INTO verifications SELECT * FROM verifications_v5_copy ORDER BY id;
DROP TABLE verifications_v5_copy;
CREATE INDEX verifications_experiment ON verifications(experiment_id);

CREATE TABLE night_results_v5_copy AS SELECT * FROM night_results;
DROP TABLE night_results;
CREATE TABLE night_results (
  id              INTEGER PRIMARY KEY,
  night_id        INTEGER NOT NULL REFERENCES nights(id),
  org_id          INTEGER NOT NULL REFERENCES orgs(id),
  run_id          INTEGER REFERENCES runs(id),
  experiment_id   INTEGER REFERENCES experiments(id),
  verification_id INTEGER REFERENCES verifications(id),
  verdict         TEXT CHECK (verdict IS NULL OR verdict IN ('real', 'noise', 'negligible', 'inconclusive', 'flagged')),
  claimed_gain    REAL NOT NULL,
  verified_gain   REAL NOT NULL CHECK (verified_gain >= 0),
  device_seconds  REAL NOT NULL CHECK (device_seconds >= 0),
  experiments     INTEGER NOT NULL CHECK (experiments >= 0),
  score           REAL NOT NULL CHECK (score >= 0),
  rank            INTEGER NOT NULL CHECK (rank >= 1),
  created_at      TEXT NOT NULL,
  UNIQUE (night_id, org_id),
  UNIQUE (night_id, rank),
  CHECK ((verification_id IS NULL) = (verdict IS NULL)),
  CHECK (verdict IS 'real' OR verified_gain = 0)
) STRICT;
INSERT INTO night_results SELECT * FROM night_results_v5_copy ORDER BY id;
DROP TABLE night_results_v5_copy;
`;

// A week of agent calls (issue: research memory and cached prompts). Prompt caching splits a
// call's input into tokens read from the provider's cache, tokens written to it and the rest;
// they are priced differently, so the ledger keeps all three. input_tokens stays the whole
// prompt (cached parts included), as before; the cache columns say how much of it was cached.
// runs.memory_json is what an org's agent was shown of earlier nights (its own runs and its
// ancestors', and with shared memory other orgs' verified results): built by the trusted side
// when the run starts, kept so the report can show it. NULL: no memory was built (older runs).
const V7 = /* sql */ `
ALTER TABLE agent_calls ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0
  CHECK (cache_read_tokens >= 0 AND cache_read_tokens <= input_tokens);
ALTER TABLE agent_calls ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0
  CHECK (cache_write_tokens >= 0 AND cache_read_tokens + cache_write_tokens <= input_tokens);
ALTER TABLE experiments ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0
  CHECK (cache_read_tokens >= 0 AND cache_read_tokens <= input_tokens);
ALTER TABLE experiments ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0
  CHECK (cache_write_tokens >= 0 AND cache_read_tokens + cache_write_tokens <= input_tokens);
ALTER TABLE runs ADD COLUMN memory_json TEXT CHECK (memory_json IS NULL OR json_valid(memory_json));
`;

// Verification that controls time (src/verification/verify.ts): a claim's parent and candidate
// train back to back, seed by seed, and a measurement is reused only by the verification session
// that made it (`session`: one claim against one parent), so no gain pairs a parent measured
// hours earlier under another load. tokens_per_second records each training's throughput, which
// says whether load changed between the two trainings of a pair. NULL: measured before v8 (no
// session: reused as before by noise floors, never by a verification session).
const V8 = /* sql */ `
ALTER TABLE measurements ADD COLUMN session TEXT CHECK (session IS NULL OR length(session) > 0);
ALTER TABLE measurements ADD COLUMN tokens_per_second REAL CHECK (tokens_per_second IS NULL OR tokens_per_second >= 0);
`;

// Imported runs (src/import): an autoresearch run — a git branch of train.py commits plus its
// results.tsv — recorded as a run nightshift did not train. runs.import_json says where it came
// from (the repository, branch, tag, results.tsv's sha256, the branch head, when it was
// imported); NULL for every run nightshift trained. experiments.imported marks the rows of such a
// run: results.tsv keeps only val_bpb and memory, so an imported result has no other summary
// column, and autoresearch records no times, so imported rows need no start or finish; every
// other invariant holds for them too, and an imported row is only ever keep, discard or crash.
// experiments is rebuilt to change those CHECKs, as in V5, every id kept; the DROP's deferred
// violations (agent_calls, verifications, night_results, fix_of) are resolved by the refill.
const V9 = /* sql */ `
PRAGMA defer_foreign_keys = ON;

ALTER TABLE runs ADD COLUMN import_json TEXT CHECK (import_json IS NULL OR json_valid(import_json));

CREATE TABLE experiments_v8_copy AS SELECT * FROM experiments;
DROP TABLE experiments;
CREATE TABLE experiments (
  id               INTEGER PRIMARY KEY,
  run_id           INTEGER NOT NULL REFERENCES runs(id),
  seq              INTEGER NOT NULL CHECK (seq >= 1),
  slot             INTEGER NOT NULL DEFAULT 0 CHECK (slot >= 0),
  parent_commit    TEXT NOT NULL,
  commit_hash      TEXT,
  diff             TEXT,
  description      TEXT NOT NULL DEFAULT '',
  hypothesis       TEXT NOT NULL DEFAULT '',
  status           TEXT NOT NULL DEFAULT 'proposed'
                   CHECK (status IN ('proposed', 'running', 'keep', 'discard', 'crash', 'invalid', 'skipped')),
  outcome          TEXT CHECK (outcome IS NULL OR outcome IN
                     ('ok', 'crash', 'timeout', 'over-budget', 'non-finite', 'out-of-memory', 'invalid')),
  reason           TEXT,
  val_bpb          REAL CHECK (val_bpb IS NULL OR (val_bpb >= 0 AND val_bpb < 1e300)),
  training_seconds REAL,
  total_seconds    REAL,
  peak_vram_mb     REAL,
  mfu_percent      REAL,
  total_tokens_m   REAL,
  num_steps        INTEGER,
  num_params_m     REAL,
  depth            INTEGER,
  seed             INTEGER,
  log_path         TEXT,
  log_tail         TEXT,
  fix_attempt      INTEGER NOT NULL DEFAULT 0 CHECK (fix_attempt >= 0),
  fix_of           INTEGER REFERENCES experiments(id),
  agent_calls      INTEGER NOT NULL DEFAULT 0 CHECK (agent_calls >= 0),
  input_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens    INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  cost_usd         REAL NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
  created_at       TEXT NOT NULL,
  started_at       TEXT,
  finished_at      TEXT,
  sandboxed        INTEGER CHECK (sandboxed IS NULL OR sandboxed IN (0, 1)),
  cache_read_tokens INTEGER NOT NULL DEFAULT 0
                   CHECK (cache_read_tokens >= 0 AND cache_read_tokens <= input_tokens),
  cache_write_tokens INTEGER NOT NULL DEFAULT 0
                   CHECK (cache_write_tokens >= 0 AND cache_read_tokens + cache_write_tokens <= input_tokens),
  imported         INTEGER NOT NULL DEFAULT 0 CHECK (imported IN (0, 1)),
  UNIQUE (run_id, seq),
  CHECK (status <> 'proposed' OR
         (commit_hash IS NULL AND outcome IS NULL AND started_at IS NULL AND finished_at IS NULL)),
  CHECK (status <> 'running' OR
         (commit_hash IS NOT NULL AND outcome IS NULL AND started_at IS NOT NULL AND finished_at IS NULL)),
  CHECK (status NOT IN ('keep', 'discard', 'crash', 'invalid') OR
         (commit_hash IS NOT NULL AND outcome IS NOT NULL AND (imported = 1 OR (started_at IS NOT NULL AND finished_at IS NOT NULL)))),
  CHECK (status <> 'keep' OR (outcome = 'ok' AND val_bpb IS NOT NULL)),
  CHECK (status <> 'discard' OR outcome = 'ok' OR reason IS NOT NULL),
  CHECK (status <> 'crash' OR (outcome <> 'ok' AND reason IS NOT NULL)),
  CHECK ((status = 'invalid') = (outcome IS 'invalid')),
  CHECK (status <> 'invalid' OR reason IS NOT NULL),
  CHECK (status <> 'skipped' OR (outcome IS NULL AND reason IS NOT NULL AND finished_at IS NOT NULL)),
  CHECK (sandboxed IS NULL OR outcome IS NOT NULL),
  CHECK (imported = 0 OR (status IN ('keep', 'discard', 'crash') AND sandboxed IS NULL AND seed IS NULL)),
  CHECK (imported = 1 OR ((outcome IS 'ok') = (${allMetrics("IS NOT NULL")}))),
  CHECK (imported = 0 OR ((outcome IS 'ok') = (val_bpb IS NOT NULL))),
  CHECK (outcome IS 'ok' OR (${allMetrics("IS NULL")}))
) STRICT;
INSERT INTO experiments (id, run_id, seq, slot, parent_commit, commit_hash, diff, description, hypothesis, status,
  outcome, reason, val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_m, num_steps,
  num_params_m, depth, seed, log_path, log_tail, fix_attempt, fix_of, agent_calls, input_tokens, output_tokens,
  cost_usd, created_at, started_at, finished_at, sandboxed, cache_read_tokens, cache_write_tokens)
SELECT id, run_id, seq, slot, parent_commit, commit_hash, diff, description, hypothesis, status,
  outcome, reason, val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_m, num_steps,
  num_params_m, depth, seed, log_path, log_tail, fix_attempt, fix_of, agent_calls, input_tokens, output_tokens,
  cost_usd, created_at, started_at, finished_at, sandboxed, cache_read_tokens, cache_write_tokens
FROM experiments_v8_copy ORDER BY id;
DROP TABLE experiments_v8_copy;
CREATE INDEX experiments_run_status ON experiments(run_id, status);
CREATE INDEX experiments_commit ON experiments(commit_hash);
`;

/** Every migration, in order; the store's schema version is the last one applied. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: "orgs, runs, experiments, agent_calls", sql: V1 },
  { version: 2, description: "measurements, noise_floors, verifications (statistics)", sql: V2 },
  { version: 3, description: "tournaments, tournament_orgs, nights, allocations, night_results, champions", sql: V3 },
  { version: 4, description: "meta_prompts (the meta-agent's prompt, with lineage)", sql: V4 },
  { version: 5, description: "the 'invalid' outcome and experiment status; sandboxed on experiments and measurements (tables rebuilt)", sql: V5 },
  { version: 6, description: "the 'negligible' verdict (verifications and night_results rebuilt)", sql: V6 },
  { version: 7, description: "prompt-cache tokens on agent_calls and experiments; runs.memory_json (research memory)", sql: V7 },
  { version: 8, description: "measurements.session (reuse within one verification session) and tokens_per_second", sql: V8 },
  { version: 9, description: "imported runs: runs.import_json and experiments.imported (experiments rebuilt)", sql: V9 },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
