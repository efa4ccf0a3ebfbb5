/** "k of N" and the time left (src/util/progress.ts), on a clock the test moves. */
import { describe, expect, it } from "vitest";
import { ProgressCounter, formatDuration } from "../../src/util/progress.ts";

describe("ProgressCounter", () => {
  it("counts items and estimates the time left from this invocation's rate", () => {
    let now = 1_000_000;
    const p = new ProgressCounter(10, 0, () => now);
    expect(p.describe()).toBe("0/10"); // no rate yet: no estimate
    now += 30_000;
    expect(p.tick()).toBe("1/10, ~4m30s left");
    now += 30_000;
    expect(p.tick()).toBe("2/10, ~4m00s left");
  });

  it("counts a resumed run's earlier items but leaves them out of the rate", () => {
    let now = 0;
    const p = new ProgressCounter(10, 6, () => now);
    now += 10_000;
    expect(p.tick()).toBe("7/10, ~30s left");
    now += 10_000;
    p.tick();
    p.tick();
    expect(p.tick()).toBe("10/10"); // done: nothing left to estimate
  });

  it("counts without a total when none is set", () => {
    const p = new ProgressCounter(undefined);
    p.tick();
    expect(p.tick()).toBe("2");
  });
});

describe("formatDuration", () => {
  it("reads at a glance", () => {
    expect([0, 999, 45_000, 185_000, 3_600_000, 7_810_000].map(formatDuration)).toEqual(["0s", "1s", "45s", "3m05s", "1h00m", "2h10m"]);
    expect(formatDuration(-5)).toBe("0s");
  });
});
