/**
 * The `nightshift` command line: assembles the commands in src/commands/. Every command
 * validates its input; errors that are the user's to fix print one line and exit with code 2.
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { UsageError, isUserError } from "./commands/common.ts";
import { infoCommand } from "./commands/info.ts";
import { prepareCommand } from "./commands/prepare.ts";
import { reportCommand } from "./commands/report.ts";
import { resultsCommand } from "./commands/results.ts";
import { runCommand } from "./commands/run.ts";
import { noiseCommand } from "./commands/noise.ts";
import { verifyCommand } from "./commands/verify.ts";
import { compareCommand } from "./commands/compare.ts";
import { trainCommand } from "./commands/train.ts";
import { tournamentCommand } from "./commands/tournament.ts";

async function main(): Promise<void> {
  const cli = yargs(hideBin(process.argv));
  await cli
    .scriptName("nightshift")
    .wrap(process.stdout.isTTY ? Math.min(120, cli.terminalWidth()) : null) // a pipe gets whole lines
    .usage("$0 <command> [options]\n\nAutonomous ML research: agents edit train.ts, orgs race for device nights.")
    .command(infoCommand)
    .command(prepareCommand)
    .command(trainCommand)
    .command(runCommand)
    .command(resultsCommand)
    .command(noiseCommand)
    .command(verifyCommand)
    .command(compareCommand)
    .command(reportCommand)
    .command(tournamentCommand)
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
