/**
 * What a train.ts gets when it imports "nightshift/harness": the contracts it is judged under
 * (types only) and the fixed profile constants. Nothing here lets train.ts reach the metric,
 * the dataset files or the runner; it must stay a read-only view.
 */
export type {
  Batch,
  BatchLoader,
  BudgetClock,
  StepReport,
  TrainContext,
  TrainFunction,
  TrainLogger,
  TrainedModel,
} from "../types.ts";
export { PROFILES, type Profile, type ProfileConstants } from "../constants.ts";
