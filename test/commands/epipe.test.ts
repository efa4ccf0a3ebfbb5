/**
 * A reader that closes its end early (`nightshift results | head`): the CLI exits quietly
 * with status 0, without the EPIPE stack trace Node prints for an unhandled stream error. A real
 * shell pipeline into `head`, on a real store whose output is many times a pipe's capacity; and
 * every command that prints, into a reader that is gone before the first write (`| true`).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-epipe-"));
const ws = join(root, "ws");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ROWS = 2000;
const DESCRIPTION = "a long description so the listing is far larger than a pipe holds ".repeat(6);

beforeAll(() => {
  mkdirSync(ws);
  const store = openStore(join(ws, "nightshift.db"));
  const org = store.createOrg({ name: "default", programMd: "# default\n" });
  const run = store.createRun({
    tag: "t",
    orgId: org.id,
    branch: "nightshift/t/default",
    profile: "cpu",
    timeBudget: 10,
    deviceKind: "cpu",
    agent: "builtin",
    baseCommit: "a".repeat(40),
  });
  for (let i = 0; i < ROWS; i++) store.proposeExperiment({ runId: run.id, parentCommit: "a".repeat(40), description: `${i} ${DESCRIPTION}`, hypothesis: "" });
  const other = store.createOrg({ name: "other", programMd: "# other\n" });
  store.createTournament({ name: "wk", nights: 2, baseCommit: "a".repeat(40), orgIds: [org.id, other.id] });
  store.close();
});

const quote = (args: string[]) => [process.execPath, bin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");

/** `nightshift ARGS | head -c 100` in bash with pipefail: the status is nightshift's (head exits 0). */
function pipedIntoHead(...args: string[]) {
  return spawnSync("bash", ["-c", `set -o pipefail; ${quote(args)} | head -c 100`], { encoding: "utf8" });
}

/**
 * `nightshift ARGS | true`: the reader exits at once, long before Node has started, so the
 * command's first write meets a pipe with no reader. With `2>&1`, stderr goes the same way.
 */
function pipedIntoNothing(args: string[], both = false) {
  return spawnSync("bash", ["-c", `set -o pipefail; ${quote(args)} ${both ? "2>&1 " : ""}| true`], { encoding: "utf8" });
}

describe("a closed stdout (EPIPE)", () => {
  it("ends `results | head` quietly with status 0", () => {
    const full = spawnSync(process.execPath, [bin, "results", "--workspace", ws], { encoding: "utf8" });
    expect(full.status, full.stderr).toBe(0);
    expect(full.stdout.length, "the output must not fit in the pipe, or no EPIPE happens").toBeGreaterThan(8 * 65536);

    const r = pipedIntoHead("results", "--workspace", ws);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(Buffer.from(full.stdout).subarray(0, 100).toString()); // head -c counts bytes
  });

  it("ends a single large write (`results --json | head`) the same way", () => {
    const r = pipedIntoHead("results", "--workspace", ws, "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\{"run":\{/);
  });

  it.each(["results", "results --tsv", "results --json", "tournament status wk", "tournament status wk --json", "report --json", "info"])(
    "is quiet with status 0 for `%s` into a reader that is gone",
    (line) => {
      const argv = line === "info" ? [line] : [...line.split(" "), "--workspace", ws];
      for (const both of [false, true]) {
        const r = pipedIntoNothing(argv, both);
        expect(r.stderr, `${line}${both ? " 2>&1" : ""}`).toBe("");
        expect(r.status, `${line}${both ? " 2>&1" : ""}`).toBe(0);
      }
    },
  );
});
