/**
 * The seed population of research orgs: the top-level program.md (the default org) and every
 * orgs/<name>/program.md. Each must load as `--org` loads it, carry a strategy block the
 * builtin agent accepts against the lab's baseline train.ts, and drive real proposals that
 * apply to that train.ts; the orgs must differ from each other in text and in strategy, and
 * each must behave as its prose says (the scientist moves one knob, the architect big steps,
 * the simplifier only toward simpler settings). Pure TypeScript over the files in the repo: no
 * device, no git, no network; a few hundred builtin proposals in well under a second.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { BuiltinAgent, checkBuiltinSetup, parseChanges, readRecipeConstants, type KnobChange } from "../../src/agents/builtin/index.ts";
import { toUnit } from "../../src/agents/builtin/knobs.ts";
import { applyEdits } from "../../src/agents/edits.ts";
import { parseStrategy, type KnobSpec, type Strategy } from "../../src/agents/strategy.ts";
import type { HistoryEntry } from "../../src/agents/types.ts";
import type { RunResult } from "../../src/harness/types.ts";
import { checkRefComponent, runBranchName } from "../../src/lab/names.ts";
import { baselineTrainTs } from "../../src/lab/recipe.ts";
import { decide } from "../../src/loop/keep-rule.ts";
import { loadOrg, type OrgSource } from "../../src/workspace/org.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ORGS_DIR = join(ROOT, "orgs");
const SEEDS = ["architect", "scientist", "simplifier", "tuner"];
/** The sections every org keeps from the default org: the house rules. */
const HOUSE_RULES = [
  "## Setup",
  "## The loop",
  "## What you may do",
  "## What you may not do",
  "## The goal",
  "## The keep rule",
  "## Never stop",
];

const BASELINE = baselineTrainTs();

interface LoadedOrg extends OrgSource {
  strategy: Strategy;
}

function load(path: string): LoadedOrg {
  const org = loadOrg(path);
  const strategy = parseStrategy(org.programMd);
  if (!strategy) throw new Error(`${path}: no nightshift-strategy block`);
  return { ...org, strategy };
}

const orgDirs = readdirSync(ORGS_DIR)
  .filter((name) => statSync(join(ORGS_DIR, name)).isDirectory())
  .sort();
const DEFAULT = load(join(ROOT, "program.md"));
const SEEDED = orgDirs.map((dir) => load(join(ORGS_DIR, dir)));
const ALL = [DEFAULT, ...SEEDED];
const byName = (name: string): LoadedOrg => ALL.find((o) => o.name === name)!;

function knobSpec(strategy: Strategy, name: string): KnobSpec {
  const spec = strategy.knobs.find((k) => k.name === name);
  if (!spec) throw new Error(`no knob ${name}`);
  return spec;
}

function inRange(spec: KnobSpec, value: number | string): boolean {
  if (spec.kind === "choice") return spec.choices!.includes(value);
  return typeof value === "number" && value >= spec.min! && value <= spec.max! && (spec.kind !== "int" || Number.isInteger(value));
}

interface SimulatedStep {
  changes: KnobChange[];
  editCount: number;
  /** Lines of train.ts that differ after the proposal's edits. */
  linesChanged: number;
  kept: boolean;
}

/**
 * A synthetic night for one org: `n` builtin proposals, each applied to the branch head's
 * train.ts and scored by a smooth function of the org's knobs (its optimum inside every range),
 * kept or discarded by the loop's own keep rule with the org's threshold.
 */
async function simulate(org: LoadedOrg, n: number, seed: number): Promise<SimulatedStep[]> {
  const agent = new BuiltinAgent();
  const score = (trainTs: string): number => {
    const values = new Map(checkBuiltinSetup(org.programMd, trainTs).map((v) => [v.name, v.value]));
    let bpb = 1.88;
    for (const spec of org.strategy.knobs) bpb += 0.05 * (toUnit(spec, values.get(spec.name)!) - 0.62) ** 2;
    return bpb;
  };
  let head = BASELINE;
  let headBpb = score(head);
  const history: HistoryEntry[] = [{ commit: "c000000", val_bpb: headBpb, memory_gb: 1, status: "keep", description: "baseline" }];
  const out: SimulatedStep[] = [];
  for (let i = 0; i < n; i++) {
    const context = { programMd: org.programMd, trainTs: head, labReadme: "", history: [...history], seed: seed + i };
    const { proposal } = await agent.propose(context);
    if (!proposal) throw new Error(`${org.name}: no proposal at step ${i}`);
    const next = applyEdits(head, proposal.edits);
    const changes = parseChanges(proposal.description);
    if (!changes) throw new Error(`${org.name}: unreadable description ${proposal.description}`);
    const before = head.split("\n");
    const linesChanged = next.split("\n").filter((line, j) => line !== before[j]).length;
    const bpb = score(next);
    const result: RunResult = {
      status: "ok",
      summary: {
        val_bpb: bpb,
        training_seconds: 300,
        total_seconds: 308,
        peak_vram_mb: 1024,
        mfu_percent: 50,
        total_tokens_M: 1,
        num_steps: 600,
        num_params_M: 1,
        depth: 4,
      },
      logTail: "",
      seed: seed + i,
      profile: "cpu",
      timeBudget: 300,
      sandboxed: true,
    };
    const { status } = decide(result, headBpb, org.strategy.simplicityThreshold);
    out.push({ changes, editCount: proposal.edits.length, linesChanged, kept: status === "keep" });
    history.push({ commit: `c${String(i + 1).padStart(6, "0")}`, val_bpb: bpb, memory_gb: 1, status, description: proposal.description });
    if (status === "keep") {
      head = next;
      headBpb = bpb;
    }
  }
  return out;
}

/** How an org's first proposals move: the median factor of its learning-rate changes, and the share touching the architecture. */
async function firstSteps(org: LoadedOrg, seeds: number): Promise<{ lrFactor: number; architectureShare: number }> {
  const agent = new BuiltinAgent();
  const logMoves: number[] = [];
  let architecture = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const { proposal } = await agent.propose({ programMd: org.programMd, trainTs: BASELINE, labReadme: "", history: [], seed });
    const changes = parseChanges(proposal!.description)!;
    if (changes.some((c) => c.name === "ASPECT_RATIO" || c.name === "WINDOW_PATTERN")) architecture++;
    for (const c of changes)
      if (knobSpec(org.strategy, c.name).kind === "log") logMoves.push(Math.abs(Math.log((c.to as number) / (c.from as number))));
  }
  // The median, so the uniform exploration samples do not decide it.
  const sorted = logMoves.sort((x, y) => x - y);
  return { lrFactor: Math.exp(sorted[Math.floor(sorted.length / 2)]!), architectureShare: architecture / seeds };
}

describe("the seed population", () => {
  it("has the default org and the four seed strategies, and the README names them all", () => {
    expect(DEFAULT.name).toBe("default");
    for (const seed of SEEDS) expect(orgDirs).toContain(seed);
    for (const dir of orgDirs) expect(existsSync(join(ORGS_DIR, dir, "program.md"))).toBe(true);
    const readme = readFileSync(join(ORGS_DIR, "README.md"), "utf8");
    for (const org of ALL) expect(readme).toContain(`\`${org.name}\``);
    expect(readme).toContain("nightshift run --org orgs/");
  });

  it("names every org by its directory, and every name is a valid lab ref component", () => {
    for (const org of SEEDED) {
      expect(org.path).toBe(join(ORGS_DIR, org.name, "program.md"));
      expect(checkRefComponent("org", org.name)).toBe(org.name);
      expect(runBranchName("night-1", org.name)).toBe(`nightshift/night-1/${org.name}`);
    }
    expect(checkRefComponent("org", DEFAULT.name)).toBe("default");
  });

  it("refuses an org directory whose name git refs reject, before anything runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "ns-org-names-"));
    try {
      for (const [name, rule] of [
        [".hidden", /must not start with '\.'/],
        ["v1.lock", /must not end with '\.lock'/],
        ["a..b", /must not contain '\.\.'/],
        ["trailing.", /must not end with '\.'/],
        ["has space", /may hold only letters, digits/],
      ] as const) {
        mkdirSync(join(dir, name));
        writeFileSync(join(dir, name, "program.md"), "# an org\n");
        expect(() => loadOrg(join(dir, name)), name).toThrow(rule);
        expect(() => loadOrg(join(dir, name)), name).toThrow(/names the run's git branches/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives every org a strategy whose knobs exist in the baseline train.ts, with the baseline inside every range", () => {
    const constants = readRecipeConstants(BASELINE);
    for (const org of ALL) {
      const values = checkBuiltinSetup(org.programMd, BASELINE);
      expect(values.map((v) => v.name)).toEqual(org.strategy.knobs.map((k) => k.name));
      for (const { name, value } of values) {
        // A baseline value outside a range, or not among a choice knob's choices, would start the
        // search at an edge or in the middle instead of where the recipe is.
        expect(inRange(knobSpec(org.strategy, name), value), `${org.name}: ${name} = ${JSON.stringify(value)}`).toBe(true);
        expect(constants.has(name.replace(/(\[\d+\]|\.\w+)$/, ""))).toBe(true);
      }
    }
  });

  it("keeps the house rules in every org's prose and rewrites the rest", () => {
    const defaultLines = new Set(DEFAULT.programMd.split("\n").filter((l) => l.trim() !== ""));
    for (const org of SEEDED) {
      const md = org.programMd;
      expect(md.startsWith(`# nightshift — the ${org.name} org\n`), org.name).toBe(true);
      expect(md).toContain("**How it differs from the default org**");
      for (const section of HOUSE_RULES) expect(md, `${org.name}: ${section}`).toContain(`\n${section}\n`);
      expect(md).toContain(`nightshift run --org orgs/${org.name} `);
      expect(md).toContain(`nightshift/<tag>/${org.name}`);
      // The keep rule's prose states the same threshold as the block the machine applies.
      const keepRule = md.slice(md.indexOf("## The keep rule"), md.indexOf("\n## ", md.indexOf("## The keep rule") + 1));
      expect(keepRule, org.name).toContain(`(${org.strategy.simplicityThreshold} val_bpb`);
      // Not the default with a paragraph appended: most of its lines are its own.
      const lines = md.split("\n").filter((l) => l.trim() !== "");
      const own = lines.filter((l) => !defaultLines.has(l)).length / lines.length;
      expect(own, `${org.name}: ${(own * 100).toFixed(0)}% of lines differ from the default`).toBeGreaterThan(0.5);
    }
  });

  it("makes the orgs pairwise distinct in program.md and in strategy", () => {
    const hash = (text: string): string => createHash("sha256").update(text).digest("hex");
    const settings = (s: Strategy): string =>
      JSON.stringify([s.optimizer, s.explorationRate, s.simplicityThreshold, s.stepSize, s.populationSize ?? null, s.maxChanges ?? null]);
    const knobs = (s: Strategy): string => JSON.stringify(s.knobs);
    for (let i = 0; i < ALL.length; i++)
      for (let j = i + 1; j < ALL.length; j++) {
        const [a, b] = [ALL[i]!, ALL[j]!];
        const pair = `${a.name} / ${b.name}`;
        expect(hash(a.programMd), pair).not.toBe(hash(b.programMd));
        expect(knobs(a.strategy) !== knobs(b.strategy) || settings(a.strategy) !== settings(b.strategy), pair).toBe(true);
      }
  });
});

describe("the builtin agent on each org", () => {
  it.each(ALL.map((o) => [o.name, o] as const))("%s: first proposals apply to the baseline and stay in range", async (_name, org) => {
    const agent = new BuiltinAgent();
    const limit = org.strategy.maxChanges ?? org.strategy.knobs.length;
    for (let seed = 1; seed <= 20; seed++) {
      const { proposal, error } = await agent.propose({ programMd: org.programMd, trainTs: BASELINE, labReadme: "", history: [], seed });
      expect(error).toBeUndefined();
      const next = applyEdits(BASELINE, proposal!.edits);
      expect(next).not.toBe(BASELINE);
      const changes = parseChanges(proposal!.description)!;
      expect(changes.length).toBeGreaterThanOrEqual(1);
      expect(changes.length).toBeLessThanOrEqual(limit);
      const after = new Map(checkBuiltinSetup(org.programMd, next).map((v) => [v.name, v.value]));
      for (const c of changes) {
        expect(inRange(knobSpec(org.strategy, c.name), c.to), `${org.name}: ${c.name} -> ${c.to}`).toBe(true);
        expect(after.get(c.name)).toBe(c.to);
      }
    }
  });

  it.each(ALL.map((o) => [o.name, o] as const))("%s: a 24-experiment synthetic night applies every proposal", async (_name, org) => {
    const steps = await simulate(org, 24, 7);
    // Some experiments must be kept, so that later proposals apply to a head that has moved.
    expect(steps.filter((s) => s.kept).length, org.name).toBeGreaterThan(0);
    const limit = org.strategy.maxChanges ?? org.strategy.knobs.length;
    for (const step of steps) {
      expect(step.changes.length).toBeGreaterThanOrEqual(1);
      expect(step.changes.length).toBeLessThanOrEqual(limit);
      for (const c of step.changes) expect(inRange(knobSpec(org.strategy, c.name), c.to)).toBe(true);
    }
  });

  it("scientist: every proposal changes exactly one knob, one line of train.ts", async () => {
    const scientist = byName("scientist");
    expect(scientist.strategy.maxChanges).toBe(1);
    for (const seed of [1, 1000, 2000]) {
      const steps = await simulate(scientist, 30, seed);
      for (const step of steps) {
        expect(step.changes).toHaveLength(1);
        expect(step.editCount).toBe(1);
        expect(step.linesChanged).toBe(1);
      }
    }
  });

  it("simplifier: every proposal from the baseline moves toward simpler settings", async () => {
    const simplifier = byName("simplifier");
    const agent = new BuiltinAgent();
    const baseline = new Map(checkBuiltinSetup(simplifier.programMd, BASELINE).map((v) => [v.name, v.value]));
    const simpler: Record<string, (from: number | string, to: number | string) => boolean> = {
      WEIGHT_DECAY: (from, to) => (to as number) < (from as number),
      WARMDOWN_RATIO: (from, to) => (to as number) < (from as number) && (to as number) > 0,
      FINAL_LR_FRAC: (_from, to) => to === 1,
      WINDOW_PATTERN: (_from, to) => to === "L",
    };
    expect(Object.keys(simpler).sort()).toEqual(simplifier.strategy.knobs.map((k) => k.name).sort());
    for (let seed = 1; seed <= 40; seed++) {
      const { proposal } = await agent.propose({ programMd: simplifier.programMd, trainTs: BASELINE, labReadme: "", history: [], seed });
      for (const c of parseChanges(proposal!.description)!)
        expect(simpler[c.name]!(baseline.get(c.name)!, c.to), `${c.name} ${c.from} -> ${c.to}`).toBe(true);
    }
    expect(simplifier.strategy.simplicityThreshold).toBeGreaterThan(DEFAULT.strategy.simplicityThreshold);
  });

  it("architect steps further than the tuner, the tuner further than the scientist, as their prose says", async () => {
    const architect = await firstSteps(byName("architect"), 60);
    const tuner = await firstSteps(byName("tuner"), 60);
    const scientist = await firstSteps(byName("scientist"), 60);
    // The factors each program.md quotes: about 2.5, 1.4 and 1.25.
    expect(architect.lrFactor).toBeGreaterThan(2);
    expect(tuner.lrFactor).toBeGreaterThan(1.2);
    expect(tuner.lrFactor).toBeLessThan(1.6);
    expect(scientist.lrFactor).toBeLessThan(1.4);
    expect(Math.log(architect.lrFactor)).toBeGreaterThan(2 * Math.log(tuner.lrFactor));
    expect(tuner.lrFactor).toBeGreaterThan(scientist.lrFactor);
    // The architect's subject is the shape; the tuner never touches it.
    expect(architect.architectureShare).toBeGreaterThan(0.75);
    expect(tuner.architectureShare).toBe(0);
    const { architect: a, tuner: t, scientist: s } = Object.fromEntries(ALL.map((o) => [o.name, o.strategy]));
    expect(a!.explorationRate).toBeGreaterThan(t!.explorationRate);
    expect(t!.explorationRate).toBeGreaterThan(s!.explorationRate);
  });
});
