/**
 * The launcher's flags as `run`, `verify`, `noise` and `tournament` check them, and as a run or
 * tournament stores them for --resume: every mistake is refused by name, with how to fix it.
 */
import { describe, expect, it } from "vitest";
import { LauncherError, launcherFromFlags, launcherFromStore, launcherJson } from "../../src/launcher/index.ts";
import { parseClusterDevices } from "../../src/workspace/devices.ts";

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(LauncherError);
    expect((err as LauncherError).code).toBe("BAD_LAUNCHER_OPTION");
    return (err as Error).message;
  }
  throw new Error("expected a refusal");
};

describe("launcher flags", () => {
  it("gives nothing without flags (a resume keeps its stored launcher) and local for --launcher local", () => {
    expect(launcherFromFlags({})).toBeUndefined();
    expect(launcherFromFlags({ launcher: "local" })).toEqual({ kind: "local" });
  });

  it("collects the Slurm options, with the default poll", () => {
    expect(launcherFromFlags({ launcher: "slurm", partition: "gpu", account: "lab", extraArgs: ["--qos=high", "--constraint=a100"], cpus: 8 })).toEqual({
      kind: "slurm",
      partition: "gpu",
      account: "lab",
      extraArgs: ["--qos=high", "--constraint=a100"],
      cpusPerTask: 8,
      pollSeconds: 10,
    });
  });

  it("refuses --slurm-* flags without --launcher slurm, naming them", () => {
    expect(refusal(() => launcherFromFlags({ partition: "gpu" }))).toBe("--slurm-partition applies only to the Slurm launcher: add --launcher slurm");
    expect(refusal(() => launcherFromFlags({ launcher: "local", account: "a", cpus: 2 }))).toMatch(/^--slurm-account, --slurm-cpus apply only to the Slurm launcher/);
  });

  it("refuses malformed values, saying what a good one looks like", () => {
    expect(refusal(() => launcherFromFlags({ launcher: "pbs" }))).toMatch(/--launcher must be one of local, slurm/);
    expect(refusal(() => launcherFromFlags({ launcher: "slurm", cpus: 1.5 }))).toMatch(/--slurm-cpus must be an integer ≥ 1/);
    expect(refusal(() => launcherFromFlags({ launcher: "slurm", pollSeconds: 0 }))).toMatch(/--slurm-poll must be seconds between 0.1 and 3600/);
    expect(refusal(() => launcherFromFlags({ launcher: "slurm", extraArgs: ["qos=high"] }))).toMatch(/not an sbatch option.*--slurm-arg=--qos=high/);
    expect(refusal(() => launcherFromFlags({ launcher: "slurm", partition: "gpu a100" }))).toMatch(/--slurm-partition "gpu a100" is not a name/);
  });

  it("round-trips through the store; a run stored before launchers ran locally", () => {
    const slurm = launcherFromFlags({ launcher: "slurm", partition: "p", extraArgs: ["--qos=x"], pollSeconds: 0.5 })!;
    expect(launcherFromStore(JSON.parse(JSON.stringify(launcherJson(slurm))))).toEqual(slurm);
    expect(launcherFromStore(undefined)).toEqual({ kind: "local" });
    expect(refusal(() => launcherFromStore({ kind: "slurm", pollSeconds: -1 }))).toMatch(/--slurm-poll/);
  });
});

describe("device slots on a cluster", () => {
  it("counts jobs in flight of each kind, whatever this machine has", () => {
    expect(parseClusterDevices("0,1,2,3", "gpu").map((s) => s.label)).toEqual(["cuda:0", "cuda:1", "cuda:2", "cuda:3"]);
    expect(parseClusterDevices("auto", "gpu").map((s) => s.label)).toEqual(["cuda:0"]);
    expect(parseClusterDevices("auto", "cpu").map((s) => s.label)).toEqual(["cpu"]);
    // Slurm gives each job its GPU and cores: no local CUDA_VISIBLE_DEVICES or thread share.
    expect(parseClusterDevices("0,cpu", "cpu").map((s) => s.env)).toEqual([{}, {}]);
    expect(() => parseClusterDevices("0,0", "gpu")).toThrow(/GPU 0 is listed twice/);
    expect(() => parseClusterDevices("gpu", "gpu")).toThrow(/neither a GPU index nor cpu/);
  });
});
