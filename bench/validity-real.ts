/**
 * Benchmark: real A/A claims (issue 14, item 5). A run of the real loop on the unchanged recipe
 * (at the tests' small size, test/support/small-lab.ts, so that a step fits a short budget on a
 * busy 2-core machine; --full: the profile's size) whose every proposal is a no-op (an unused constant added to train.ts: it changes the file,
 * so the integrity check does not flag it, and nothing the model computes); every experiment is
 * then a claim against the run's base, verified as the tournament verifies a night's claims —
 * real trainings in the sandbox, the seed-noise floor measured first for δ_min, the sequential
 * rule, Benjamini–Hochberg over nights of 8 claims. No claim is a real gain, so every `real`
 * verdict is a false one. Prints the counts, and with --append adds them as a row to
 * BENCHMARKS.md ("Real A/A claims"), so that real A/A claims accumulate over sessions.
 *
 *   node --import tsx bench/validity-real.ts                        # 16 claims, 3 s budget
 *   node --import tsx bench/validity-real.ts --claims 32 --append
 *   node --import tsx bench/validity-real.ts --dataset DIR --budget 3
 *
 * The dataset is the latest `nightshift prepare` (NIGHTSHIFT_HOME), or --dataset. Takes about
 * about a minute per claim on a 2-core CPU at a 3 s budget. Not a test: it asserts nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Agent, AgentContext, ProposalResult } from "../src/agents/types.ts";
import { resolveDatasetDir } from "../src/commands/common.ts";
import { Lab, baselineTrainTs, labReadme } from "../src/lab/index.ts";
import { runLoop } from "../src/loop/loop.ts";
import type { Verdict } from "../src/store/index.ts";
import type { MeasureSetup } from "../src/verification/measure.ts";
import { measureNoiseFloor } from "../src/verification/noise.ts";
import { verificationThresholds } from "../src/verification/thresholds.ts";
import { type ClaimAgainst, type JudgedClaim, judgeClaims } from "../src/verification/verify.ts";
import { openWorkspace } from "../src/workspace/workspace.ts";
import { smallTrainTs } from "../test/support/small-lab.ts";

const { values: args } = parseArgs({
  options: {
    claims: { type: "string", default: "16" },
    budget: { type: "string", default: "3" },
    full: { type: "boolean", default: false },
    dataset: { type: "string" },
    "max-seeds": { type: "string", default: "12" },
    "noise-seeds": { type: "string", default: "5" },
    append: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});

const CLAIMS_PER_NIGHT = 8;
const ALPHA = 0.05;
const claims = Number(args.claims);
const budget = Number(args.budget);
const maxSeeds = Number(args["max-seeds"]);
const noiseSeeds = Number(args["noise-seeds"]);
for (const [name, value, min] of [["--claims", claims, 1], ["--budget", budget, 0.5], ["--max-seeds", maxSeeds, 3], ["--noise-seeds", noiseSeeds, 2]] as const)
  if (!Number.isFinite(value) || value < min) {
    console.error(`${name} must be a number ≥ ${min}, got ${String(value)}`);
    process.exit(2);
  }
const datasetDir = resolveDatasetDir(args.dataset, "cpu");

/** Proposes the k-th no-op: an unused exported constant after the MATRIX_LR line. */
function noOpAgent(): Agent {
  let k = 0;
  return {
    name: "a/a",
    async propose(context: AgentContext): Promise<ProposalResult> {
      k += 1;
      const line = /^export const MATRIX_LR = .*$/m.exec(context.trainTs)?.[0];
      const usage = { model: "a/a", calls: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 };
      if (line === undefined) return { proposal: null, usage, attempts: 1, error: "no MATRIX_LR line to anchor the no-op" };
      const edit = { file: "train.ts", search: line, replace: `${line}\nexport const AA_NOOP_${k} = ${k}; // read by nothing` };
      return { proposal: { edits: [edit], description: `no-op ${k}: an unused constant`, hypothesis: "none: an A/A claim" }, usage, attempts: 1 };
    },
  };
}

const root = mkdtempSync(join(tmpdir(), "ns-aa-"));
const started = performance.now();
const load = loadavg()[0]!;
try {
  await Lab.init(join(root, "lab"), { trainTs: args.full ? baselineTrainTs() : smallTrainTs(), readme: labReadme({ profile: "cpu" }) });
  const ws = await openWorkspace(root, "cpu");
  try {
    const loop = await runLoop(ws, {
      org: { name: "aa", path: "(bench)", programMd: "# a/a\nNo-op changes only.\n" },
      agent: { kind: "builtin" },
      agentOverride: noOpAgent(),
      profile: "cpu",
      timeBudget: budget,
      datasetDir,
      tag: "aa",
      seed: 42,
      resume: false,
      experiments: claims + 1,
      pipeline: false,
    });
    const run = ws.store.getRun(loop.runId);
    const experiments = ws.store.listExperiments(run.id);
    const base = run.baseCommit;
    const setup: MeasureSetup = { store: ws.store, lab: ws.lab, logsDir: ws.logsDir, trainer: ws.trainer, profile: "cpu", timeBudget: budget, datasetDir, deviceKind: "cpu" };
    const noise = await measureNoiseFloor(setup, base, noiseSeeds, maxSeeds);
    const thresholds = verificationThresholds({ simplicityThreshold: 0, floor: noise.floor });
    console.log(
      `noise floor: sd ${noise.floor.sd.toPrecision(3)} over ${noise.values.length} seeds (${noise.failed} failed); ` +
        `δ_min ${thresholds.margin.toPrecision(3)} (${thresholds.marginFrom}), effect ${thresholds.effect.toPrecision(3)}`,
    );

    const aa: ClaimAgainst[] = [];
    for (const e of experiments)
      if (e.seq > 1 && e.commit !== null && e.outcome === "ok") aa.push({ experiment: e, parentCommit: base, diff: await ws.lab.diff(base, e.commit) });
    const judged: JudgedClaim[] = [];
    for (let night = 0; night * CLAIMS_PER_NIGHT < aa.length; night++) {
      const batch = aa.slice(night * CLAIMS_PER_NIGHT, (night + 1) * CLAIMS_PER_NIGHT);
      judged.push(
        ...(await judgeClaims(setup, batch, {
          thresholds,
          maxSeeds,
          minSeeds: 3,
          alpha: ALPHA,
          onClaim: (e, i, n) => console.log(`night ${night + 1}: claim ${i + 1} of ${n} (${e.description})`),
        })),
      );
    }

    const counts: Record<Verdict, number> = { real: 0, noise: 0, negligible: 0, inconclusive: 0, flagged: 0 };
    for (const j of judged) counts[j.verification.verdict]++;
    const realAlone = judged.filter((j) => j.verification.verdict === "real" || /^real on its own/.test(j.verification.reason)).length;
    const unreliable = judged.filter((j) => (j.verification.details as { unreliable?: boolean }).unreliable === true).length;
    const seeds = judged.reduce((s, j) => s + j.verification.seeds, 0) / Math.max(1, judged.length);
    const minutes = (performance.now() - started) / 60_000;
    const date = new Date().toISOString().slice(0, 10);
    console.log(
      `\n${judged.length} A/A claims (${aa.length} of ${claims} experiments trained ok), budget ${budget} s, cpu, load ${load.toFixed(1)} at start, ${minutes.toFixed(1)} min:\n` +
        `  credited real ${counts.real} (${(counts.real / Math.max(1, judged.length)).toFixed(3)}), real before BH ${realAlone}, ` +
        `negligible ${counts.negligible}, noise ${counts.noise}, inconclusive ${counts.inconclusive} (unreliable ${unreliable}), flagged ${counts.flagged}; ` +
        `mean seeds ${seeds.toFixed(2)}`,
    );
    if (args.append) {
      const path = new URL("../BENCHMARKS.md", import.meta.url);
      const row =
        `| ${date} | ${judged.length} | ${counts.real} | ${realAlone} | ${counts.negligible} | ${counts.noise} | ${counts.inconclusive} (${unreliable}) | ${counts.flagged} | ` +
        `${seeds.toFixed(2)} | ${args.full ? "full" : "small"} recipe, ${budget} s, ≤ ${maxSeeds} seeds, δ_min ${thresholds.margin.toPrecision(2)} (sd ${noise.floor.sd.toPrecision(2)}) | ${load.toFixed(1)} |\n`;
      if (!readFileSync(path, "utf8").includes("<!-- real A/A rows -->")) throw new Error("BENCHMARKS.md has no '<!-- real A/A rows -->' marker to append after");
      appendRow(path, row);
      console.log("appended to BENCHMARKS.md (Real A/A claims)");
    }
  } finally {
    ws.store.close();
  }
} finally {
  if (args.keep) console.log(`workspace kept at ${root}`);
  else rmSync(root, { recursive: true, force: true });
}

/** Inserts the row at the end of the table that follows the marker. */
function appendRow(path: URL, row: string): void {
  const lines = readFileSync(path, "utf8").split("\n");
  let i = lines.findIndex((l) => l.includes("<!-- real A/A rows -->")) + 1;
  while (i < lines.length && !lines[i]!.startsWith("|")) i++;
  while (i < lines.length && lines[i]!.startsWith("|")) i++;
  lines.splice(i, 0, row.trimEnd());
  writeFileSync(path, lines.join("\n"));
}
