/**
 * The runner's public face: runTrain and what its callers need to read its results. The child
 * entry (child.ts) is started by runTrain and is deliberately not exported.
 */
export { runTrain, defaultHardLimit, type RunTrainOptions, type OutputStream } from "./run.ts";
export { defaultOverBudgetGrace } from "./grace.ts";
export { RunnerError, type RunnerErrorCode } from "./errors.ts";
export type { ProgressSnapshot } from "./protocol.ts";
export { formatSummary, parseSummary } from "./summary.ts";
export { formatProgressLine } from "./progress.ts";
export { isProcessAlive } from "./process-group.ts";
export { sandboxSupport, SANDBOX_MODES, type SandboxMode, type SandboxSupport } from "./sandbox.ts";
