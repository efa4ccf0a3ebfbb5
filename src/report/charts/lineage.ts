/**
 * The lineage of a tournament's orgs drawn as a tree over its nights: one row per org, its line
 * spanning the nights it played (from the night it joined to the night it retired after, or to
 * the last night), and each child branching off its parent's line between the night it was bred
 * after and the night it joined. Seeds are roots. Retired orgs are grey and end in a cross;
 * orgs that moved the champion carry a mark on the night they did.
 *
 * Rows are the tree in depth-first order with each org's later-born children first: a branch to
 * an earlier child then passes only rows that start later than it, so no branch crosses a line
 * (children born the same night share one). About 22 px a row: 50 orgs over 8 nights is a
 * chart about 1100 px tall that stays legible; the Markdown report keeps the indented list.
 *
 * The layout (layoutLineage) is plain data a test can read; lineageChart turns it into Vega-Lite.
 * Inputs are tolerated, not trusted: a parent that is not among the nodes makes a root, a cycle
 * is cut where it is found, a missing join night is the parent's next night, duplicate names are
 * told apart by a suffix.
 */
import type { ChartSpec, LineageNode } from "../types.ts";
import { STATUS_COLORS } from "./theme.ts";

export interface LineageRow {
  /** The org's row label, unique in the chart ("name · gen g"). */
  label: string;
  org: string;
  generation: number;
  /** The label of its parent's row; null for a root (a seed, or a parent not drawn). */
  parent: string | null;
  /** First and last night it played (for a retired org, the night it retired after). */
  joined: number;
  last: number;
  retired: boolean;
}

export interface LineageLayout {
  /** Rows top to bottom. */
  rows: LineageRow[];
  /** Parent → child branches, at the boundary before the child's first night. */
  edges: { parent: string; child: string; night: number }[];
  nights: number;
}

/** Rows in tree order and the branches between them; `nights`: the last night the chart shows. */
export function layoutLineage(nodes: readonly LineageNode[], nights: number): LineageLayout {
  // Duplicate names (not from a store, which keeps them unique) get a suffix so rows stay apart.
  const seen = new Map<string, number>();
  const labels = nodes.map((n) => {
    const k = (seen.get(n.org) ?? 0) + 1;
    seen.set(n.org, k);
    return `${n.org}${k > 1 ? ` (${k})` : ""} · gen ${n.generation}`;
  });
  const firstIndex = new Map<string, number>();
  nodes.forEach((n, i) => firstIndex.has(n.org) || firstIndex.set(n.org, i));
  const parentOf = nodes.map((n, i) => {
    const p = n.parent === null ? undefined : firstIndex.get(n.parent);
    return p === undefined || p === i ? null : p;
  });
  const children = new Map<number, number[]>();
  parentOf.forEach((p, i) => p !== null && children.set(p, [...(children.get(p) ?? []), i]));

  // Join nights: as recorded, else the parent's next night (a seed's: night 1).
  const joined: (number | undefined)[] = nodes.map((n) => (Number.isInteger(n.joinedNight) && n.joinedNight! >= 1 ? n.joinedNight : undefined));
  const joinOf = (i: number, depth = 0): number => {
    const own = joined[i];
    if (own !== undefined) return own;
    const p = parentOf[i] ?? null;
    joined[i] = p === null || depth > nodes.length ? 1 : joinOf(p, depth + 1) + 1;
    return joined[i]!;
  };
  nodes.forEach((_, i) => joinOf(i));
  const lastNight = Math.max(1, Number.isFinite(nights) ? Math.floor(nights) : 1, ...joined.map((j) => j!));

  const rows: LineageRow[] = [];
  const edges: LineageLayout["edges"] = [];
  const placed = new Set<number>();
  const visit = (i: number, parent: number | null) => {
    placed.add(i);
    const n = nodes[i]!;
    const first = joined[i]!;
    const retiredAfter = n.retired ? (n.retiredNight ?? first) : null;
    rows.push({
      label: labels[i]!,
      org: n.org,
      generation: n.generation,
      parent: parent === null ? null : labels[parent]!,
      joined: first,
      last: retiredAfter === null ? lastNight : Math.min(lastNight, Math.max(first, retiredAfter)),
      retired: n.retired,
    });
    if (parent !== null) edges.push({ parent: labels[parent]!, child: labels[i]!, night: first });
    // Later-born children first (then as given): the branches to earlier ones cross no line.
    const kids = [...(children.get(i) ?? [])].sort((a, b) => joined[b]! - joined[a]! || a - b);
    for (const c of kids) if (!placed.has(c)) visit(c, i);
  };
  nodes.forEach((_, i) => parentOf[i] === null && !placed.has(i) && visit(i, null));
  // What is left hangs in a cycle (a parent of a parent of itself): cut it at its first node.
  nodes.forEach((_, i) => placed.has(i) || visit(i, null));
  return { rows, edges, nights: lastNight };
}

const ACTIVE = "#4e79a7";
const RETIRED = STATUS_COLORS.discard!;
const CHAMPION = "#e6a700";
const BRANCH = "#8c939d";

/**
 * The lineage chart, null without nodes. `moves`: the champion moves (night, org) to mark;
 * `nights`: the last night the report covers.
 */
export function lineageChart(id: string, nodes: readonly LineageNode[], nights: number, moves: readonly { night: number; org: string | null }[] = []): ChartSpec | null {
  if (nodes.length === 0) return null;
  const layout = layoutLineage(nodes, nights);
  const n = layout.nights;
  const labels = layout.rows.map((r) => r.label);
  const rowOf = new Map(layout.rows.map((r) => [r.org, r]));
  const wins = moves
    .filter((m) => m.org !== null && rowOf.has(m.org) && m.night >= 1 && m.night <= n)
    .map((m) => ({ label: rowOf.get(m.org!)!.label, at: m.night, mark: "moved the champion" }));
  const state = (r: LineageRow) => (r.retired ? "retired" : "playing");
  const used = (m: string) => (m === "playing" ? layout.rows.some((r) => !r.retired) : m === "retired" ? layout.rows.some((r) => r.retired) : wins.length > 0);
  const marks = (["playing", "retired", "moved the champion"] as const).filter(used);
  const palette = { playing: ACTIVE, retired: RETIRED, "moved the champion": CHAMPION };
  const color = { field: "mark", type: "nominal", title: null, scale: { domain: marks, range: marks.map((m) => palette[m]) }, legend: { orient: "top" } };
  const x = {
    type: "quantitative",
    title: "night",
    scale: { domain: [0.5, n + 0.5], nice: false, zero: false },
    axis: { values: Array.from({ length: n }, (_, k) => k + 1), format: "d", orient: "top", grid: true },
  };
  // offset: the seeds' first dots sit on the left edge, clear of the labels.
  const y = { field: "label", type: "nominal", title: null, scale: { domain: labels }, axis: { labelLimit: 260, ticks: false, domain: false, offset: 10 } };
  const lines = layout.rows.map((r) => ({ label: r.label, from: r.joined - 0.5, to: r.last + 0.5, mark: state(r) }));
  const births = layout.rows.map((r) => ({ label: r.label, at: r.joined - 0.5, mark: state(r) }));
  const ends = layout.rows.filter((r) => r.retired).map((r) => ({ label: r.label, at: r.last + 0.5, mark: "retired" }));
  const branches = layout.edges.map((e) => ({ parent: e.parent, child: e.child, at: e.night - 0.5 }));

  const retired = layout.rows.filter((r) => r.retired).length;
  const roots = layout.rows.filter((r) => r.parent === null).length;
  const description =
    `${layout.rows.length} org${layout.rows.length === 1 ? "" : "s"} over ${n} night${n === 1 ? "" : "s"}: ` +
    `${roots} root${roots === 1 ? "" : "s"}, ${layout.edges.length} child${layout.edges.length === 1 ? "" : "ren"} bred, ${retired} retired` +
    (wins.length > 0 ? `, ${wins.length} champion move${wins.length === 1 ? "" : "s"}` : "") +
    `. Each line spans the nights an org played; a child branches off its parent's line after the night it was bred; a retired org's line ends in a cross.`;
  return {
    id,
    title: "lineage of the orgs",
    description,
    vegaLite: {
      width: Math.min(640, Math.max(420, 72 * n)),
      height: { step: 22 },
      layer: [
        {
          data: { values: branches },
          mark: { type: "rule", color: BRANCH, strokeWidth: 1.5 },
          encoding: { x: { ...x, field: "at" }, y: { ...y, field: "parent" }, y2: { field: "child" } },
        },
        {
          data: { values: lines },
          mark: { type: "rule", strokeWidth: 5, strokeCap: "round" },
          encoding: { x: { ...x, field: "from" }, x2: { field: "to" }, y, color },
        },
        { data: { values: births }, mark: { type: "point", filled: true, size: 60, opacity: 1 }, encoding: { x: { ...x, field: "at" }, y, color } },
        { data: { values: ends }, mark: { type: "point", shape: "cross", filled: true, size: 90, opacity: 1 }, encoding: { x: { ...x, field: "at" }, y, color } },
        { data: { values: wins }, mark: { type: "point", shape: "diamond", filled: true, size: 110, opacity: 1, stroke: "#ffffff", strokeWidth: 1 }, encoding: { x: { ...x, field: "at" }, y, color } },
      ],
    },
  };
}
