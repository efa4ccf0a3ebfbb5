/** `nightshift info`: the device the engine sees. */
import type { CommandModule } from "yargs";
import { deviceInfo, numThreads } from "../engine/index.ts";

export const infoCommand: CommandModule<object, { json: boolean }> = {
  command: "info",
  describe: "Show the device the engine runs on: cores, threads, GEMM kernel, peak FLOP/s estimate",
  builder: (y) => y.option("json", { type: "boolean", default: false, describe: "print JSON" }),
  handler: (argv) => {
    const info = { ...deviceInfo(), threads: numThreads() };
    if (argv.json) {
      console.log(JSON.stringify(info));
      return;
    }
    console.log(`device:      ${info.kind} — ${info.name}`);
    console.log(`threads:     ${info.threads} (set NIGHTSHIFT_NUM_THREADS to change)`);
    console.log(`gemm kernel: ${info.gemmKernel}`);
    console.log(`peak (est.): ${(info.peakFlops / 1e9).toFixed(0)} GFLOP/s float32`);
  },
};
