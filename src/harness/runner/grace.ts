/**
 * How far past the budget train() may return and still count: the grace. A step in flight when
 * the budget clock expires ends late by up to one step, and on a loaded machine one step can take
 * several times its usual time; a fixed grace fails an honest recipe whose steps are long for
 * its budget. So the grace grows with the step time, as this process measures it, up to a cap.
 *
 * The step time comes from this process's clock (when the child's progress messages arrive)
 * divided by the steps they say were made. The step counts are train.ts's word, so a train.ts can
 * make its steps look long; what it gains by that is bounded by the cap (GRACE_CAP_FRACTION of
 * the budget), which is the most training past the budget any run can get. Pure: no clock.
 */

/** The grace is this many times the measured step time, when that is more than the floor. */
export const GRACE_STEP_MULTIPLE = 2;
/** The grace never exceeds this fraction of the budget (unless the floor given is larger). */
export const GRACE_CAP_FRACTION = 0.1;
/** Step times are measured over this many of the latest progress messages. */
export const STEP_WINDOW = 32;

/** The floor: max(1 s, 5% of the budget). */
export function defaultOverBudgetGrace(timeBudget: number): number {
  return Math.max(1, 0.05 * timeBudget);
}

export interface Grace {
  seconds: number;
  /** The measured step time that set it, when it was more than the floor. */
  scaledBy: number | null;
}

/**
 * The grace for a run: `floor`, or GRACE_STEP_MULTIPLE × the step time when that is larger,
 * capped at GRACE_CAP_FRACTION of the budget (a floor above the cap stands).
 */
export function graceFor(floor: number, timeBudget: number, stepSeconds: number | null): Grace {
  if (stepSeconds === null || !(stepSeconds > 0)) return { seconds: floor, scaledBy: null };
  const scaled = Math.min(GRACE_STEP_MULTIPLE * stepSeconds, GRACE_CAP_FRACTION * timeBudget);
  return scaled > floor ? { seconds: scaled, scaledBy: stepSeconds } : { seconds: floor, scaledBy: null };
}

/**
 * Seconds per step by this process's clock: from each progress message to the next, the time
 * between their arrivals over the steps made between them; the median over the latest
 * STEP_WINDOW messages, so one stall does not set it and a machine that slows down mid-run does.
 */
export class StepClock {
  readonly #perStep: number[] = [];
  #last: { atMs: number; steps: number } | null = null;

  /** A progress message arrived at `atMs` (this process's clock) saying `steps` were made. */
  record(atMs: number, steps: number): void {
    if (!Number.isFinite(atMs) || !Number.isFinite(steps)) return;
    const last = this.#last;
    if (last !== null && steps > last.steps && atMs >= last.atMs) {
      this.#perStep.push((atMs - last.atMs) / 1000 / (steps - last.steps));
      if (this.#perStep.length > STEP_WINDOW) this.#perStep.shift();
    }
    if (last === null || steps > last.steps) this.#last = { atMs, steps };
  }

  /** The median seconds per step over the window, or null before two messages. */
  stepSeconds(): number | null {
    if (this.#perStep.length === 0) return null;
    const sorted = [...this.#perStep].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  }
}
