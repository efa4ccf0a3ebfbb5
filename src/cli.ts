/**
 * The `nightshift` command line. Each command validates its input and exits non-zero with a
 * one-line message on bad input; `--json` gives machine-readable output where offered.
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { deviceInfo, numThreads } from "./engine/index.ts";
import { EngineError } from "./engine/errors.ts";

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName("nightshift")
    .usage("$0 <command> [options]\n\nAutonomous ML research: agents edit train.ts, orgs race for device nights.")
    .command(
      "info",
      "Show the device the engine runs on: cores, threads, GEMM kernel, peak FLOP/s estimate",
      (y) => y.option("json", { type: "boolean", default: false, describe: "print JSON" }),
      (argv) => {
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
    )
    .demandCommand(1, "name a command (see --help)")
    .strict()
    .recommendCommands()
    .help()
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    .parseAsync();
}

class UsageError extends Error {}

main().catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof EngineError) {
    console.error(`nightshift: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
