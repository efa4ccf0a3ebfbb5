/**
 * The builtin meta-mutator and the breeding plan on their own (no training): a draw is a pure
 * function of the parent and the seed; a child differs from its parent and from its siblings;
 * a child some org already has (same normalized strategy) is refused and redrawn; the children
 * carry their lineage (parent, generation, the note that made them, the lineage line); and each
 * child's strategy block parses and passes checkBuiltinSetup against the recipe it will run on.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkBuiltinSetup } from "../../src/agents/builtin/index.ts";
import { parseStrategy } from "../../src/agents/strategy.ts";
import { baselineTrainTs } from "../../src/lab/index.ts";
import type { NightResult, Org } from "../../src/store/index.ts";
import { DEFAULT_META, type TournamentSettings, mutateProgram, planEvolution, strategyKey } from "../../src/tournament/index.ts";
import { offlineSettings } from "./settings.ts";
import { smallTrainTs } from "../support/small-lab.ts";
import { TEST_ORGS } from "./orgs.ts";

const ORGS_DIR = new URL("../../orgs/", import.meta.url);
const seedOrgs = ["tuner", "architect", "simplifier", "scientist"].map((name) => ({ name, programMd: readFileSync(new URL(`${name}/program.md`, ORGS_DIR), "utf8") }));
const testOrg = (name: string) => `# nightshift — the ${name} org\n\nA test org.\n\n\`\`\`nightshift-strategy\n${JSON.stringify(TEST_ORGS[name], null, 2)}\n\`\`\`\n`;
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const LINEAGE = "`child`, generation 1, bred in a test.";

function org(id: number, name: string, programMd: string, extra: Partial<Org> = {}): Org {
  return { id, name, programMd, programMdHash: sha(programMd), parentId: null, generation: 0, mutationNote: "seed", createdAt: "", ...extra } as Org;
}
function result(orgId: number, rank: number): NightResult {
  return { id: rank, nightId: 1, orgId, runId: null, experimentId: null, verificationId: null, verdict: null, claimedGain: 0, verifiedGain: 0, deviceSeconds: 1, experiments: 2, score: 0, rank, createdAt: "" };
}
const settings = (breed: number, retire: number): TournamentSettings => offlineSettings({ breed, retire });

describe("mutateProgram", () => {
  it("is deterministic per seed, and different seeds give different children", () => {
    for (const parent of [...seedOrgs.map((o) => o.programMd), testOrg("lr"), testOrg("wd")]) {
      const a = mutateProgram(parent, 1234, DEFAULT_META, LINEAGE);
      const b = mutateProgram(parent, 1234, DEFAULT_META, LINEAGE);
      expect(b).toEqual(a);
      const keys = new Set(Array.from({ length: 8 }, (_, seed) => mutateProgram(parent, seed, DEFAULT_META, LINEAGE).key));
      expect(keys.size, "8 seeds gave fewer than 7 distinct strategies").toBeGreaterThanOrEqual(7);
    }
  });

  it("children differ from the parent, keep its prose, and their blocks parse and pass checkBuiltinSetup", () => {
    const recipes = [baselineTrainTs(), smallTrainTs(), smallTrainTs({ detuned: true })];
    for (const parent of [...seedOrgs.map((o) => o.programMd), ...Object.keys(TEST_ORGS).map(testOrg)]) {
      const before = parseStrategy(parent)!;
      for (let seed = 0; seed < 12; seed++) {
        const m = mutateProgram(parent, seed, DEFAULT_META, LINEAGE);
        const s = parseStrategy(m.programMd);
        expect(s, m.programMd).not.toBeNull();
        expect(m.key).toBe(strategyKey(m.programMd));
        if (m.note !== "no change drawn") expect(m.key).not.toBe(strategyKey(parent));
        // Same knobs (by name and kind), only ranges and search settings move.
        expect(s!.knobs.map((k) => `${k.name}:${k.kind}`)).toEqual(before.knobs.map((k) => `${k.name}:${k.kind}`));
        for (const k of s!.knobs) if (k.kind !== "choice") expect(k.min!).toBeLessThan(k.max!);
        expect(s!.explorationRate).toBeGreaterThanOrEqual(0);
        expect(s!.explorationRate).toBeLessThanOrEqual(0.6);
        for (const trainTs of recipes) expect(() => checkBuiltinSetup(m.programMd, trainTs)).not.toThrow();
        // The prose outside the block and the lineage line is the parent's.
        const strip = (md: string) => md.replace(/```nightshift-strategy[\s\S]*?\n```/, "").replace(/\n\n> Tournament lineage:.*\n/, "\n");
        expect(strip(m.programMd)).toBe(strip(parent));
        expect(m.programMd).toContain(`> Tournament lineage: ${LINEAGE}`);
      }
    }
  });
});

describe("planEvolution", () => {
  const parents = Object.keys(TEST_ORGS).map((name, i) => org(i + 1, name, testOrg(name)));
  const ranked = [3, 1, 4, 2].map((orgId, i) => result(orgId, i + 1));

  it("breeds the best, retires the worst, holds the population, and sets the lineage", () => {
    const plan = planEvolution("t", 1, ranked, parents, settings(2, 2));
    expect(plan.retire).toEqual([4, 2]);
    expect(plan.children.map((c) => c.parentId)).toEqual([3, 1]);
    expect(parents.length + plan.children.length - plan.retire.length).toBe(parents.length);
    for (const child of plan.children) {
      const parent = parents.find((p) => p.id === child.parentId)!;
      expect(child.generation).toBe(1);
      expect(child.name).toBe(`${parent.name}-g1n1a`);
      expect(child.mutationNote).toMatch(/^night 1, draw \d+: /);
      expect(child.programMd).toMatch(new RegExp(`> Tournament lineage: \`${child.name}\`, generation 1, bred by the builtin meta-mutator from \`${parent.name}\` after night 1 of tournament t\\.`));
      expect(strategyKey(child.programMd)).not.toBe(strategyKey(parent.programMd));
      expect(() => checkBuiltinSetup(child.programMd, smallTrainTs())).not.toThrow();
    }
    expect(strategyKey(plan.children[0]!.programMd)).not.toBe(strategyKey(plan.children[1]!.programMd));
    // Deterministic: the same night plans the same children (a breeding killed before it was recorded is redrawn identically).
    expect(planEvolution("t", 1, ranked, parents, settings(2, 2))).toEqual(plan);
    // A grandchild is named from the root and counts its generation.
    const child = org(9, plan.children[0]!.name, plan.children[0]!.programMd, { parentId: 3, generation: 1 });
    const next = planEvolution("t", 2, [result(9, 1), ...ranked.map((r) => ({ ...r, rank: r.rank + 1 }))], [...parents, child], settings(1, 1));
    expect(next.children[0]!.name).toBe("warm-g2n2a");
    expect(next.children[0]!.generation).toBe(2);
    expect(next.children[0]!.parentId).toBe(9);
  });

  it("redraws a child that an existing org already is (a near-duplicate), and takes a free name", () => {
    const first = planEvolution("t", 1, ranked, parents, settings(1, 1)).children[0]!;
    expect(first.mutationNote).toMatch(/^night 1, draw 0: /);
    // The same strategy under another name and with other prose is still a near-duplicate.
    const twin = first.programMd.replace("A test org.", "Other words, same strategy.").replace(/> Tournament lineage:.*/, "");
    expect(strategyKey(twin)).toBe(strategyKey(first.programMd));
    const withTwin = [...parents, org(5, "twin", twin), org(6, first.name, "# taken name\n")];
    const again = planEvolution("t", 1, ranked, withTwin, settings(1, 1)).children[0]!;
    expect(again.mutationNote).toMatch(/^night 1, draw [1-9]\d*: /);
    expect(strategyKey(again.programMd)).not.toBe(strategyKey(first.programMd));
    expect(again.name).toBe("warm-g1n1b");
    // Numbers equal to 4 significant digits count as the same strategy.
    const s = JSON.parse(JSON.stringify(TEST_ORGS.wd)) as { knobs: { max: number }[] };
    s.knobs[0]!.max = 0.400001;
    expect(strategyKey(testOrg("wd").replace(JSON.stringify(TEST_ORGS.wd, null, 2), JSON.stringify(s, null, 2)))).toBe(strategyKey(testOrg("wd")));
  });

  it("gives up in one line when every draw is a near-duplicate", () => {
    const meta = { ...DEFAULT_META, maxRedraws: 3 };
    const taken: Org[] = [...parents];
    for (let draw = 0; draw < 3; draw++) {
      const seed = (7 * 1_000_003 + 1 * 10_007 + 0 * 101 + draw) % 2 ** 31;
      const m = mutateProgram(parents[2]!.programMd, seed, meta, "x");
      taken.push(org(10 + draw, `dup${draw}`, m.programMd));
    }
    expect(() => planEvolution("t", 1, ranked, taken, { ...settings(1, 1), meta })).toThrow(/every draw from warm was a near-duplicate/);
  });
});
