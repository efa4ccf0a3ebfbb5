/**
 * Reports of runs with an invalid model and with trainings outside the sandbox, on a real store
 * filled through its API (no git, no training): an invalid experiment shows its status and the
 * evaluator's evidence where crash reasons are shown, in HTML and Markdown; a run whose
 * trainings ran unsandboxed says how many in its run section, a night or tournament report in
 * its headline; a fully sandboxed run says nothing about it.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RunResult, RunSummary } from "../../src/harness/types.ts";
import { assembleReport, buildRunReport, buildRunSection, renderReport } from "../../src/report/index.ts";
import { type Store, openStore } from "../../src/store/index.ts";

const root = mkdtempSync(join(tmpdir(), "ns-report-invalid-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
const NOW = () => new Date("2026-11-25T07:00:00.000Z");

const PROBE = "causality probe: the logits at position 17 changed when only tokens after it were altered (max |Δ| 3.2)";
const summary = (valBpb: number): RunSummary => ({ val_bpb: valBpb, training_seconds: 10, total_seconds: 12, peak_vram_mb: 0, mfu_percent: 1, total_tokens_M: 0.5, num_steps: 40, num_params_M: 0.4, depth: 2 });
const base = { logTail: "step 40", seed: 42, profile: "cpu", timeBudget: 10 } as const;

type Step = { status: "keep" | "discard" | "invalid"; result: RunResult; description: string };

/** One run of `steps` (the first is the baseline, with an empty diff). */
function runWith(store: Store, tag: string, steps: Step[]) {
  const org = store.getOrgByName("default") ?? store.createOrg({ name: "default", programMd: "# default\n" });
  let head = sha(`${tag}-base`);
  const run = store.createRun({ tag, orgId: org.id, branch: `nightshift/${tag}/default`, profile: "cpu", timeBudget: 10, deviceKind: "cpu", agent: "anthropic", baseCommit: head });
  for (const [i, step] of steps.entries()) {
    const e = store.proposeExperiment({ runId: run.id, parentCommit: head, description: step.description, hypothesis: "h" });
    const commit = sha(`${tag}-${i}`);
    store.startExperiment(e.id, { commit, diff: i === 0 ? "" : "--- a/train.ts\n+++ b/train.ts\n@@ -1 +1 @@\n-a\n+b\n", seed: 42 });
    store.finishExperiment(e.id, { status: step.status, result: step.result, ...(step.status === "discard" ? { reason: "not better" } : {}) });
    if (step.status === "keep") head = commit;
  }
  store.setRunStatus(run.id, "finished");
  return store.getRun(run.id);
}

const CHEATING_RUN: Step[] = [
  { status: "keep", description: "baseline", result: { ...base, status: "ok", summary: summary(1.9), sandboxed: true } },
  { status: "invalid", description: "peek at the next token", result: { ...base, status: "invalid", error: PROBE, sandboxed: false } },
  { status: "discard", description: "lower lr", result: { ...base, status: "ok", summary: summary(1.95), sandboxed: false } },
];

describe("an invalid model in a run report", () => {
  const store = openStore(join(root, "invalid.db"));
  const run = runWith(store, "nov24", CHEATING_RUN);
  const model = buildRunReport(store, run, { now: NOW });
  afterAll(() => store.close());

  it("is counted apart from crashes, and listed with the evaluator's evidence", () => {
    expect(model.headline.counts).toMatchObject({ total: 3, keep: 1, discard: 1, crash: 0, invalid: 1 });
    const section = model.runs[0]!;
    expect(section.experiments.map((e) => e.status)).toEqual(["keep", "invalid", "discard"]);
    expect(section.crashes).toEqual([expect.objectContaining({ seq: 2, outcome: "invalid", reason: PROBE, fixes: [] })]);
  });

  it("shows its status and the evidence in HTML", async () => {
    const html = await renderReport(model, { format: "html" });
    expect(html).toContain("Crashes, invalid models and skips");
    expect(html).toContain('<span class="badge s-invalid">invalid</span>');
    expect(html).toContain("caught the model cheating");
    expect(html).toContain("the logits at position 17 changed when only tokens after it were altered");
    expect(html).toContain("0 crashed · 1 invalid · 0 skipped");
  });

  it("shows its status and the evidence in Markdown", async () => {
    const md = await renderReport(model, { format: "md" });
    expect(md).toContain("## Crashes, invalid models and skips");
    expect(md).toMatch(/\| 2 \| `[0-9a-f]{7}` \| invalid \| causality probe: the logits at position 17/);
    expect(md).toContain("0 crashed · 1 invalid · 0 skipped");
  });
});

describe("trainings without the sandbox", () => {
  it("a run section says how many, in HTML and Markdown", async () => {
    const store = openStore(join(root, "unsandboxed.db"));
    const run = runWith(store, "nov24", CHEATING_RUN);
    const model = buildRunReport(store, run, { now: NOW });
    expect(model.runs[0]!.sandbox).toEqual({ trainings: 3, unsandboxed: 2, unknown: 0 });
    const html = await renderReport(model, { format: "html" });
    const md = await renderReport(model, { format: "md" });
    expect(html).toContain("<strong>2 of 3 trainings ran without the sandbox</strong>");
    expect(md).toContain("**Sandbox:** **2 of 3 trainings ran without the sandbox**");
    // Said once, in the run section: a run report's headline does not repeat it.
    expect(html.match(/ran without the sandbox/g)).toHaveLength(1);
    store.close();
  });

  it("a fully sandboxed run says nothing about it", async () => {
    const store = openStore(join(root, "sandboxed.db"));
    const ok = (bpb: number): RunResult => ({ ...base, status: "ok", summary: summary(bpb), sandboxed: true });
    const run = runWith(store, "nov25", [
      { status: "keep", description: "baseline", result: ok(1.9) },
      { status: "keep", description: "better", result: ok(1.8) },
    ]);
    const model = buildRunReport(store, run, { now: NOW });
    for (const format of ["html", "md"] as const) expect(await renderReport(model, { format })).not.toMatch(/without the sandbox/);
    store.close();
  });

  it("a tournament or night report says it in its headline, over all the runs", async () => {
    const store = openStore(join(root, "tournament.db"));
    const a = buildRunSection(store, runWith(store, "wk-n1", CHEATING_RUN));
    const b = buildRunSection(store, runWith(store, "wk-n2", [{ status: "keep", description: "baseline", result: { ...base, status: "ok", summary: summary(1.9), sandboxed: true } }]));
    for (const kind of ["tournament", "night"] as const) {
      const model = assembleReport({ kind, title: "Tournament wk", runs: [a.section, b.section], charts: [] }, { now: NOW });
      expect(model.headline.sandbox).toEqual({ trainings: 4, unsandboxed: 2, unknown: 0 });
      const html = await renderReport(model, { format: "html" });
      const md = await renderReport(model, { format: "md" });
      expect(html).toContain("<strong>2 of 4 trainings ran without the sandbox</strong>");
      expect(md).toContain("**Sandbox:** **2 of 4 trainings ran without the sandbox**");
      expect(html).toContain("<strong>2 of 3 trainings ran without the sandbox</strong>"); // the run's own section
    }
    store.close();
  });
});
