/**
 * Device slots: where the loop's experiments train at the same time. `--devices 0,1` gives one
 * slot per GPU (the child sees only its GPU through CUDA_VISIBLE_DEVICES); `--devices cpu,cpu`
 * gives CPU slots that split the cores between them (NIGHTSHIFT_NUM_THREADS), since two
 * trainings each using every core would only slow each other down; a CPU slot's child sees no
 * GPU, so it really trains on the CPU. `auto` (the default) is GPU 0 when the engine has a
 * GPU, else one CPU slot.
 */
import { deviceInfo } from "../engine/index.ts";
import { CodedError } from "../util/errors.ts";

export class DeviceError extends CodedError<"BAD_DEVICES"> {}

export interface DeviceSlot {
  /** 0, 1, ...: names the slot's worktree and its branch. */
  slot: number;
  /** "cuda:1" or "cpu". */
  label: string;
  /** Environment for the slot's training child. */
  env: Record<string, string>;
}

export interface Machine {
  /** GPUs the engine can use (0 without the CUDA backend or a GPU). */
  gpus: number;
  /** Threads the engine uses on this machine. */
  cpuThreads: number;
}

/** This machine as the engine sees it. */
export function engineMachine(): Machine {
  const info = deviceInfo();
  return { gpus: info.gpus, cpuThreads: info.threads };
}

/** Parses a comma-separated list of GPU indices or `cpu` entries, e.g. "0,1" or "cpu,cpu", or `auto`. */
export function parseDevices(spec: string, machine: Machine): DeviceSlot[] {
  if (spec.trim() === "auto") spec = machine.gpus > 0 ? "0" : "cpu";
  const entries = spec.split(",").map((s) => s.trim());
  if (entries.some((e) => e === ""))
    throw new DeviceError("BAD_DEVICES", `--devices ${JSON.stringify(spec)} has an empty entry: list GPU indices (0,1) or cpu entries (cpu,cpu)`);
  const cpuSlots = entries.filter((e) => e === "cpu").length;
  const threads = Math.max(1, Math.floor(machine.cpuThreads / Math.max(1, cpuSlots)));
  const seen = new Set<string>();
  return entries.map((entry, slot): DeviceSlot => {
    if (entry === "cpu") {
      const env: Record<string, string> = machine.gpus > 0 ? { CUDA_VISIBLE_DEVICES: "" } : {};
      if (cpuSlots > 1) env.NIGHTSHIFT_NUM_THREADS = String(threads);
      return { slot, label: "cpu", env };
    }
    if (!/^\d+$/.test(entry))
      throw new DeviceError("BAD_DEVICES", `--devices: ${JSON.stringify(entry)} is neither a GPU index nor cpu (e.g. --devices 0,1 or --devices cpu,cpu)`);
    const gpu = Number(entry);
    if (machine.gpus === 0)
      throw new DeviceError("BAD_DEVICES", `--devices: there is no GPU the engine can use here, so GPU ${gpu} cannot be a slot; use --devices cpu (or cpu,cpu for two CPU slots)`);
    if (gpu >= machine.gpus)
      throw new DeviceError("BAD_DEVICES", `--devices: GPU ${gpu} does not exist (this machine has ${machine.gpus}: 0..${machine.gpus - 1})`);
    if (seen.has(entry)) throw new DeviceError("BAD_DEVICES", `--devices: GPU ${gpu} is listed twice; each GPU runs one experiment at a time`);
    seen.add(entry);
    return { slot, label: `cuda:${gpu}`, env: { CUDA_VISIBLE_DEVICES: String(gpu) } };
  });
}

/**
 * Slots of a Slurm launcher: each is one job in flight at a time, on whatever node Slurm picks,
 * so this machine's GPUs and cores do not bound them. `0,1,2,3` is four GPU jobs (each gets
 * `--gres=gpu:1` and Slurm's CUDA_VISIBLE_DEVICES), `cpu,cpu` two CPU jobs; `auto` is one job
 * of the profile's kind.
 */
export function parseClusterDevices(spec: string, profile: "gpu" | "cpu"): DeviceSlot[] {
  if (spec.trim() === "auto") spec = profile === "gpu" ? "0" : "cpu";
  const entries = spec.split(",").map((s) => s.trim());
  if (entries.some((e) => e === ""))
    throw new DeviceError("BAD_DEVICES", `--devices ${JSON.stringify(spec)} has an empty entry: list GPU indices (0,1: one GPU job each) or cpu entries (cpu,cpu)`);
  const seen = new Set<string>();
  return entries.map((entry, slot): DeviceSlot => {
    if (entry === "cpu") return { slot, label: "cpu", env: {} };
    if (!/^\d+$/.test(entry))
      throw new DeviceError("BAD_DEVICES", `--devices: ${JSON.stringify(entry)} is neither a GPU index nor cpu (with --launcher slurm, 0,1 means two GPU jobs in flight)`);
    if (seen.has(entry)) throw new DeviceError("BAD_DEVICES", `--devices: GPU ${entry} is listed twice; list distinct indices, one per GPU job in flight (0,1,2,3)`);
    seen.add(entry);
    return { slot, label: `cuda:${entry}`, env: {} };
  });
}

/** Whether a slot trains on a GPU (a Slurm job then asks for one). */
export const slotDevice = (slot: DeviceSlot): "gpu" | "cpu" => (slot.label === "cpu" ? "cpu" : "gpu");
