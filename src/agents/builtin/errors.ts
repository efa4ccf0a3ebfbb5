/**
 * BuiltinAgentError: the builtin agent's own failures, each a setup problem a human fixes in
 * program.md or train.ts (a StrategyError from the strategy block passes through unchanged).
 */
import { CodedError } from "../../util/errors.ts";
export type BuiltinAgentErrorCode =
  | "NO_STRATEGY" // program.md has no nightshift-strategy block
  | "KNOB_NOT_FOUND" // a knob of the strategy is not a constant of train.ts
  | "KNOB_TYPE" // the knob's kind does not fit the constant (a string for a log knob, a list, ...)
  | "NO_CHANGE"; // no draw changed any knob (only reachable with degenerate knob ranges)

export class BuiltinAgentError extends CodedError<BuiltinAgentErrorCode> {}
