/**
 * The lineage tree (charts/lineage.ts) on populations made here: rows in tree order with the
 * later-born children first, a branch per child from its parent at the night it joined, a
 * retired org's line ending at the night it retired after, the champion moves marked — and no
 * branch crossing a line on a 50-org population bred over 8 nights. Bad inputs (a parent not
 * among the nodes, a cycle, a missing join night, duplicate names, no nodes, a night count that
 * is not a number) still give a tree, or no chart.
 */
import { describe, expect, it } from "vitest";
import { layoutLineage, lineageChart } from "../../src/report/charts/lineage.ts";
import type { LineageNode } from "../../src/report/types.ts";

function node(org: string, parent: string | null, joinedNight: number | undefined, retiredNight: number | null = null, generation = parent === null ? 0 : 1): LineageNode {
  return {
    org,
    generation,
    parent,
    mutationNote: null,
    depth: 0,
    programDiff: null,
    retired: retiredNight !== null,
    retiredNight,
    ...(joinedNight === undefined ? {} : { joinedNight }),
  };
}

/** seed a (plays all 4 nights) bred a1 after night 1 and a2 after night 2; a1 bred a11 after night 2; seed b retired after night 2. */
const POPULATION = [node("a", null, 1), node("b", null, 1, 2), node("a1", "a", 2), node("a2", "a", 3, 3), node("a11", "a1", 3, null, 2)];

/** A population bred as a tournament breeds: `seeds` seeds, after each night the best `breed` breed two children each and the worst `retire` retire. */
function bred(seeds: number, nights: number, breed: number, retire: number): LineageNode[] {
  const nodes = Array.from({ length: seeds }, (_, i) => node(`seed${i}`, null, 1));
  let state = 11;
  const rand = () => (state = (state * 48271) % 2147483647) / 2147483647;
  for (let night = 1; night < nights; night++) {
    const alive = nodes.filter((n) => !n.retired && n.joinedNight! <= night).sort(() => rand() - 0.5);
    for (const p of alive.slice(0, breed))
      for (const k of ["a", "b"]) nodes.push(node(`${p.org}.${night}${k}`, p.org, night + 1, null, p.generation + 1));
    for (const r of alive.slice(-retire)) Object.assign(r, { retired: true, retiredNight: night });
  }
  return nodes;
}

describe("the lineage layout", () => {
  it("puts each org on a row, its children under it, later-born first", () => {
    const { rows, nights } = layoutLineage(POPULATION, 4);
    expect(nights).toBe(4);
    expect(rows.map((r) => r.org)).toEqual(["a", "a2", "a1", "a11", "b"]);
    expect(rows.map((r) => r.label)).toEqual(["a · gen 0", "a2 · gen 1", "a1 · gen 1", "a11 · gen 2", "b · gen 0"]);
  });

  it("spans each line from the night it joined to the night it retired after, or to the last night", () => {
    const byOrg = new Map(layoutLineage(POPULATION, 4).rows.map((r) => [r.org, r]));
    for (const n of POPULATION) {
      const r = byOrg.get(n.org)!;
      expect([r.joined, r.last, r.retired], n.org).toEqual([n.joinedNight, n.retiredNight ?? 4, n.retiredNight !== null]);
    }
  });

  it("branches each child off its parent at the night it joined; roots have none", () => {
    const { rows, edges } = layoutLineage(POPULATION, 4);
    const labelOf = new Map(rows.map((r) => [r.org, r.label]));
    const expected = POPULATION.filter((n) => n.parent !== null).map((n) => ({ parent: labelOf.get(n.parent!)!, child: labelOf.get(n.org)!, night: n.joinedNight! }));
    expect(new Set(edges.map((e) => JSON.stringify(e)))).toEqual(new Set(expected.map((e) => JSON.stringify(e))));
    expect(rows.filter((r) => r.parent === null).map((r) => r.org)).toEqual(["a", "b"]);
  });

  it("crosses no line with a branch on 50 orgs over 8 nights", () => {
    const population = bred(8, 8, 3, 4);
    expect(population.length).toBeGreaterThanOrEqual(45);
    const { rows, edges } = layoutLineage(population, 8);
    expect(rows.length).toBe(population.length);
    const index = new Map(rows.map((r, i) => [r.label, i]));
    for (const e of edges) {
      const [from, to] = [index.get(e.parent)!, index.get(e.child)!];
      expect(to, `${e.child} below ${e.parent}`).toBeGreaterThan(from);
      // Every row the branch passes starts after the branch (at night − ½): it meets no line.
      for (let i = from + 1; i < to; i++) expect(rows[i]!.joined, `${rows[i]!.org} between ${e.parent} and ${e.child}`).toBeGreaterThanOrEqual(e.night);
    }
  });

  it("makes a root of a parent not drawn, cuts a cycle, and tells duplicate names apart", () => {
    const strays = [node("orphan", "gone", 2), node("x", "y", 2), node("y", "x", 3), node("a", null, 1), node("a", null, 1)];
    const { rows, edges } = layoutLineage(strays, 3);
    expect(rows).toHaveLength(5);
    expect(rows.find((r) => r.org === "orphan")!.parent).toBeNull();
    // x and y name each other: one is drawn as a root, the other under it.
    const [x, y] = [rows.find((r) => r.org === "x")!, rows.find((r) => r.org === "y")!];
    expect([x.parent, y.parent].filter((p) => p === null)).toHaveLength(1);
    expect(edges).toHaveLength(1);
    expect(rows.filter((r) => r.org === "a").map((r) => r.label)).toEqual(["a · gen 0", "a (2) · gen 0"]);
  });

  it("puts an org without a join night on its parent's next night, and widens the nights to fit", () => {
    const { rows, nights } = layoutLineage([node("s", null, undefined), node("c", "s", undefined), node("cc", "c", 5)], Number.NaN);
    expect(rows.map((r) => [r.org, r.joined])).toEqual([["s", 1], ["c", 2], ["cc", 5]]);
    expect(nights).toBe(5);
  });
});

describe("the lineage chart", () => {
  type Layer = { mark: { type: string; shape?: string }; data: { values: Record<string, string | number>[] } };
  const layers = (chart: ReturnType<typeof lineageChart>) => (chart!.vegaLite as { layer: Layer[] }).layer;

  it("draws lines, births, crosses for the retired, branches and champion moves", () => {
    const chart = lineageChart("lineage", POPULATION, 4, [{ night: 2, org: "a1" }, { night: 3, org: "gone" }, { night: 0, org: null }]);
    const [branches, lines, births, ends, wins] = layers(chart).map((l) => l.data.values);
    expect(lines!.map((v) => [v.label, v.from, v.to, v.mark])).toEqual([
      ["a · gen 0", 0.5, 4.5, "playing"],
      ["a2 · gen 1", 2.5, 3.5, "retired"],
      ["a1 · gen 1", 1.5, 4.5, "playing"],
      ["a11 · gen 2", 2.5, 4.5, "playing"],
      ["b · gen 0", 0.5, 2.5, "retired"],
    ]);
    expect(births).toHaveLength(POPULATION.length);
    expect(ends!.map((v) => [v.label, v.at])).toEqual([["a2 · gen 1", 3.5], ["b · gen 0", 2.5]]);
    expect(branches!.map((v) => [v.parent, v.child, v.at])).toEqual([["a · gen 0", "a2 · gen 1", 2.5], ["a · gen 0", "a1 · gen 1", 1.5], ["a1 · gen 1", "a11 · gen 2", 2.5]]);
    // Only moves by an org drawn, on a night drawn.
    expect(wins!.map((v) => [v.label, v.at])).toEqual([["a1 · gen 1", 2]]);
    expect(chart!.description).toMatch(/^5 orgs over 4 nights: 2 roots, 3 children bred, 2 retired, 1 champion move\./);
  });

  it("is absent without nodes", () => {
    expect(lineageChart("lineage", [], 3)).toBeNull();
  });
});
