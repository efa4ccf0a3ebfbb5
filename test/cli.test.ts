import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin/nightshift.js", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

describe("nightshift CLI", () => {
  it("info --json reports the device", () => {
    const r = run("info", "--json");
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as { kind: string; threads: number; gemmKernel: string; peakFlops: number };
    expect(info.kind).toBe("cpu");
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(["avx512", "avx2", "generic"]).toContain(info.gemmKernel);
    expect(info.peakFlops).toBeGreaterThan(0);
  });

  it("honours NIGHTSHIFT_NUM_THREADS", () => {
    const r = spawnSync(process.execPath, [bin, "info", "--json"], {
      encoding: "utf8",
      env: { ...process.env, NIGHTSHIFT_NUM_THREADS: "1" },
    });
    expect(JSON.parse(r.stdout).threads).toBe(1);
  });

  it("takes the peak FLOP/s from NIGHTSHIFT_PEAK_FLOPS when given", () => {
    const r = spawnSync(process.execPath, [bin, "info", "--json"], {
      encoding: "utf8",
      env: { ...process.env, NIGHTSHIFT_PEAK_FLOPS: "2.5e11" },
    });
    expect(JSON.parse(r.stdout).peakFlops).toBe(2.5e11);
  });

  it("rejects an unknown command with a one-line error and exit code 2", () => {
    const r = run("bogus");
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe("nightshift: Unknown argument: bogus");
  });

  it("asks for a command when given none", () => {
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/name a command/);
  });
});
