/**
 * `nightshift report`: a run's, a night's or a whole tournament's report as one self-contained
 * HTML page or as Markdown, written under reports/ (or --out) and its path printed. `--night N`
 * reports night N of `--tournament T` (default: the latest tournament); `--tournament T` alone
 * reports every night of T. With none of them, what was done last: the most recent run, or the
 * whole tournament when that run was one of its nights' runs.
 */
import { relative, resolve, sep } from "node:path";
import type { CommandModule } from "yargs";
import { DEFAULT_WORKSPACE } from "../workspace/workspace.ts";
import { REPORT_FORMATS, checkFormat, writeLatestReport, writeRunReport, writeTournamentReport } from "../report/index.ts";

interface ReportArgs {
  run?: string;
  night?: string;
  tournament?: string;
  workspace: string;
  format: string;
  out?: string;
  templates?: string;
  json: boolean;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: "report",
  describe: "Write a run's, a night's or a tournament's report: one self-contained HTML page (or Markdown) under reports/",
  builder: (y) =>
    y
      .option("run", { type: "string", describe: "a run id, branch or tag (default: what was done last — the most recent run, or its whole tournament when it ran in one)" })
      .option("night", { type: "string", describe: "a night number of --tournament (default: the latest tournament)" })
      .option("tournament", { type: "string", describe: "a tournament by name (alone: the whole tournament, every night)" })
      .conflicts("run", ["night", "tournament"])
      .option("workspace", { type: "string", default: DEFAULT_WORKSPACE, describe: "the workspace of the run" })
      // A string checked by the report (one-line REPORT_BAD_FORMAT), not yargs choices (a multi-line error).
      .option("format", { type: "string", default: "html", describe: `${REPORT_FORMATS.join(" or ")}: a self-contained page, or Markdown` })
      .option("out", { type: "string", describe: "output file, or a folder for the default name (default: reports/<branch>.<ext>)" })
      .option("templates", { type: "string", describe: "a folder of templates laid over the built-in ones" })
      .option("json", { type: "boolean", default: false, describe: "print {path, format} as JSON" }) as never,
  handler: async (argv) => {
    const common = {
      workspace: argv.workspace,
      format: checkFormat(argv.format),
      ...(argv.out !== undefined ? { out: argv.out } : {}),
      ...(argv.templates !== undefined ? { templatesDir: argv.templates } : {}),
    };
    const written =
      argv.night !== undefined || argv.tournament !== undefined
        ? await writeTournamentReport({
            ...common,
            ...(argv.tournament !== undefined ? { tournament: String(argv.tournament) } : {}),
            ...(argv.night !== undefined ? { night: String(argv.night) } : {}),
          })
        : argv.run !== undefined
          ? await writeRunReport({ ...common, run: argv.run })
          : await writeLatestReport(common);
    if (argv.json) console.log(JSON.stringify({ path: written.path, format: written.format }));
    else console.log(displayPath(written.path));
  },
};

/** The path as a person would type it: relative when under the current folder. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== "" && !rel.startsWith("..") && !rel.startsWith(sep) ? rel : resolve(path);
}
