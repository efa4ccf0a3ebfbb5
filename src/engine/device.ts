/**
 * What the engine runs on: the first CUDA device when there is one, else the CPU; its name,
 * the CPU's threads and GEMM kernel, and a peak-FLOP/s estimate used for MFU.
 * - CPU: threads × clock × FLOPs per cycle of the vector unit, with the boost clock when the
 *   OS exposes it and the reported (often base) clock otherwise.
 * - CUDA: the dense bf16 tensor-core peak, SMs × SM clock × FLOPs per SM per cycle of the
 *   card's generation; on an H100 or H200 the 989.5 TFLOP/s that autoresearch divides by, so MFU
 *   figures compare with its own.
 * Either is a yardstick for comparing runs, not a measurement. NIGHTSHIFT_PEAK_FLOPS overrides it.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import * as cuda from "./cuda.ts";
import { native } from "./native.ts";

export interface DeviceInfo {
  /** Where training runs: "cuda" (device 0 of those visible) when the engine has a GPU. */
  kind: "cpu" | "cuda";
  /** The GPU's name on "cuda", else the CPU's. */
  name: string;
  /** CUDA devices visible to this process (0 on a CPU-only build or machine). */
  gpus: number;
  /** Threads the engine's pool uses (NIGHTSHIFT_NUM_THREADS or the core count). */
  threads: number;
  /** float32 GEMM micro-kernel: "avx512", "avx2" or "generic". */
  gemmKernel: string;
  /** Estimated peak, FLOP/s: bf16 tensor cores on "cuda", the threads' float32 on "cpu". */
  peakFlops: number;
}

// Dense bf16 tensor-core FLOPs per SM per clock, by compute capability major version.
function tensorFlopsPerSmCycle(major: number, minor: number): number {
  if (major >= 9) return 4096; // Hopper and later
  if (major === 8 && minor === 0) return 2048; // A100
  if (major >= 8) return 1024; // Ampere/Ada consumer parts
  return 512; // Volta/Turing (fp16)
}

function cudaPeakFlops(p: cuda.CudaProperties): number {
  if (/H100|H200/i.test(p.name)) return 989.5e12; // the same GH100 tensor cores and clocks
  return p.multiprocessors * p.clockGhz * 1e9 * tensorFlopsPerSmCycle(p.major, p.minor);
}

// float32 FLOPs per cycle per core: two FMA pipes × lanes × 2. AMD Zen 4 runs AVX-512 on
// 256-bit pipes, so it peaks at the AVX2 rate.
function flopsPerCycle(kernel: string, name: string): number {
  if (kernel === "avx512") return /AMD/i.test(name) ? 32 : 64;
  if (kernel === "avx2") return 32;
  return 8;
}

export function deviceInfo(): DeviceInfo {
  const { gemmKernel } = native.cpuInfo();
  const threads = native.numThreads();
  const override = Number(process.env.NIGHTSHIFT_PEAK_FLOPS);
  const gpus = cuda.deviceCount();
  if (gpus > 0) {
    const gpu = cuda.properties(0);
    return { kind: "cuda", name: gpu.name, gpus, threads, gemmKernel, peakFlops: override > 0 ? override : cudaPeakFlops(gpu) };
  }
  const cpu = cpus()[0];
  const name = cpu?.model?.trim() || "unknown CPU";
  const peakFlops = override > 0 ? override : threads * clockGhz(cpu?.speed ?? 0) * 1e9 * flopsPerCycle(gemmKernel, name);
  return { kind: "cpu", name, gpus, threads, gemmKernel, peakFlops };
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
