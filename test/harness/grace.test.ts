/** The grace past the budget: its floor, its growth with the step time, its cap; the step clock. */
import { describe, expect, it } from "vitest";
import { GRACE_CAP_FRACTION, STEP_WINDOW, StepClock, defaultOverBudgetGrace, graceFor } from "../../src/harness/runner/grace.ts";

describe("graceFor", () => {
  it("is the floor before any step was measured, and for steps too short to matter", () => {
    expect(graceFor(1, 20, null)).toEqual({ seconds: 1, scaledBy: null });
    expect(graceFor(1, 20, 0.3)).toEqual({ seconds: 1, scaledBy: null });
    expect(graceFor(1, 20, 0)).toEqual({ seconds: 1, scaledBy: null });
    expect(graceFor(1, 20, Number.NaN)).toEqual({ seconds: 1, scaledBy: null });
  });

  it("is twice the step time when that is longer than the floor", () => {
    expect(graceFor(1, 20, 0.8)).toEqual({ seconds: 1.6, scaledBy: 0.8 });
  });

  it("never exceeds the cap, however long the steps claim to be", () => {
    expect(graceFor(1, 20, 5)).toEqual({ seconds: GRACE_CAP_FRACTION * 20, scaledBy: 5 });
    expect(graceFor(15, 300, 1e6).seconds).toBe(30);
  });

  it("keeps a floor that is above the cap", () => {
    expect(graceFor(1, 5, 3)).toEqual({ seconds: 1, scaledBy: null });
  });

  it("has a default floor of max(1 s, 5% of the budget)", () => {
    expect(defaultOverBudgetGrace(10)).toBe(1);
    expect(defaultOverBudgetGrace(300)).toBe(15);
  });
});

describe("StepClock", () => {
  it("measures seconds per step from arrival times over the steps between messages", () => {
    const clock = new StepClock();
    expect(clock.stepSeconds()).toBeNull();
    clock.record(1000, 1);
    expect(clock.stepSeconds()).toBeNull();
    clock.record(1500, 11); // 0.5 s over 10 steps
    expect(clock.stepSeconds()).toBeCloseTo(0.05, 12);
    clock.record(2500, 21); // 0.1 s per step
    expect(clock.stepSeconds()).toBeCloseTo(0.075, 12); // median of two: their mean
  });

  it("takes the median, so one stall does not set it", () => {
    const clock = new StepClock();
    let t = 0;
    clock.record(t, 0);
    for (let step = 1; step <= 9; step++) clock.record((t += step === 5 ? 9000 : 200), step);
    expect(clock.stepSeconds()).toBeCloseTo(0.2, 12);
  });

  it("follows a machine that slows down: only the latest messages count", () => {
    const clock = new StepClock();
    let t = 0;
    let step = 0;
    clock.record(t, step);
    for (let i = 0; i < STEP_WINDOW; i++) clock.record((t += 100), ++step);
    expect(clock.stepSeconds()).toBeCloseTo(0.1, 12);
    for (let i = 0; i < STEP_WINDOW; i++) clock.record((t += 700), ++step);
    expect(clock.stepSeconds()).toBeCloseTo(0.7, 12);
  });

  it("ignores messages whose step count does not grow or is not a number", () => {
    const clock = new StepClock();
    clock.record(0, 5);
    clock.record(100, 5);
    clock.record(200, 3);
    clock.record(300, Number.NaN);
    clock.record(400, "7" as unknown as number);
    expect(clock.stepSeconds()).toBeNull();
    clock.record(1000, 6); // one step since the message at 0 ms
    expect(clock.stepSeconds()).toBeCloseTo(1, 12);
  });
});
