/**
 * The `nightshift` command line: assembles the commands in src/commands/. Every command
 * validates its input; errors that are the user's to fix print one line and exit with code 2.
 */
import yargs, { type CommandModule } from "yargs";
import { hideBin } from "yargs/helpers";
import { UsageError, isUserError } from "./commands/common.ts";

// Each command's module is loaded only when that command runs: together they pull in the
// store, the loop, the tournament and the report renderer, most of a second of start-up that
// `nightshift info` has no use for. Help and a mistyped command load them all.
type Loader = () => Promise<CommandModule<object, never>>;
const COMMANDS: Record<string, Loader> = {
  info: async () => (await import("./commands/info.ts")).infoCommand as CommandModule<object, never>,
  prepare: async () => (await import("./commands/prepare.ts")).prepareCommand as CommandModule<object, never>,
  train: async () => (await import("./commands/train.ts")).trainCommand as CommandModule<object, never>,
  run: async () => (await import("./commands/run.ts")).runCommand as CommandModule<object, never>,
  results: async () => (await import("./commands/results.ts")).resultsCommand as CommandModule<object, never>,
  noise: async () => (await import("./commands/noise.ts")).noiseCommand as CommandModule<object, never>,
  verify: async () => (await import("./commands/verify.ts")).verifyCommand as CommandModule<object, never>,
  compare: async () => (await import("./commands/compare.ts")).compareCommand as CommandModule<object, never>,
  report: async () => (await import("./commands/report.ts")).reportCommand as CommandModule<object, never>,
  tournament: async () => (await import("./commands/tournament.ts")).tournamentCommand as CommandModule<object, never>,
  import: async () => (await import("./commands/import.ts")).importCommand as CommandModule<object, never>,
};

async function loadCommands(first: string | undefined): Promise<CommandModule<object, never>[]> {
  const names = first !== undefined && first in COMMANDS ? [first] : Object.keys(COMMANDS);
  return Promise.all(names.map((name) => COMMANDS[name]!()));
}

// A reader that closed its end early (`nightshift results | head`) has all it wanted: end
// quietly with status 0, for every command, instead of the unhandled-'error' stack trace Node
// prints for EPIPE. process.exit runs the exit hooks, so a training child is killed with us.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
// The same for progress and warnings on stderr (`2>&1 | head`): with no one reading, there is no
// one to tell, and the command's own work (and exit status) goes on.
process.stderr.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
});

async function main(): Promise<void> {
  const cli = yargs(hideBin(process.argv));
  await cli
    .scriptName("nightshift")
    .wrap(process.stdout.isTTY ? Math.min(120, cli.terminalWidth()) : null) // a pipe gets whole lines
    .usage("$0 <command> [options]\n\nAutonomous ML research: agents edit train.ts, orgs race for device nights.")
    .command(await loadCommands(hideBin(process.argv)[0]))
    .demandCommand(1, "name a command (see --help)")
    .strict()
    .recommendCommands()
    .help()
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    .parseAsync();
}

main().catch((err: unknown) => {
  if (isUserError(err)) {
    console.error(`nightshift: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
