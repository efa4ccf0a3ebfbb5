/**
 * Shared pieces of the commands: the errors that are the user's to fix (printed as one line,
 * exit code 2) and the --profile option.
 */
import type { Argv } from "yargs";
import { EngineError } from "../engine/errors.ts";
import type { Profile } from "../harness/constants.ts";
import { DataError } from "../harness/data/errors.ts";
import { DatasetError } from "../harness/dataset.ts";
import { PROFILE_NAMES, detectProfile } from "../harness/profile.ts";
import { AgentError } from "../agents/llm/errors.ts";
import { BuiltinAgentError } from "../agents/builtin/errors.ts";
import { StrategyError } from "../agents/strategy.ts";
import { RunnerError } from "../harness/runner/index.ts";
import { LabError } from "../lab/index.ts";
import { LoopError } from "../loop/loop.ts";
import { OrgError } from "../loop/org.ts";
import { StoreError } from "../store/index.ts";
import { TokenizerError } from "../harness/tokenizer.ts";

/** Bad command-line input found by a command itself (yargs reports its own). */
export class UsageError extends Error {
  readonly code = "USAGE";
}

const USER_ERRORS = [
  UsageError,
  EngineError,
  DataError,
  DatasetError,
  TokenizerError,
  RunnerError,
  LoopError,
  OrgError,
  LabError,
  StoreError,
  AgentError,
  BuiltinAgentError,
  StrategyError,
];

/** Errors whose message tells the user what to do: printed without a stack. */
export function isUserError(err: unknown): err is Error {
  return USER_ERRORS.some((cls) => err instanceof cls);
}

export function withProfile<T>(y: Argv<T>) {
  return y.option("profile", {
    choices: PROFILE_NAMES,
    describe: "constants profile (default: gpu when a CUDA device is present, else cpu)",
  });
}

export function resolveProfile(given: string | undefined): Profile {
  return (given as Profile | undefined) ?? detectProfile();
}
