/**
 * RunnerError: how the runner reports that it could not run a train.ts at all — a bad option,
 * a harness that failed before train.ts was reached, a run cancelled by its caller. A train.ts
 * that fails is NOT an error here: it is a typed outcome (RunResult.status), never a throw.
 */
import { CodedError } from "../../util/errors.ts";
export type RunnerErrorCode =
  | "INVALID_OPTION" // runTrain was called with a missing, unknown or out-of-range option
  | "HARNESS_FAILED" // the child failed before train.ts ran (dataset missing, engine not built)
  | "RUN_ABORTED" // the caller's AbortSignal fired; the child was killed
  | "CALLBACK_FAILED" // an onOutput/onLine/onProgress callback threw; the child was killed
  | "SPAWN_FAILED" // the child process could not be started
  | "SANDBOX_UNAVAILABLE"; // sandbox "required", but bubblewrap cannot run here

export class RunnerError extends CodedError<RunnerErrorCode> {}

/**
 * Why a train.ts could not be turned into a train(ctx) function. Raised in the child; the run's
 * outcome is then "crash" with this message (the file is at fault, not the harness).
 */
export type TrainLoadErrorCode =
  | "TRAIN_COMPILE" // syntax or type-stripping error, or an import that does not resolve
  | "TRAIN_NO_DEFAULT_EXPORT" // the module has no default export that is a function
  | "TRAIN_BAD_MODEL"; // train(ctx) returned something that is not a TrainedModel

export class TrainLoadError extends CodedError<TrainLoadErrorCode> {}

/** The first line of an error's message, as a run's one-line `error`, class-prefixed. */
export function oneLineError(err: unknown): string {
  if (err instanceof Error) {
    const first = (err.message.split("\n").find((l) => l.trim() !== "") ?? "").trim();
    // "Error: x" carries no information beyond x; other class names do (TypeError, EngineError).
    const prefix = err.name && err.name !== "Error" && err.name !== "TrainLoadError" ? `${err.name}: ` : "";
    return `${prefix}${first || "(no message)"}`;
  }
  const text = String(err).split("\n")[0]?.trim();
  return `thrown non-Error value: ${text || "(empty)"}`;
}
