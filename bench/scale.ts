/**
 * Benchmark: how the reading commands grow with the store (issue 20). A week of 5-minute
 * experiments is about 2,000 per GPU, so a store of 8 GPUs holds about 16,000. For each size this
 * builds a synthetic workspace THROUGH THE STORE MODULE, as the loop and the tournament write it:
 *
 *   - one run of N experiments on 8 device slots (the run report's case): a baseline, proposals
 *     against the head, keeps when the measured val_bpb beats the head's (so keeps get rarer as
 *     the run goes on), crashes of several causes with log tails and fix attempts, invalid
 *     models, skipped proposals, a real unified diff of the recipe and a log tail on every row;
 *   - a tournament of 7 nights × 8 orgs sharing another N experiments (two allocation rounds a
 *     night, each org's best verified, a champion move on most nights, one child bred and one
 *     org retired per night).
 *
 * Then it times each reading command COLD: a fresh child process running the real CLI
 * (bin/nightshift.js) on the workspace, under /usr/bin/time for its peak RSS, and reports the
 * bytes it printed or wrote. Between sizes it prints the growth exponent k of time ∝ N^k
 * (log(t2/t1) / log(N2/N1)); 1 is linear.
 *
 *   node --import tsx bench/scale.ts                          # 1k, 10k and 20k experiments
 *   node --import tsx bench/scale.ts --sizes 1000,5000        # other sizes
 *   node --import tsx bench/scale.ts --keep /tmp/ns-scale     # keep the workspaces and reports there
 *   node --import tsx bench/scale.ts --keep /tmp/ns-scale     # again: reuses the stores it finds
 *
 * It must not write anywhere but its own temporary folder (or --keep).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createTwoFilesPatch } from "diff";
import type { RunResult } from "../src/harness/types.ts";
import { Lab, baselineTrainTs, labReadme } from "../src/lab/index.ts";
import { type Store, openStore } from "../src/store/index.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,10000,20000" },
    keep: { type: "string" },
  },
});
const SIZES = args.sizes!.split(",").map((s) => Number(s.trim()));
if (SIZES.some((n) => !Number.isInteger(n) || n < 100)) throw new Error(`--sizes: whole numbers ≥ 100, got ${args.sizes}`);

const BIN = fileURLToPath(new URL("../bin/nightshift.js", import.meta.url));
const BUDGET = 300;
const SLOTS = 8;
const NIGHTS = 7;
const ORGS = 8;
const RUN_TAG = "scale";
const TOURNAMENT = "week";

// ---- a deterministic synthetic workload --------------------------------------------------------

/** A small deterministic generator, so every run of the bench measures the same stores. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function gauss(random: () => number): number {
  return Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
}

const hex = (n: number) => n.toString(16).padStart(40, "0");
/** A commit hash as git makes them: distinct in its first digits (what `verify 3f9c2a1` looks up). */
const commitOf = (key: string) => createHash("sha1").update(key).digest("hex");

const KNOBS = ["MATRIX_LR", "EMBEDDING_LR", "UNEMBEDDING_LR", "WEIGHT_DECAY", "WARMDOWN_RATIO", "SCALAR_LR", "WARMUP_RATIO", "FINAL_LR_FRAC"];
const CRASHES: { outcome: RunResult["status"]; error: string }[] = [
  { outcome: "out-of-memory", error: "out of memory: tried to allocate 2.00 GiB" },
  { outcome: "crash", error: "RangeError: offset is out of bounds" },
  { outcome: "crash", error: "TypeError: cannot read properties of undefined (reading 'shape')" },
  { outcome: "non-finite", error: "loss became NaN at step 212" },
  { outcome: "over-budget", error: "train() did not return within the budget" },
  { outcome: "timeout", error: "no progress for 120 s" },
];
const SKIPS = ["malformed answer: no edit block after 3 attempts", "the edit does not apply to train.ts", "the agent gave up"];

/** The store's clock: the fill moves it as a real run would (agent, commit, training, evaluation). */
const clock = { t: Date.parse("2026-03-02T22:00:00Z") };

function okLogTail(step: number, bpb: number): string {
  const lines: string[] = [];
  for (let s = step - 15; s <= step; s++) lines.push(`step ${s.toString().padStart(5)} | loss ${(3.1 - s / 2000).toFixed(4)} | lr 4.00e-2 | ${(1200 + s).toString()} tok/s`);
  lines.push("---", `val_bpb:          ${bpb.toFixed(6)}`, `training_seconds: ${BUDGET.toFixed(1)}`, "peak_vram_mb:     2100.0", "num_steps:        900");
  return lines.join("\n") + "\n";
}

function crashLogTail(error: string): string {
  const frames = ["at Tensor.matmul (engine/tensor.ts:88:11)", "at Block.forward (train.ts:212:18)", "at GPT.forward (train.ts:260:22)", "at train (train.ts:431:30)"];
  return `step   212 | loss 2.8812 | lr 4.00e-2\n${error}\n    ${frames.join("\n    ")}\n`.repeat(3);
}

interface RunFill {
  runId: number;
  /** Experiments to add, with seq continuing after those already there. */
  count: number;
  seed: number;
  slots: number;
  /** The head the run starts from, with its train.ts and measured val_bpb. */
  state: { head: string; text: string; measured: number; truth: number; commits: number };
  /** Whether the first experiment is the run's baseline (the unchanged train.ts). */
  baseline: boolean;
}

/**
 * `count` experiments of a run, as the loop records them. A proposal changes one knob (or adds
 * a few lines); its true effect is mostly harmful, now and then helpful; the measured val_bpb
 * adds seed noise, and it is kept when it beats the head's measured val_bpb — so a lucky head
 * makes keeps rarer as the run goes on, as in a real run.
 */
function fillRun(store: Store, f: RunFill): void {
  const random = lcg(f.seed);
  const s = f.state;
  const slotClock = Array.from({ length: f.slots }, (_, k) => clock.t + k * 20_000);
  const crashed: number[] = [];
  for (let i = 0; i < f.count; i++) {
    const slot = i % f.slots;
    clock.t = slotClock[slot]! + 15_000 + Math.floor(random() * 20_000); // the agent thinks
    const usage = { model: "claude-bench", calls: 1, inputTokens: 18_000 + Math.floor(random() * 4000), outputTokens: 900, costUsd: 0.06 };
    const isBaseline = f.baseline && i === 0;
    if (!isBaseline && random() < 0.03) {
      store.recordSkipped({ runId: f.runId, slot, parentCommit: s.head, reason: SKIPS[Math.floor(random() * SKIPS.length)]!, usage });
      slotClock[slot] = clock.t;
      continue;
    }
    const knob = KNOBS[Math.floor(random() * KNOBS.length)]!;
    const value = (random() * 0.9 + 0.01).toFixed(4);
    let text = s.text;
    let description = "baseline";
    if (!isBaseline) {
      if (random() < 0.2) {
        text = s.text.replace(/\n\n/, `\n\n// ${knob} schedule: warm up over the first steps, then decay\nconst ${knob}_WARMUP = ${value};\nconst ${knob}_FLOOR = ${(Number(value) / 10).toFixed(5)};\n\n`);
        description = `add a warm-up for ${knob} (${value})`;
      } else {
        text = s.text.replace(new RegExp(`(${knob}\\s*=\\s*)[0-9.e-]+`), `$1${value}`);
        description = `set ${knob} to ${value}`;
      }
    }
    const fixOf = crashed.length > 0 && random() < 0.5 ? crashed.pop() : undefined;
    if (fixOf !== undefined) description = `fix the crash: ${description}`;
    const e = store.proposeExperiment({
      runId: f.runId,
      slot,
      parentCommit: s.head,
      description,
      hypothesis: isBaseline ? "the unchanged recipe, measured" : `changing ${knob} lowers val_bpb within the ${BUDGET} s budget because the current value under-trains the matrices`,
      usage,
      ...(fixOf !== undefined ? { fixOf, fixAttempt: 1 } : {}),
    });
    const diff = isBaseline ? "" : createTwoFilesPatch("a/train.ts", "b/train.ts", s.text, text, undefined, undefined, { context: 3 });
    const commit = commitOf(`${f.runId}:${++s.commits}`);
    clock.t += 5_000; // commit
    store.startExperiment(e.id, { commit, diff, seed: 42 });
    clock.t += (BUDGET + 20 + Math.floor(random() * 20)) * 1000; // training and evaluation
    slotClock[slot] = clock.t;
    const base: Pick<RunResult, "seed" | "profile" | "timeBudget" | "sandboxed"> = { seed: 42, profile: "cpu", timeBudget: BUDGET, sandboxed: true };
    const roll = random();
    if (!isBaseline && roll < 0.06) {
      const c = CRASHES[Math.floor(random() * CRASHES.length)]!;
      store.finishExperiment(e.id, { status: "crash", result: { ...base, status: c.outcome, error: c.error, logTail: crashLogTail(c.error) } });
      crashed.push(e.id);
      continue;
    }
    if (!isBaseline && roll < 0.062) {
      store.finishExperiment(e.id, { status: "invalid", result: { ...base, status: "invalid", error: "causality probe: logits moved by 0.41 after a splice at position 97", logTail: okLogTail(900, 1.8) } });
      continue;
    }
    // Mostly harmful, now and then a real improvement.
    const effect = isBaseline ? 0 : random() < 0.04 ? -0.004 * random() : 0.004 * Math.abs(gauss(random));
    const truth = s.truth + effect;
    const measured = truth + 0.0015 * gauss(random);
    const summary = { val_bpb: measured, training_seconds: BUDGET, total_seconds: BUDGET + 20, peak_vram_mb: 2000 + Math.floor(random() * 400), mfu_percent: 1.4, total_tokens_M: 12, num_steps: 900, num_params_M: 11.5, depth: 4 };
    const keep = isBaseline || measured < s.measured;
    store.finishExperiment(e.id, {
      status: keep ? "keep" : "discard",
      result: { ...base, status: "ok", summary, logTail: okLogTail(900, measured) },
      ...(keep ? {} : { reason: `not better than ${s.measured.toFixed(6)}` }),
    });
    if (keep) {
      s.head = commit;
      s.text = text;
      s.measured = measured;
      s.truth = truth;
    }
  }
  clock.t = Math.max(...slotClock);
}

function createRun(store: Store, tag: string, org: { id: number; name: string }, base: string, slots: number): number {
  return store.createRun({
    tag,
    orgId: org.id,
    branch: `nightshift/${tag}/${org.name}`,
    profile: "cpu",
    timeBudget: BUDGET,
    deviceKind: "cpu",
    agent: "anthropic",
    model: "claude-bench",
    baseCommit: base,
    settings: { devices: Array.from({ length: slots }, (_, k) => `cpu:${k}`) },
  }).id;
}

function fillSingleRun(store: Store, n: number): void {
  const org = store.createOrg({ name: "default", programMd: "# default org\n\nTune the recipe.\n" });
  const runId = createRun(store, RUN_TAG, org, hex(1), SLOTS);
  fillRun(store, { runId, count: n, seed: 7, slots: SLOTS, baseline: true, state: { head: hex(1), text: baselineTrainTs(), measured: 1.88, truth: 1.88, commits: 0 } });
  store.setRunStatus(runId, "finished");
}

/** 7 nights × 8 orgs sharing `n` experiments, through the tournament API. */
function fillTournament(store: Store, n: number): void {
  const styles = ["tuner", "architect", "scientist", "simplifier", "explorer", "skeptic", "optimizer", "minimalist"];
  const orgs = styles.slice(0, ORGS).map((name) => store.createOrg({ name, programMd: `# ${name} org\n\nTune the recipe, ${name}-style.\n\n${"Prefer changes that are small and measurable. ".repeat(12)}\n` }));
  const t = store.createTournament({ name: TOURNAMENT, nights: NIGHTS, baseCommit: hex(2), orgIds: orgs.map((o) => o.id) });
  let champion = { commit: hex(2), text: baselineTrainTs(), bpb: 1.88 };
  const perNight = Math.floor(n / NIGHTS);
  for (let k = 1; k <= NIGHTS; k++) {
    const night = store.startNight(t.id, k);
    const active = store.listMembers(t.id).filter((m) => m.status === "active").map((m) => m.org);
    const first = Math.floor(perNight / 2 / active.length);
    const top = active.slice(0, active.length / 2);
    const second = Math.floor((perNight - first * active.length) / top.length);
    const runs = new Map<number, { runId: number; state: RunFill["state"]; done: number }>();
    const rounds = [active.map((o) => ({ orgId: o.id, experiments: first })), top.map((o) => ({ orgId: o.id, experiments: second }))];
    rounds.forEach((grants, round) => {
      for (const a of store.addAllocations(night.id, round, grants)) {
        store.startAllocation(a.id);
        const org = active.find((o) => o.id === a.orgId)!;
        let r = runs.get(org.id);
        if (!r) {
          r = { runId: createRun(store, `${TOURNAMENT}-n${k}`, org, champion.commit, 1), done: 0, state: { head: champion.commit, text: champion.text, measured: champion.bpb, truth: champion.bpb, commits: 0 } };
          runs.set(org.id, r);
        }
        fillRun(store, { runId: r.runId, count: a.experiments, seed: 100 * k + org.id + 1000 * round, slots: 1, baseline: r.done === 0, state: r.state });
        r.done += a.experiments;
        store.finishAllocation(a.id, r.runId);
      }
    });
    store.endAllocating(night.id);
    const results = active.map((org) => {
      const r = runs.get(org.id)!;
      const experiments = store.listExperiments(r.runId);
      const kept = experiments.filter((e) => e.status === "keep" && e.summary);
      const best = kept.length > 1 ? kept.reduce((a, b) => (b.summary!.val_bpb < a.summary!.val_bpb ? b : a)) : undefined;
      const claimed = best ? kept[0]!.summary!.val_bpb - best.summary!.val_bpb : 0;
      const gain = best ? Math.max(0, claimed * 0.6) : 0;
      const real = best !== undefined && gain > 0.0005;
      const seconds = experiments.reduce((s, e) => s + (e.startedAt && e.finishedAt ? (Date.parse(e.finishedAt) - Date.parse(e.startedAt)) / 1000 : 0), 0);
      return {
        orgId: org.id,
        runId: r.runId,
        ...(best
          ? {
              experimentId: best.id,
              verification: {
                experimentId: best.id, parentCommit: champion.commit, commit: best.commit!, verdict: real ? ("real" as const) : ("inconclusive" as const), seeds: 6,
                meanGain: gain, pValue: real ? 0.004 : 0.3, pAdjusted: real ? 0.012 : 0.6, testBpb: best.summary!.val_bpb + 0.01, parentTestBpb: kept[0]!.summary!.val_bpb + 0.01,
                reason: real ? "the gain clears δ_min after 6 paired seeds" : "the interval spans zero", details: { interval: [gain - 0.002, gain + 0.002], alpha: 0.05, margin: 0.0005 },
              },
            }
          : {}),
        claimedGain: claimed, verifiedGain: real ? gain : 0, deviceSeconds: seconds, experiments: experiments.length,
        score: real ? gain / (seconds / 3600) : 0, rank: 0, state: r.state,
      };
    });
    results.sort((a, b) => b.score - a.score || b.claimedGain - a.claimedGain).forEach((r, i) => (r.rank = i + 1));
    const winner = results[0]!;
    const moved = winner.verification && winner.verifiedGain > 0 ? { commit: winner.verification.commit, orgId: winner.orgId, gain: winner.verifiedGain } : null;
    store.recordNightResults(night.id, results.map(({ state: _state, ...r }) => r), moved);
    if (moved) champion = { commit: moved.commit, text: winner.state.text, bpb: winner.state.measured };
    const parent = active.find((o) => o.id === winner.orgId)!;
    const loser = results.at(-1)!.orgId;
    store.evolveNight(night.id, {
      children: k < NIGHTS ? [{ name: `${parent.name.split("-")[0]}-g${k}`, programMd: parent.programMd + `\nTournament lineage: bred after night ${k}.\n`, parentId: parent.id, mutationNote: `night ${k}: MATRIX_LR step 0.3` }] : [],
      retire: k < NIGHTS ? [loser] : [],
    });
  }
}

// ---- timing the CLI, cold ----------------------------------------------------------------------

interface Timing {
  seconds: number;
  /** User + system CPU seconds of the child (robust where other work shares the cores). */
  cpuSeconds: number | null;
  rssMb: number | null;
  bytes: number;
  status: number | null;
}

/** Runs the real CLI in a fresh process; its peak RSS from /usr/bin/time when there is one. */
function cold(argv: string[], outputFiles: string[] = [], expectStatus = 0): Timing {
  const timeFile = join(tmpdir(), `ns-scale-time-${process.pid}`);
  const haveTime = existsSync("/usr/bin/time");
  const [cmd, cmdArgs] = haveTime ? ["/usr/bin/time", ["-f", "%M %U %S", "-o", timeFile, process.execPath, BIN, ...argv]] : [process.execPath, [BIN, ...argv]];
  const start = performance.now();
  const r = spawnSync(cmd, cmdArgs as string[], { encoding: "buffer", maxBuffer: 1 << 30 });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== expectStatus) throw new Error(`nightshift ${argv.join(" ")} exited ${r.status}: ${r.stderr.toString().slice(0, 2000)}`);
  let rssMb: number | null = null;
  let cpuSeconds: number | null = null;
  if (haveTime) {
    const [rss, user, sys] = readFileSync(timeFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number);
    rssMb = rss! / 1024;
    cpuSeconds = user! + sys!;
    rmSync(timeFile, { force: true });
  }
  const bytes = r.stdout.length + outputFiles.reduce((s, f) => s + (existsSync(f) ? statSync(f).size : 0), 0);
  return { seconds, cpuSeconds, rssMb, bytes, status: r.status };
}

const COMMANDS = ["results", "report run html", "report run md", "report tournament html", "report tournament md", "tournament status", "verify <commit>"] as const;
type CommandName = (typeof COMMANDS)[number];

function measure(ws: string, out: string, verifyCommit: string): Map<CommandName, Timing & { note?: string }> {
  const m = new Map<CommandName, Timing & { note?: string }>();
  const tsv = (f: string) => [f, `${f.replace(/\.(html|md)$/, "")}.experiments.tsv`];
  m.set("results", cold(["results", "--workspace", ws, "--run", RUN_TAG]));
  const runHtml = join(out, "run.html");
  const runMd = join(out, "run.md");
  const tHtml = join(out, "tournament.html");
  const tMd = join(out, "tournament.md");
  m.set("report run html", { ...cold(["report", "--workspace", ws, "--run", RUN_TAG, "--out", runHtml], [runHtml]), note: sizeNote(tsv(runHtml)) });
  m.set("report run md", { ...cold(["report", "--workspace", ws, "--run", RUN_TAG, "--format", "md", "--out", runMd], [runMd]), note: sizeNote(tsv(runMd)) });
  m.set("report tournament html", { ...cold(["report", "--workspace", ws, "--tournament", TOURNAMENT, "--out", tHtml], [tHtml]), note: sizeNote(tsv(tHtml)) });
  m.set("report tournament md", { ...cold(["report", "--workspace", ws, "--tournament", TOURNAMENT, "--format", "md", "--out", tMd], [tMd]), note: sizeNote(tsv(tMd)) });
  m.set("tournament status", cold(["tournament", "status", TOURNAMENT, "--workspace", ws]));
  // A discarded experiment's commit: the lookup runs in full, then verify refuses it (exit 2)
  // before anything trains — the planning half of `verify <commit>`.
  m.set("verify <commit>", cold(["verify", verifyCommit.slice(0, 7), "--workspace", ws], [], 2));
  return m;
}

/** The TSV beside a report, when the report wrote one. */
function sizeNote(files: string[]): string | undefined {
  const tsvFile = files[1]!;
  return existsSync(tsvFile) ? `+ ${mb(statSync(tsvFile).size)} TSV` : undefined;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

async function buildWorkspace(ws: string, n: number): Promise<string> {
  const db = join(ws, "nightshift.db");
  if (!existsSync(db)) {
    mkdirSync(ws, { recursive: true });
    const start = performance.now();
    clock.t = Date.parse("2026-03-02T22:00:00Z");
    const store = openStore(db, { now: () => new Date(clock.t) });
    fillSingleRun(store, n);
    fillTournament(store, n);
    store.close();
    await Lab.init(join(ws, "lab"), { trainTs: baselineTrainTs(), readme: labReadme({ profile: "cpu" }) });
    console.log(`  filled ${n} + ${n} experiments in ${((performance.now() - start) / 1000).toFixed(1)} s (${mb(statSync(db).size)} store)`);
  } else console.log(`  reusing ${db} (${mb(statSync(db).size)})`);
  const store = openStore(db, { readonly: true });
  try {
    const run = store.listRuns().find((r) => r.tag === RUN_TAG)!;
    const discard = store.listExperiments(run.id).find((e) => e.status === "discard" && e.seq > n / 2)!;
    const all = store.listExperiments(run.id);
    const c = (s: string) => all.filter((e) => e.status === s).length;
    console.log(`  run: ${all.length} experiments (${c("keep")} keep, ${c("discard")} discard, ${c("crash")} crash, ${c("invalid")} invalid, ${c("skipped")} skipped)`);
    console.log(`  store reads per proposal (recentHistory(300) + runCost, median of 50): ${proposalReadMs(store, run.id).toFixed(2)} ms`);
    return discard.commit!;
  } finally {
    store.close();
  }
}

/** What the loop reads from the store before each proposal, in milliseconds (median of 50). */
function proposalReadMs(store: Store, runId: number): number {
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const start = performance.now();
    store.recentHistory(runId, 300);
    store.runCost(runId);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[25]!;
}

async function main(): Promise<void> {
  const root = args.keep ?? mkdtempSync(join(tmpdir(), "ns-bench-scale-"));
  mkdirSync(root, { recursive: true });
  const all: { n: number; m: Map<CommandName, Timing & { note?: string }> }[] = [];
  try {
    for (const n of SIZES) {
      console.log(`\n${n} experiments per store part:`);
      const ws = join(root, `ws-${n}`);
      const verifyCommit = await buildWorkspace(ws, n);
      const out = join(root, `reports-${n}`);
      mkdirSync(out, { recursive: true });
      const m = measure(ws, out, verifyCommit);
      all.push({ n, m });
      console.log(`  ${"command".padEnd(24)} ${"cold s".padStart(7)} ${"CPU s".padStart(7)} ${"RSS MB".padStart(7)} ${"output".padStart(10)}`);
      for (const [name, t] of m)
        console.log(
          `  ${name.padEnd(24)} ${t.seconds.toFixed(2).padStart(7)} ${(t.cpuSeconds === null ? "—" : t.cpuSeconds.toFixed(2)).padStart(7)} ` +
            `${(t.rssMb === null ? "—" : t.rssMb.toFixed(0)).padStart(7)} ${mb(t.bytes).padStart(10)}${t.note ? ` ${t.note}` : ""}`,
        );
    }
    if (all.length > 1) {
      console.log("\ngrowth exponent k of cold wall time (time ∝ N^k; of CPU time, then of output bytes, in brackets) between sizes:");
      console.log(`  ${"command".padEnd(24)} ${all.slice(1).map((b, i) => `${all[i]!.n}→${b.n}`.padStart(24)).join("")}`);
      for (const name of COMMANDS) {
        const cells = all.slice(1).map((b, i) => {
          const a = all[i]!;
          const ta = a.m.get(name)!;
          const tb = b.m.get(name)!;
          const growth = (x: number, y: number) => (Math.log(Math.max(y, 1e-9) / Math.max(x, 1e-9)) / Math.log(b.n / a.n)).toFixed(2);
          const kc = ta.cpuSeconds !== null && tb.cpuSeconds !== null ? growth(ta.cpuSeconds, tb.cpuSeconds) : "—";
          return `${growth(ta.seconds, tb.seconds)} [${kc}, ${growth(ta.bytes, tb.bytes)}]`.padStart(24);
        });
        console.log(`  ${name.padEnd(24)} ${cells.join("")}`);
      }
    }
  } finally {
    if (!args.keep) rmSync(root, { recursive: true, force: true });
  }
}

await main();
