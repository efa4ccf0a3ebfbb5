/**
 * What the engine runs on: name, cores, the GEMM kernel chosen at run time, and a peak-FLOP/s
 * estimate used for MFU. The estimate is threads × clock × FLOPs per cycle of the vector unit,
 * with the boost clock when the OS exposes it and the reported (often base) clock otherwise;
 * it is a yardstick for comparing runs, not a measurement. NIGHTSHIFT_PEAK_FLOPS overrides it.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { native } from "./native.ts";

export interface DeviceInfo {
  kind: "cpu";
  name: string;
  /** Threads the engine's pool uses (NIGHTSHIFT_NUM_THREADS or the core count). */
  threads: number;
  /** float32 GEMM micro-kernel: "avx512", "avx2" or "generic". */
  gemmKernel: string;
  /** Estimated float32 peak of the engine's threads, FLOP/s. */
  peakFlops: number;
}

// float32 FLOPs per cycle per core: two FMA pipes × lanes × 2. AMD Zen 4 runs AVX-512 on
// 256-bit pipes, so it peaks at the AVX2 rate.
function flopsPerCycle(kernel: string, name: string): number {
  if (kernel === "avx512") return /AMD/i.test(name) ? 32 : 64;
  if (kernel === "avx2") return 32;
  return 8;
}

export function deviceInfo(): DeviceInfo {
  const cpu = cpus()[0];
  const name = cpu?.model?.trim() || "unknown CPU";
  const ghz = clockGhz(cpu?.speed ?? 0);
  const { gemmKernel } = native.cpuInfo();
  const threads = native.numThreads();
  const override = Number(process.env.NIGHTSHIFT_PEAK_FLOPS);
  const peakFlops = override > 0 ? override : threads * ghz * 1e9 * flopsPerCycle(gemmKernel, name);
  return { kind: "cpu", name, threads, gemmKernel, peakFlops };
}

// The boost clock from cpufreq when present; else what os.cpus() reports, which is 0 MHz on
// some virtual machines, where /proc/cpuinfo usually still knows. Failing all, 2.5 GHz.
function clockGhz(reportedMhz: number): number {
  try {
    const khz = Number(readFileSync("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "utf8"));
    if (khz > 0) return khz / 1e6;
  } catch {
    // no cpufreq (common in VMs)
  }
  if (reportedMhz > 0) return reportedMhz / 1000;
  try {
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m && Number(m[1]) > 0) return Number(m[1]) / 1000;
  } catch {
    // not Linux: fall through
  }
  return 2.5;
}
