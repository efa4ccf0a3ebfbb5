/**
 * report/: the pages people read in the morning — a run, a night or a whole tournament rendered
 * by Handlebars templates to one self-contained HTML file (inline CSS, charts as inline SVG
 * drawn by Vega-Lite on the server, no script) and to Markdown with the same tables. It reads
 * the store and never writes it.
 *
 *   const store = openWorkspaceStore(workspace);                  // read-only
 *   const run = resolveRun(store, "mar5");                        // id, branch or tag; undefined: latest
 *   const model = buildRunReport(store, run);                     // plain data: ReportModel
 *   const html = await renderReport(model, { format: "html" });   // or "md"; templatesDir to override
 *   writeReportFile(reportPath(run.branch, "html"), html);        // reports/<branch>.html, atomically
 *
 * Or all at once: `await writeRunReport({ workspace, run: "mar5", format: "md" })` → { path, format, tsvPath }.
 *
 * At any size (model/limits.ts): up to 500 experiments a report lists every row, failure and
 * kept diff; above, it summarises — each run's best rows, the failures by cause with the latest
 * listed, the kept changes with full diffs on the champion chain only, charts binned — and the
 * writers put the full experiment list beside the report as `<report>.experiments.tsv`
 * (model/table.ts), linked from it. The model is built from narrow store reads (no diff or log
 * tail but those shown).
 *
 * Tournaments (model/tournament.ts):
 *
 *   const t = resolveTournament(store, "week1");                 // name or id; undefined: latest
 *   buildNightReport(store, t, resolveNight(store, t, "2"));      // one night's orgs side by side
 *   buildTournamentReport(store, t);                              // every night, chain, lineage
 *   await writeTournamentReport({ workspace, tournament: "week1", night: "2", format: "html" });
 *     // → reports/<name>-night-2.html (no night: reports/tournament-<name>.html)
 *
 * Optional sections: assembleReport() builds the model over several run sections; the optional
 * model fields leaderboard, allocation, verdicts, lineage, champions, nights and the headline's
 * verifiedGain / testBpb / verifiedNote each have a partial that shows them when present
 * (templates/partials/<name>.html.hbs and .md.hbs); charts/forest.ts, charts/allocation.ts and
 * charts/lineage.ts draw their charts.
 *
 * Safety: every text from the store (descriptions, hypotheses, diffs, program.md, reasons, log
 * tails, org names) is escaped for the format — HTML by Handlebars, Markdown by markdown.ts —
 * and the HTML page carries a Content-Security-Policy that refuses any script.
 *
 * Errors: ReportError with a stable `code` (errors.ts), one line each; store errors pass through.
 */
import { basename, resolve } from "node:path";
import { buildRunReportWithTable, type BuiltReport, type ReportOptions } from "./model/report.ts";
import { experimentsTsv, tableRows } from "./model/table.ts";
import { buildNightReportWithTable, buildTournamentReportWithTable, resolveNight, resolveTournament } from "./model/tournament.ts";
import { checkFormat, renderReport } from "./render.ts";
import { loadTemplates } from "./templates.ts";
import { latestSubject, openWorkspaceStore, resolveRun } from "./resolve.ts";
import type { ReportFormat } from "./types.ts";
import { experimentsTsvPath, reportPath, writeReportFile } from "./write.ts";

export { ReportError, type ReportErrorCode } from "./errors.ts";
export { buildRunReport, buildRunReportWithTable, assembleReport, seedNoiseOf, type ReportOptions, type AssembleInput, type BuiltReport } from "./model/report.ts";
export { buildRunSection, buildRunSections, chainTo, type BuiltRunSection, type SectionRequest, type SectionInputs } from "./model/run-section.ts";
export { buildNightReport, buildNightReportWithTable, buildTournamentReport, buildTournamentReportWithTable, resolveNight, resolveTournament } from "./model/tournament.ts";
export { experimentsTsv, EXPERIMENTS_TSV_COLUMNS, type TableRun } from "./model/table.ts";
export { LIMITS, planDetail, type DetailPlan } from "./model/limits.ts";
export { renderReport, checkFormat, type RenderOptions } from "./render.ts";
export { latestSubject, openWorkspaceStore, resolveRun } from "./resolve.ts";
export { reportPath, writeReportFile, experimentsTsvPath, DEFAULT_REPORTS_DIR, slug } from "./write.ts";
export { loadTemplates, BUILTIN_TEMPLATES_DIR } from "./templates.ts";
export { parseUnifiedDiff, textDiff } from "./diff.ts";
export { forestChart, type ForestRow } from "./charts/forest.ts";
export { allocationChart } from "./charts/allocation.ts";
export { lineageChart, layoutLineage, type LineageLayout, type LineageRow } from "./charts/lineage.ts";
export { wallClockChart, type ClockOrigin } from "./charts/wall-clock.ts";
export * from "./types.ts";

export interface RunReportRequest {
  /** The workspace folder (holding nightshift.db). */
  workspace: string;
  /** Run id, branch or tag; default: the most recent run. */
  run?: string;
  format: ReportFormat;
  /** Output file or folder; default reports/<branch>.<ext> under cwd. */
  out?: string;
  /** A folder of templates laid over the built-in ones. */
  templatesDir?: string;
  /** Relative paths resolve against this (default: process.cwd()). */
  cwd?: string;
  now?: ReportOptions["now"];
}

export interface WrittenReport {
  path: string;
  format: ReportFormat;
  /** The full experiment list beside the report (`<report>.experiments.tsv`). */
  tsvPath: string;
  /** The run reported (run reports). */
  runId?: number;
  /** The tournament (and night) reported (night and tournament reports). */
  tournament?: string;
  night?: number;
}

/** Builds, renders and writes the report of one run. */
export async function writeRunReport(request: RunReportRequest): Promise<WrittenReport> {
  const cwd = request.cwd ?? process.cwd();
  const format = checkFormat(request.format);
  // Templates first: a broken --templates folder fails before the store is even opened.
  const templatesDir = request.templatesDir === undefined ? undefined : resolve(cwd, request.templatesDir);
  loadTemplates(format, templatesDir);
  const store = openWorkspaceStore(resolve(cwd, request.workspace));
  let built;
  let run;
  try {
    run = resolveRun(store, request.run);
    built = buildRunReportWithTable(store, run, request.now ? { now: request.now } : {});
  } finally {
    store.close(); // rendering needs only the model
  }
  const path = reportPath(run.branch, format, request.out, cwd);
  const tsvPath = await writeBuilt(built, path, format, templatesDir);
  return { path, format, tsvPath, runId: run.id };
}

/** Renders and writes the report, linking the full experiment list it then writes beside it. */
async function writeBuilt(built: BuiltReport, path: string, format: ReportFormat, templatesDir: string | undefined): Promise<string> {
  const tsvPath = experimentsTsvPath(path);
  built.model.experimentsFile = { name: basename(tsvPath), rows: tableRows(built.table) };
  const text = await renderReport(built.model, { format, ...(templatesDir ? { templatesDir } : {}) });
  writeReportFile(path, text);
  writeReportFile(tsvPath, experimentsTsv(built.table));
  return tsvPath;
}

export interface TournamentReportRequest extends Omit<RunReportRequest, "run"> {
  /** Tournament name or id; default: the latest tournament. */
  tournament?: string;
  /** A night number: that night's report; none: the whole tournament's. */
  night?: string;
}

/** Builds, renders and writes the report of a night (with `night`) or of a whole tournament. */
export async function writeTournamentReport(request: TournamentReportRequest): Promise<WrittenReport> {
  const cwd = request.cwd ?? process.cwd();
  const format = checkFormat(request.format);
  const templatesDir = request.templatesDir === undefined ? undefined : resolve(cwd, request.templatesDir);
  loadTemplates(format, templatesDir);
  const store = openWorkspaceStore(resolve(cwd, request.workspace));
  const options = request.now ? { now: request.now } : {};
  let built;
  let name;
  let t;
  let nightNumber: number | undefined;
  try {
    t = resolveTournament(store, request.tournament);
    if (request.night !== undefined) {
      const night = resolveNight(store, t, request.night);
      nightNumber = night.number;
      built = buildNightReportWithTable(store, t, night, options);
      name = `${t.name}-night-${night.number}`;
    } else {
      built = buildTournamentReportWithTable(store, t, options);
      name = `tournament-${t.name}`;
    }
  } finally {
    store.close();
  }
  const path = reportPath(name, format, request.out, cwd);
  const tsvPath = await writeBuilt(built, path, format, templatesDir);
  return { path, format, tsvPath, tournament: t.name, ...(nightNumber !== undefined ? { night: nightNumber } : {}) };
}

/**
 * The report of what was done last (`nightshift report` without a selector): the whole
 * tournament when the most recent run was part of one, else that run's report.
 */
export async function writeLatestReport(request: Omit<RunReportRequest, "run">): Promise<WrittenReport> {
  const store = openWorkspaceStore(resolve(request.cwd ?? process.cwd(), request.workspace));
  let subject;
  try {
    subject = latestSubject(store);
  } finally {
    store.close();
  }
  return "tournament" in subject ? writeTournamentReport({ ...request, tournament: subject.tournament.name }) : writeRunReport({ ...request, run: String(subject.run.id) });
}
