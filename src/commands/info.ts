/** `nightshift info`: the device the engine sees, and why there is no GPU when there is none. */
import type { CommandModule } from "yargs";
import { cuda, deviceInfo, numThreads } from "../engine/index.ts";

export const infoCommand: CommandModule<object, { json: boolean }> = {
  command: "info",
  describe: "Show the device the engine runs on: GPU or CPU, threads, GEMM kernel, peak FLOP/s estimate",
  builder: (y) => y.option("json", { type: "boolean", default: false, describe: "print JSON" }),
  handler: (argv) => {
    const info = { ...deviceInfo(), threads: numThreads(), cudaUnavailable: cuda.unavailableReason() };
    if (argv.json) {
      console.log(JSON.stringify(info));
      return;
    }
    console.log(`device:      ${info.kind} — ${info.name}`);
    console.log(`gpus:        ${info.gpus}${info.cudaUnavailable ? ` (${info.cudaUnavailable})` : ""}`);
    console.log(`threads:     ${info.threads} (set NIGHTSHIFT_NUM_THREADS to change)`);
    console.log(`gemm kernel: ${info.gemmKernel} (CPU)`);
    const unit = info.kind === "cuda" ? "TFLOP/s bf16 tensor cores" : "GFLOP/s float32";
    const scale = info.kind === "cuda" ? 1e12 : 1e9;
    console.log(`peak (est.): ${(info.peakFlops / scale).toFixed(info.kind === "cuda" ? 1 : 0)} ${unit}`);
  },
};
