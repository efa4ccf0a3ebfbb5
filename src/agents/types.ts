/**
 * The research-agent contract: given the org's program.md, the current train.ts, the lab's
 * README and the run's history, an agent proposes one experiment — search/replace edits to
 * train.ts plus a one-line description and a hypothesis. Agents never touch git, the store or
 * the harness; the loop applies, commits, runs and records.
 */

/** Replace exactly one occurrence of `search` in `file` (only train.ts may change). */
export interface SearchReplaceEdit {
  file: string;
  search: string;
  replace: string;
}

export interface Proposal {
  edits: SearchReplaceEdit[];
  /** One line, as in autoresearch's results.tsv description column. */
  description: string;
  /** Why this should lower val_bpb. */
  hypothesis: string;
}

/**
 * One past experiment, with autoresearch's results.tsv columns. `invalid`: the evaluator's
 * probes caught the model cheating (not in autoresearch's program.md).
 */
export interface HistoryEntry {
  commit: string;
  val_bpb: number | null;
  memory_gb: number;
  status: "keep" | "discard" | "crash" | "invalid";
  description: string;
}

/**
 * One result from before this run that an org should not have to rediscover: a change
 * verification credited (`real`, with its verified gain), one it refuted (`noise` or
 * `negligible`: reruns with fresh seeds showed no gain worth keeping), or one that crashed.
 */
export interface MemoryEntry {
  /** Whose result: this org's earlier runs, an ancestor org's (it was bred from), or another org's (shared memory: verified results only). */
  source: "own" | "ancestor" | "shared";
  org: string;
  /** The tournament night it came from; null outside a tournament. */
  night: number | null;
  outcome: "real" | "noise" | "negligible" | "crash";
  /** The verified mean gain in bpb (positive: lower val_bpb); null for a crash. */
  gain: number | null;
  description: string;
  /** What the diff touched, so a refuted idea is recognisable: knob moves ("MATRIX_LR 0.04 -> 0.06") or changed lines. */
  touched: string[];
  /** A crash's cause, one line. */
  reason?: string;
}

/** What earlier runs taught an org (see src/loop/memory.ts): built by the trusted side, never by the agent. */
export interface ResearchMemory {
  entries: MemoryEntry[];
  /** Entries that matched but were left out to stay within the memory's size. */
  omitted: number;
}

export interface AgentContext {
  programMd: string;
  trainTs: string;
  labReadme: string;
  /** The run's newest finished experiments, oldest of them first. */
  history: HistoryEntry[];
  /** Older finished experiments of the run left out of `history` (0 when it is the whole run). */
  historyOmitted?: number;
  /** Results of earlier runs of this org and its ancestors (absent: none built). */
  memory?: ResearchMemory;
  /** Set when asking for a fix of the experiment that just crashed: its log tail. */
  crashLog?: string;
  /** The seed of this proposal's randomness (builtin agent); LLM agents may ignore it. */
  seed: number;
  signal?: AbortSignal;
}

export interface AgentUsage {
  model: string;
  calls: number;
  /** The whole prompts of every call, cached parts included. */
  inputTokens: number;
  outputTokens: number;
  /** Part of inputTokens read from the provider's prompt cache (absent: 0). */
  cacheReadTokens?: number;
  /** Part of inputTokens written to the provider's prompt cache (absent: 0). */
  cacheWriteTokens?: number;
  /** What the tokens cost at the model's prices, cache reads and writes at theirs. */
  costUsd: number;
}

export interface ProposalResult {
  /** null when the agent gave up on this proposal after its retries (recorded as skipped). */
  proposal: Proposal | null;
  usage: AgentUsage;
  /** Why the proposal was skipped, one line. */
  error?: string;
  /** Attempts made (1 when the first answer was usable). */
  attempts: number;
}

export interface Agent {
  readonly name: string;
  propose(context: AgentContext): Promise<ProposalResult>;
}
