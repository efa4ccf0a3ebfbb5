/**
 * Candidates: what a slot trains next, and how one is obtained from the agent. A candidate is
 * a list of edits relative to the run's head at the time it is committed — not a finished
 * train.ts — so a proposal made while another experiment trained (pipelining), or one that
 * must move to a newer head (another slot kept meanwhile), is re-applied to the head it will
 * actually run on. A fix of a crash carries the crashed experiment's edits followed by the
 * fix's, for the same reason.
 */
import { EditError, applyEdits } from "../agents/edits.ts";
import type { Agent, AgentContext, AgentUsage, SearchReplaceEdit } from "../agents/types.ts";

export interface Candidate {
  /** Empty for the baseline, which measures the unchanged train.ts. */
  edits: SearchReplaceEdit[];
  description: string;
  hypothesis: string;
  usage?: AgentUsage;
  /** Set on a fix: the crashed experiment's id and which attempt this is. */
  fix?: { fixOf: number; fixAttempt: number };
  /** The head the agent saw: when the head has moved, the edits may no longer apply. */
  proposedAt: string;
}

/** The agent's answer: a candidate, or a proposal it could not make (recorded as skipped). */
export type Answer =
  | { kind: "candidate"; candidate: Candidate }
  | { kind: "none"; reason: string; usage: AgentUsage; fix?: Candidate["fix"]; proposedAt: string };

export const BASELINE = (head: string): Candidate => ({
  edits: [],
  description: "baseline",
  hypothesis: "the unchanged train.ts sets the bar the run must beat",
  proposedAt: head,
});

export interface CrashToFix {
  experimentId: number;
  /** The crashed candidate's edits (relative to its head) and its train.ts. */
  edits: SearchReplaceEdit[];
  trainTs: string;
  logTail: string;
  attempt: number;
}

/**
 * Asks the agent for one proposal. `trainTs` is the head's (or, for a fix, the crashed one's);
 * agent failures come back as `none`, never as a rejection, except for programming errors and
 * aborts.
 */
export async function ask(
  agent: Agent,
  context: Omit<AgentContext, "trainTs" | "crashLog">,
  head: { commit: string; trainTs: string },
  crash: CrashToFix | null,
): Promise<Answer> {
  const fix = crash ? { fixOf: crash.experimentId, fixAttempt: crash.attempt } : undefined;
  const answer = await agent.propose({
    ...context,
    trainTs: crash?.trainTs ?? head.trainTs,
    ...(crash ? { crashLog: crash.logTail } : {}),
  });
  if (!answer.proposal)
    return { kind: "none", reason: answer.error ?? "the agent made no proposal", usage: answer.usage, proposedAt: head.commit, ...(fix ? { fix } : {}) };
  const { edits, description, hypothesis } = answer.proposal;
  return {
    kind: "candidate",
    candidate: {
      edits: crash ? [...crash.edits, ...edits] : edits,
      description,
      hypothesis,
      usage: answer.usage,
      proposedAt: head.commit,
      ...(fix ? { fix } : {}),
    },
  };
}

/** The candidate's train.ts on top of `headTrainTs`, or the EditError that says why not. */
export function materialize(candidate: Candidate, headTrainTs: string): { trainTs: string } | { error: EditError } {
  if (candidate.edits.length === 0) return { trainTs: headTrainTs }; // the baseline
  try {
    return { trainTs: applyEdits(headTrainTs, candidate.edits) };
  } catch (err) {
    if (err instanceof EditError) return { error: err };
    throw err;
  }
}
