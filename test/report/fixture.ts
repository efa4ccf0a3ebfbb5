/**
 * A workspace for the report tests: a real lab (git) whose commits give real diffs, and a real
 * store filled through its public API with a pinned clock — a run with a baseline, kept
 * changes, a discard whose agent-written text is hostile (`<script>`, Markdown pipes and
 * emphasis), a diverged outlier, a crash with a fix attempt, a skipped proposal and a failed
 * agent call. Test support only.
 */
import { join } from "node:path";
import type { RunResult, RunStatus } from "../../src/harness/types.ts";
import { Lab, baselineTrainTs } from "../../src/lab/index.ts";
import { allocationChart, forestChart, lineageChart, textDiff, type LineageNode, type ReportModel } from "../../src/report/index.ts";
import { openStore, type Store } from "../../src/store/index.ts";

/** Agent-written text that must stay text in every report. */
export const HOSTILE_DESCRIPTION = `try <script>window.__pwned = 1</script> | *bold* _x_ [link](http://example.invalid)`;
export const HOSTILE_HYPOTHESIS = `<img src=x onerror="window.__pwned = 2"> should not load`;
export const HOSTILE_PROGRAM = `# program\n\nBe careful.\n<script>window.__pwned = 3</script>\n\`\`\`\nfenced\n\`\`\`\n`;
export const HOSTILE_COMMENT = `// <script>window.__pwned = 4</script> a comment the agent added`;

export const RUN_START = Date.parse("2025-03-05T22:00:00.000Z");
export const BUDGET = 300;

interface Step {
  description: string;
  hypothesis: string;
  edit?: (trainTs: string) => string;
  status: "keep" | "discard" | "crash" | "skipped";
  valBpb?: number;
  outcome?: RunStatus;
  reason?: string;
  fixOf?: number; // index into the steps
  logTail?: string;
}

const replaceOnce = (from: string, to: string) => (text: string) => {
  if (!text.includes(from)) throw new Error(`the recipe no longer contains ${JSON.stringify(from)}: update test/report/fixture.ts`);
  return text.replace(from, to);
};

export const STEPS: Step[] = [
  { description: "baseline", hypothesis: "the unchanged train.ts sets the bar", status: "keep", valBpb: 1.88 },
  {
    description: "raise MATRIX_LR to 0.05",
    hypothesis: "Muon tolerates a higher matrix learning rate at this size",
    edit: replaceOnce("export const MATRIX_LR = 0.04;", "export const MATRIX_LR = 0.05;"),
    status: "keep",
    valBpb: 1.8712,
  },
  {
    description: HOSTILE_DESCRIPTION,
    hypothesis: HOSTILE_HYPOTHESIS,
    edit: (t) => t + `\n${HOSTILE_COMMENT}\n`,
    status: "discard",
    valBpb: 1.879,
    reason: "not better than 1.871200",
  },
  {
    description: "warmdown over 80% of the budget",
    hypothesis: "a longer warmdown lowers the final loss",
    edit: replaceOnce("export const WARMDOWN_RATIO = 0.5;", "export const WARMDOWN_RATIO = 0.8;"),
    status: "discard",
    valBpb: 3.5,
    reason: "not better than 1.871200",
  },
  {
    description: "wider heads",
    hypothesis: "a head dim of 128 uses the GEMM better",
    edit: replaceOnce("export const ASPECT_RATIO = 64;", "export const ASPECT_RATIO = 96;"),
    status: "crash",
    outcome: "crash",
    reason: "RangeError: offset is out of bounds",
    logTail: "step 1 loss 9.01\n<b>RangeError</b>: offset is out of bounds\n    at train (train.ts:120)",
  },
  {
    description: "wider heads, shapes fixed",
    hypothesis: "the crash was a shape mismatch",
    edit: replaceOnce("export const ASPECT_RATIO = 64;", "export const ASPECT_RATIO = 72;"),
    status: "keep",
    valBpb: 1.8650,
    fixOf: 4,
  },
  { description: "", hypothesis: "", status: "skipped", reason: "malformed answer: no edit block after 3 attempts" },
];

export interface Fixture {
  workspace: string;
  store: Store;
  runId: number;
  branch: string;
  /** The kept commits' hashes, by step index. */
  commits: Map<number, string>;
}

const result = (status: RunStatus, seed: number, valBpb?: number, error?: string, logTail = "ok\n"): RunResult =>
  status === "ok"
    ? {
        status,
        seed,
        profile: "cpu",
        timeBudget: BUDGET,
        sandboxed: true,
        logTail,
        summary: {
          val_bpb: valBpb!,
          training_seconds: BUDGET,
          total_seconds: BUDGET + 25,
          peak_vram_mb: 2150,
          mfu_percent: 1.5,
          total_tokens_M: 12.5,
          num_steps: 900,
          num_params_M: 11.5,
          depth: 4,
        },
      }
    : { status, seed, profile: "cpu", timeBudget: BUDGET, sandboxed: true, logTail, ...(error ? { error } : {}) };

/**
 * Creates <dir>/nightshift.db and <dir>/lab with one run (tag "mar5", org "default") that went
 * through STEPS; every experiment takes 330 s of a 6-minute cycle on slot 0.
 */
export async function buildFixture(dir: string, options: { tag?: string; org?: string; slot?: number } = {}): Promise<Fixture> {
  const tag = options.tag ?? "mar5";
  const orgName = options.org ?? "default";
  let clock = RUN_START;
  const store = openStore(join(dir, "nightshift.db"), { now: () => new Date(clock) });
  const lab = await Lab.init(join(dir, "lab"), { trainTs: baselineTrainTs(), readme: "# the lab\n" });
  const base = (await lab.branchHead("main"))!;
  const { branch } = await lab.startBranch(tag, orgName, base);
  const wt = await lab.addWorktree(options.slot ?? 0, branch);
  const org = store.getOrgByName(orgName) ?? store.createOrg({ name: orgName, programMd: HOSTILE_PROGRAM });
  const run = store.createRun({
    tag,
    orgId: org.id,
    branch,
    profile: "cpu",
    timeBudget: BUDGET,
    deviceKind: "cpu",
    agent: "anthropic",
    model: "claude-test",
    baseCommit: base,
    settings: { seed: 42, devices: ["cpu"] },
    costCapUsd: 5,
  });

  let head = base;
  let headText = baselineTrainTs();
  const ids: number[] = [];
  const commits = new Map<number, string>();
  for (const [i, step] of STEPS.entries()) {
    const usage = { model: "claude-test", calls: 1, inputTokens: 12_000 + 100 * i, outputTokens: 800, costUsd: 0.042 };
    if (step.status === "skipped") {
      ids.push(store.recordSkipped({ runId: run.id, parentCommit: head, reason: step.reason!, usage }).id);
      clock += 20_000;
      continue;
    }
    const fix = step.fixOf === undefined ? {} : { fixOf: ids[step.fixOf]!, fixAttempt: 1 };
    const e = store.proposeExperiment({ runId: run.id, parentCommit: head, description: step.description, hypothesis: step.hypothesis, usage, ...fix });
    ids.push(e.id);
    clock += 10_000;
    const text = step.edit ? step.edit(headText) : headText;
    const made = await lab.commitExperiment(wt, text, step.description || "experiment", { allowEmpty: !step.edit });
    store.startExperiment(e.id, { commit: made.commit, diff: made.diff, seed: 42 });
    clock += 330_000;
    const seed = 42;
    if (step.status === "crash") {
      store.finishExperiment(e.id, { status: "crash", result: result(step.outcome!, seed, undefined, step.reason, step.logTail) });
      await lab.discard(wt, made.parent);
    } else if (step.status === "keep") {
      store.finishExperiment(e.id, { status: "keep", result: result("ok", seed, step.valBpb) });
      await lab.keep(wt, made.commit);
      head = made.commit;
      headText = text;
      commits.set(i, made.commit);
    } else {
      store.finishExperiment(e.id, { status: "discard", result: result("ok", seed, step.valBpb), reason: step.reason! });
      await lab.discard(wt, made.parent);
    }
    clock += 20_000;
  }
  // A proposal call that failed (rate limited): it costs nothing but counts as a failed call.
  store.recordAgentCall({ runId: run.id, purpose: "propose", model: "claude-test", inputTokens: 0, outputTokens: 0, costUsd: 0, ok: false, error: "429 rate limited" });
  store.setRunStatus(run.id, "finished");
  return { workspace: dir, store, runId: run.id, branch, commits };
}

/**
 * The model with every optional section filled in as the tournament and the statistics will:
 * a leaderboard with a forest plot, an allocation chart, verdicts and a lineage (drawn, and with a
 * program.md diff) — hostile text included.
 */
export function withOptionalSections(model: ReportModel): ReportModel {
  const gain = { estimate: 0.012, low: 0.004, high: 0.02, level: 0.95 };
  const forest = forestChart("leaderboard", [
    { label: "default", interval: gain },
    { label: "bold <i>", interval: { ...gain, estimate: -0.001, low: -0.006, high: 0.004 } },
  ])!;
  const allocationRows = [
    { org: "default", round: 1, deviceSeconds: 1800, experiments: 6 },
    { org: "bold", round: 1, deviceSeconds: 1800, experiments: 6 },
    { org: "default", round: 2, deviceSeconds: 3600, experiments: 11 },
  ];
  const alloc = allocationChart("allocation", allocationRows)!;
  const nodes: LineageNode[] = [
    { org: "default", generation: 0, parent: null, mutationNote: null, depth: 0, programDiff: null, programMd: "be careful\n", retired: false, joinedNight: 1 },
    {
      org: "bold",
      generation: 1,
      parent: "default",
      mutationNote: "be <em>bolder</em>",
      depth: 1,
      programDiff: textDiff("program.md", "be careful\n", "be bold <script>x</script>\n"),
      retired: false,
    },
  ];
  const tree = lineageChart("lineage", nodes, 1)!;
  return {
    ...model,
    headline: { ...model.headline, verifiedGain: gain, testBpb: 1.9012 },
    charts: [...model.charts, forest, alloc, tree],
    leaderboard: {
      chartId: forest.id,
      rows: [
        { rank: 1, org: "default", generation: 0, nights: 1, bestBpb: 1.865, gain, rating: 1510 },
        { rank: 2, org: "bold <i>", generation: 1, nights: 1, bestBpb: 1.87, gain: null, rating: null },
      ],
    },
    allocation: { chartId: alloc.id, rows: allocationRows, totalDeviceSeconds: 7200 },
    verdicts: {
      rows: [
        {
          org: "default",
          seq: 2,
          commit: "abc1234",
          description: HOSTILE_DESCRIPTION,
          naiveKeep: true,
          verdict: "real",
          meanGain: 0.008,
          gain: { ...gain, estimate: 0.008, low: 0.004, high: 0.012 },
          pAdjusted: 0.012,
          margin: 0.0015,
          reruns: 5,
          reason: "the gain's lower bound 0.004 clears zero after 5 paired seeds",
        },
      ],
      naiveKeeps: 4,
      verifiedKeeps: 1,
      expectedFalseKeeps: 1.3,
      noiseSd: 0.0021,
    },
    lineage: { nodes, chartId: tree.id },
  };
}
