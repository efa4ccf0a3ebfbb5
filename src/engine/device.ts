/**
 * What the engine runs on: name, cores, the GEMM kernel chosen at run time, and a peak-FLOP/s
 * estimate used for MFU. The estimate is cores × clock × FLOPs per cycle of the vector unit;
 * it is a yardstick for comparing runs, not a measurement.
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
  return { kind: "cpu", name, threads, gemmKernel, peakFlops: threads * ghz * 1e9 * flopsPerCycle(gemmKernel, name) };
}

// os.cpus() reports 0 MHz on some virtual machines; /proc/cpuinfo usually still knows. Failing
// both, assume a conservative 2.5 GHz.
function clockGhz(reportedMhz: number): number {
  if (reportedMhz > 0) return reportedMhz / 1000;
  try {
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m && Number(m[1]) > 0) return Number(m[1]) / 1000;
  } catch {
    // not Linux: fall through
  }
  return 2.5;
}
