/**
 * `nightshift import` on autoresearch-shaped repositories made with real git
 * (test/support/autoresearch-repo.ts): a run's rows become a run marked imported — the kept
 * commits from the branch, the discarded ones from the reflog, those gone from the repository
 * by their short hash without a diff; the same run again changes nothing; bad input is refused
 * in one line with status 2 and writes nothing. Then `results`, `report` and `compare` read the
 * imported runs, and `verify` and `noise` refuse them.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { naiveKeepsUnderNoise } from "../../src/stats/null-model.ts";
import { openStore } from "../../src/store/index.ts";
import { type AutoresearchRepo, PROGRAM_MD, buildAutoresearchRepo, forgetDiscarded } from "../support/autoresearch-repo.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
let root: string;
let ws: string;
let mar5: AutoresearchRepo;
let mar6: AutoresearchRepo;

const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const importInto = (workspace: string, ...args: string[]) => cli("import", ...args, "--workspace", workspace);
const readStore = <T>(fn: (store: ReturnType<typeof openStore>) => T): T => {
  const store = openStore(join(ws, "nightshift.db"), { readonly: true });
  try {
    return fn(store);
  } finally {
    store.close();
  }
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "ns-import-"));
  ws = join(root, "ws");
  mar5 = buildAutoresearchRepo(join(root, "mar5"), { tag: "mar5" });
  mar6 = buildAutoresearchRepo(join(root, "mar6"), { tag: "mar6" });
  forgetDiscarded(mar6);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("nightshift import", () => {
  it("records every results.tsv row with its commit and its diff from git, marked imported", () => {
    const r = importInto(ws, mar5.dir, "--tag", "mar5", "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { created: boolean; experiments: number; keep: number; discard: number; crash: number; found: Record<string, number> };
    expect(out).toMatchObject({ created: true, experiments: 7, keep: 4, discard: 2, crash: 1, found: { branch: 4, reflog: 3, objects: 0, missing: 0 } });

    readStore((store) => {
      const run = store.findRunByBranch("autoresearch/mar5")!;
      expect(run).toMatchObject({ tag: "mar5", status: "finished", profile: "gpu", timeBudget: 300, agent: "autoresearch", baseCommit: mar5.baseCommit });
      expect(run.importedFrom).toMatchObject({ kind: "autoresearch", repo: mar5.dir, branch: "autoresearch/mar5", tag: "mar5", head: mar5.rows[6]!.commit, resultsPath: mar5.resultsPath });
      // The run's times are its own commits' dates (the baseline's is upstream's, a day older).
      expect([run.startedAt, run.endedAt]).toEqual([mar5.commitDates[0], mar5.commitDates.at(-1)]);
      expect(store.getOrg(run.orgId)).toMatchObject({ name: "autoresearch", programMd: PROGRAM_MD });

      const rows = store.listExperiments(run.id);
      expect(rows.map((e) => [e.seq, e.commit, e.status, e.valBpb, e.imported])).toEqual(
        mar5.rows.map((p, i) => [i + 1, p.commit, p.status, p.status === "crash" ? null : p.valBpb, true]),
      );
      // Each row was tried against the latest keep before it; the baseline against itself.
      const keptBefore = (i: number) => mar5.rows.slice(0, i).filter((p) => p.status === "keep").at(-1)?.commit ?? mar5.baseCommit;
      expect(rows.map((e) => e.parentCommit)).toEqual(mar5.rows.map((_, i) => keptBefore(i)));
      expect(rows[0]!.diff).toBe("");
      rows.slice(1).forEach((e, i) => {
        expect(e.diff, `exp ${e.seq}`).toContain(`+SETTING_${i + 1} = ${i + 1}`);
        expect(e.diff!.match(/^\+SETTING_/gm), `exp ${e.seq}: one change against its head`).toHaveLength(1);
      });
      expect(rows[3]).toMatchObject({ status: "crash", outcome: "crash", reason: expect.stringMatching(/records no log/) });
      expect(rows[1]).toMatchObject({ summary: null, seed: null, startedAt: null, finishedAt: null, sandboxed: null });
      expect(store.listExperimentBriefs([run.id]).map((b) => b.peakVramMb)).toEqual(mar5.rows.map((p) => (p.status === "crash" ? null : p.memoryGb * 1024)));
    });
    // autoresearch's own results.tsv comes back byte for byte.
    expect(cli("results", "--tsv", "--run", "mar5", "--workspace", ws).stdout).toBe(readFileSync(mar5.resultsPath, "utf8"));
  });

  it("says so and changes nothing when the same run is imported again", () => {
    const before = readStore((store) => ({ runs: store.listRuns(), rows: store.listExperiments(store.findRunByBranch("autoresearch/mar5")!.id) }));
    const r = importInto(ws, mar5.dir, "--tag", "mar5");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^run \d+ \(autoresearch\/mar5\) was already imported from this results.tsv and autoresearch\/mar5 of .* at [0-9a-f]{7} on .*: nothing changed\n$/);
    expect(readStore((store) => ({ runs: store.listRuns(), rows: store.listExperiments(before.runs[0]!.id) }))).toEqual(before);
  });

  it("records commits gone from the repository (reflog expired, pruned) by short hash, without a diff", () => {
    const r = importInto(ws, mar6.dir, "--tag", "mar6");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/7 experiments, 4 kept, 2 discarded, 1 crashed; commits: 4 on the branch, 0 from the reflog, 3 no longer in the repository \(recorded without a diff\)/);
    readStore((store) => {
      const rows = store.listExperiments(store.findRunByBranch("autoresearch/mar6")!.id);
      for (const [i, e] of rows.entries()) {
        const planned = mar6.rows[i]!;
        if (planned.status === "keep") expect([e.commit, e.diff === null]).toEqual([planned.commit, false]);
        else expect([e.commit, e.diff]).toEqual([planned.commit.slice(0, 7), null]);
      }
    });
  });

  it("refuses a bad repository, tag or results.tsv in one line with status 2, and writes nothing", () => {
    const fresh = join(root, "never-made");
    const badTsv = join(root, "bad.tsv");
    writeFileSync(badTsv, readFileSync(mar5.resultsPath, "utf8").replace("\tdiscard\t", "\tdiscarded\t"));
    const cases: [string[], RegExp][] = [
      [[mar5.dir], /--tag is required/],
      [[mar5.dir, "--tag", "mar9"], /has no branch autoresearch\/mar9: its autoresearch runs are mar5 \(--tag names the run\)/],
      [[mar5.dir, "--tag", "a/b"], /--tag: tag "a\/b" may hold only letters, digits/],
      [[join(root, "nowhere"), "--tag", "mar5"], /nowhere does not exist: give the autoresearch repository's directory/],
      [[root, "--tag", "mar5"], /is not a git repository/],
      [[mar5.dir, "--tag", "mar5", "--results", join(root, "none.tsv")], /no results.tsv at .*none.tsv: .*give its path with --results/],
      [[mar5.dir, "--tag", "mar5", "--results", badTsv], /bad.tsv:4: status "discarded" is not one of keep, discard, crash/],
      // mar6's results.tsv names kept commits mar5's repository never had.
      [[mar5.dir, "--tag", "mar5", "--results", mar6.resultsPath], /results.tsv:3: kept commit [0-9a-f]{7} is not in the repository.*check --tag and --results/],
      [[mar5.dir, "--tag", "mar5", "--name", "two words"], /--name "two words": a run name is 1 to 200 characters without spaces/],
    ];
    for (const [args, message] of cases) {
      const r = importInto(fresh, ...args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.stdout).toBe("");
    }
    expect(existsSync(fresh)).toBe(false);
  });

  it("refuses another results.tsv under a taken name or another program.md under a taken org, until --name or --org says where", () => {
    const grown = join(root, "grown.tsv");
    copyFileSync(mar5.resultsPath, grown);
    appendFileSync(grown, `${mar5.rows[2]!.commit.slice(0, 7)}\t1.001000\t44.0\tdiscard\tGeLU again\n`);
    const runsBefore = readStore((s) => s.listRuns().length);
    const taken = importInto(ws, mar5.dir, "--tag", "mar5", "--results", grown);
    expect(taken.status).toBe(2);
    expect(taken.stderr).toMatch(/run autoresearch\/mar5 was imported before from another source .*pass --name to import this one beside it/);
    expect(readStore((s) => s.listRuns().length)).toBe(runsBefore);
    expect(importInto(ws, mar5.dir, "--tag", "mar5", "--results", grown, "--name", "mar5-grown").status).toBe(0);

    const other = buildAutoresearchRepo(join(root, "other"), { tag: "mar7" });
    writeFileSync(join(other.dir, "program.md"), "# a program of my own\n");
    spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "my program"], { cwd: other.dir, env: { PATH: process.env.PATH, HOME: other.dir, GIT_CONFIG_GLOBAL: "/dev/null" } });
    const orgTaken = importInto(ws, other.dir, "--tag", "mar7");
    expect(orgTaken.status).toBe(2);
    expect(orgTaken.stderr).toMatch(/org 'autoresearch' already exists in this workspace with a different program.md: pass --org/);
    expect(importInto(ws, other.dir, "--tag", "mar7", "--org", "mine").status).toBe(0);
    expect(readStore((s) => s.getOrg(s.findRunByBranch("autoresearch/mar7")!.orgId).programMd)).toBe("# a program of my own\n");
  });
});

describe("the commands on an imported run", () => {
  it("results says where the run came from", () => {
    const r = cli("results", "--run", "autoresearch/mar5", "--workspace", ws);
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^run \d+ autoresearch\/mar5 \(finished, gpu, 300s, agent autoresearch; imported from autoresearch: autoresearch\/mar5 of .*mar5 at [0-9a-f]{7}\)$/);
    expect(r.stdout).toMatch(/ {3}4 {2}[0-9a-f]{7} {2}crash {4}— +double model width/);
  });

  it("report says the run is imported and puts its keeps beside the null model's false keeps", () => {
    const out = join(root, "reports");
    const md = cli("report", "--run", "autoresearch/mar5", "--format", "md", "--out", out, "--workspace", ws);
    expect(md.status, md.stderr).toBe(0);
    const text = readFileSync(md.stdout.trim(), "utf8");
    const results = mar5.rows.filter((p) => p.status !== "crash").length;
    const claims = mar5.rows.filter((p) => p.status === "keep").length - 1;
    const noise = naiveKeepsUnderNoise(results);
    expect(text).toContain(`- **imported:** from autoresearch: branch autoresearch/mar5 of \`${mar5.dir}\``);
    expect(text).toContain(`- **keeps against noise:** ${claims} kept after the baseline in ${results} results — under pure noise the keep rule would keep ${noise.expected.toFixed(2)} ± ${noise.sd.toFixed(2)} (the null model)`);
    expect(text).toContain("- **device utilization, agent cost:** not recorded");
    expect(text).not.toContain("## Device utilization");
    expect(text).toMatch(/### #2 `[0-9a-f]{7}` increase LR to 0\.04[\s\S]*\+SETTING_1 = 1/);
    const html = cli("report", "--run", "autoresearch/mar5", "--out", out, "--workspace", ws);
    expect(html.status, html.stderr).toBe(0);
    expect(readFileSync(html.stdout.trim(), "utf8")).toContain(`<div class="label">keeps against noise</div><div class="value">${claims} vs ${noise.expected.toFixed(2)}</div>`);
  });

  it("compare ranks orgs by their imported runs and says they are imported", () => {
    for (const [repo, tag] of [[mar5, "mar5"], [mar6, "mar6"]] as const)
      expect(importInto(ws, repo.dir, "--tag", tag, "--org", "again", "--name", `again/${tag}`).status).toBe(0);
    const r = cli("compare", "autoresearch", "again", "--workspace", ws, "--json");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { series: { name: string; values: number[] }[]; importedRuns: Record<string, number> };
    // autoresearch holds mar5, mar6 and mar5-grown; again holds mar5 and mar6: each run's gain is its baseline − its best keep.
    const gain = (repo: AutoresearchRepo) => repo.rows[0]!.valBpb - Math.min(...repo.rows.filter((p) => p.status === "keep").map((p) => p.valBpb));
    expect(out.series).toEqual([
      { name: "autoresearch", values: [gain(mar5), gain(mar6), gain(mar5)] },
      { name: "again", values: [gain(mar5), gain(mar6)] },
    ]);
    expect(out.importedRuns).toEqual({ autoresearch: 3, again: 2 });
    const text = cli("compare", "autoresearch", "again", "--workspace", ws);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain("imported runs (nightshift import, measured by autoresearch on its own data): autoresearch 3 of 3, again 2 of 2");
  });

  it("verify and noise refuse it in one line with status 2: there is no train.ts to rerun", () => {
    const kept = mar5.rows[1]!.commit.slice(0, 7);
    // The kept commit is in three imports of mar5 (autoresearch/mar5, mar5-grown, again/mar5): still refused as imported.
    for (const args of [["verify", "--run", "autoresearch/mar5"], ["verify", kept], ["verify", kept, "--run", "again/mar5"], ["noise", "--run", "autoresearch/mar5"]]) {
      const r = cli(...args, "--workspace", ws);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(new RegExp(`^nightshift: ${args[0]} cannot rerun run \\S+: it was imported from autoresearch .*train\\.py files .*nightshift report --run \\S+.*\\n$`));
    }
  });
});
