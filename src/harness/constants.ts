/**
 * The fixed constants of the harness, per profile. Agents never edit this file: it pins the
 * context length, the time budget, the evaluation size and the vocabulary every experiment of
 * a profile is judged under. Runs under different profiles or budgets are never compared.
 */
export type Profile = "gpu" | "cpu";

export interface ProfileConstants {
  /** Context length of training and evaluation sequences. */
  maxSeqLen: number;
  /** Training wall-clock budget in seconds (startup and evaluation excluded). */
  timeBudget: number;
  /** Validation tokens evaluateBpb scores. */
  evalTokens: number;
  /** Tokenizer vocabulary size, special tokens included. */
  vocabSize: number;
}

export const PROFILES: Readonly<Record<Profile, Readonly<ProfileConstants>>> = Object.freeze({
  // autoresearch's prepare.py values.
  gpu: Object.freeze({ maxSeqLen: 2048, timeBudget: 300, evalTokens: 40 * 2 ** 19, vocabSize: 8192 }),
  // Sized so a 2-core CPU trains a few hundred steps of a ~5M-parameter model in the budget
  // and evaluates in seconds.
  cpu: Object.freeze({ maxSeqLen: 256, timeBudget: 300, evalTokens: 2 ** 17, vocabSize: 4096 }),
});
