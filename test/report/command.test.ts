/**
 * `nightshift report` and writeRunReport: which run (id, branch, tag, latest), where the file
 * goes (reports/ under the current folder, --out file or folder), and every bad input as a
 * one-line coded error — in process for speed, and through the real CLI for the exit code 2
 * and the printed path.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportCommand } from "../../src/commands/report.ts";
import { openStore } from "../../src/store/index.ts";
import { ReportError, type ReportErrorCode, writeRunReport } from "../../src/report/index.ts";
import { buildFixture } from "./fixture.ts";

const BIN = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
let root: string;
let workspace: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "ns-report-cmd-"));
  workspace = join(root, "ws");
  mkdirSync(workspace);
  const fx = await buildFixture(workspace);
  fx.store.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function failure(request: Partial<Parameters<typeof writeRunReport>[0]>): Promise<ReportError> {
  const err = await writeRunReport({ workspace, format: "html", cwd: root, ...request }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ReportError);
  expect((err as Error).message).not.toContain("\n");
  return err as ReportError;
}

const code = async (request: Partial<Parameters<typeof writeRunReport>[0]>): Promise<ReportErrorCode> => (await failure(request)).code;

describe("writeRunReport", () => {
  it("writes the latest run under reports/ of the current folder by default", async () => {
    const written = await writeRunReport({ workspace: "ws", format: "html", cwd: root });
    expect(written.path).toBe(join(root, "reports", "nightshift-mar5-default.html"));
    expect(readFileSync(written.path, "utf8")).toMatch(/^<!doctype html>/);
  });

  it("finds a run by id, branch or tag, and writes to an --out file or folder", async () => {
    const byId = await writeRunReport({ workspace, format: "md", run: "1", out: "one.md", cwd: root });
    expect(byId.path).toBe(join(root, "one.md"));
    const byBranch = await writeRunReport({ workspace, format: "md", run: "nightshift/mar5/default", out: "outdir/", cwd: root });
    expect(byBranch.path).toBe(join(root, "outdir", "nightshift-mar5-default.md"));
    const byTag = await writeRunReport({ workspace, format: "md", run: "mar5", out: "outdir", cwd: root });
    expect(byTag.path).toBe(byBranch.path);
    expect(readFileSync(byTag.path, "utf8")).toMatch(/^# Run nightshift\/mar5\/default/);
  });

  it("refuses an unknown run, naming the runs there are", async () => {
    const err = await failure({ run: "mar9" });
    expect(err.code).toBe("REPORT_UNKNOWN_RUN");
    expect(err.message).toContain("1 (nightshift/mar5/default)");
    expect(await code({ run: "42" })).toBe("REPORT_UNKNOWN_RUN");
  });

  it("refuses a folder without a workspace, and a workspace without runs", async () => {
    expect(await code({ workspace: join(root, "nowhere") })).toBe("REPORT_NO_WORKSPACE");
    const empty = join(root, "empty-ws");
    mkdirSync(empty);
    openStore(join(empty, "nightshift.db")).close();
    expect(await code({ workspace: empty })).toBe("REPORT_NO_RUNS");
  });

  it("refuses an output path that cannot be written, leaving nothing behind", async () => {
    writeFileSync(join(root, "a-file"), "x");
    const err = await failure({ out: join(root, "a-file", "report.html") });
    expect(err.code).toBe("REPORT_CANNOT_WRITE");
    expect(err.message).toMatch(/^cannot write the report to .*a-file\/report\.html: E[A-Z]+/);
  });

  it("refuses a bad templates folder before opening the store", async () => {
    expect(await code({ templatesDir: join(root, "no-templates"), workspace: join(root, "nowhere") })).toBe("REPORT_BAD_TEMPLATES");
  });

  it("refuses a format other than html or md", async () => {
    expect(await code({ format: "pdf" as "html" })).toBe("REPORT_BAD_FORMAT");
  });
});

describe("nightshift report (the CLI)", () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, "report", ...args], { cwd: root, encoding: "utf8" });

  it("prints the path it wrote, or {path, format} with --json", () => {
    const r = cli("--workspace", workspace, "--format", "md", "--json");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { path: string; format: string };
    expect(out).toEqual({ path: join(root, "reports", "nightshift-mar5-default.md"), format: "md" });
    expect(existsSync(out.path)).toBe(true);
  });

  it("answers bad input with one line and exit code 2", () => {
    const r = cli("--workspace", workspace, "--run", "nope");
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^nightshift: no run 'nope'/);
  });

  it("says in one line that a workspace of runs only has no tournament for --night or --tournament", async () => {
    // The handler itself (each CLI start costs seconds of module loading on a small machine);
    // reports of a real tournament are tested in tournament.test.ts.
    const handler = reportCommand.handler as (argv: Record<string, unknown>) => Promise<void>;
    for (const kind of ["night", "tournament"]) {
      const err = await handler({ workspace, format: "html", json: false, [kind]: "1" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReportError);
      expect(err).toMatchObject({ code: "REPORT_NO_TOURNAMENT" });
      expect((err as Error).message).toMatch(/^this workspace has no tournament: start one with `nightshift tournament start`$/);
    }
  });
});
