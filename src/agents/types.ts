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

export interface AgentContext {
  programMd: string;
  trainTs: string;
  labReadme: string;
  history: HistoryEntry[];
  /** Set when asking for a fix of the experiment that just crashed: its log tail. */
  crashLog?: string;
  /** The seed of this proposal's randomness (builtin agent); LLM agents may ignore it. */
  seed: number;
  signal?: AbortSignal;
}

export interface AgentUsage {
  model: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
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
