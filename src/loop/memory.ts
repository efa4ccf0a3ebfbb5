/**
 * An org's research memory: what its earlier runs, and the runs of the orgs it was bred from,
 * settled, so that night 3 does not spend GPU hours on what night 1 refuted. Built by the
 * trusted side from the store when a run starts (the agent never writes it), recorded with the
 * run (the report shows what the agent was given), and the same for every proposal of the run,
 * so that an LLM prompt's memory block stays byte-identical and cacheable.
 *
 *   real        verification credited the change (with its verified gain): build on it
 *   noise,
 *   negligible  reruns with fresh seeds refuted it: do not try it again
 *   crash       it broke training (with the cause)
 *   shared      with --shared-memory, other orgs' settled results in the same tournament
 *               (verified only: never a crash or an unverified keep, so sharing spreads no noise)
 *
 * Each entry names what its diff touched (./touched.ts). The same idea settled twice shows once,
 * newest first; each group is capped and `omitted` counts what did not fit.
 */
import type { MemoryEntry, ResearchMemory } from "../agents/types.ts";
import type { JsonValue, MemorySource, Store } from "../store/index.ts";
import { touchedByDiff } from "./touched.ts";

/** Entries per group: about 60 short lines at most, a few thousand tokens. */
export const MEMORY_LIMITS = { real: 15, refuted: 25, crashes: 10, shared: 15 } as const;

/** Ancestors followed up the lineage: far beyond any tournament's generations, a guard against a cycle. */
const MAX_GENERATIONS = 64;

export interface MemoryRequest {
  runId: number;
  orgId: number;
  /** Share other orgs' verified results of this tournament (--shared-memory). */
  sharedTournamentId?: number;
}

export function lineageOf(store: Store, orgId: number): number[] {
  const lineage = [orgId];
  let parent = store.getOrg(orgId).parentId;
  while (parent !== null && lineage.length < MAX_GENERATIONS && !lineage.includes(parent)) {
    lineage.push(parent);
    parent = store.getOrg(parent).parentId;
  }
  return lineage;
}

function toEntry(s: MemorySource, source: MemoryEntry["source"]): MemoryEntry {
  const entry: MemoryEntry = {
    source,
    org: s.org,
    night: s.night,
    outcome: s.outcome,
    gain: s.gain,
    description: s.description.replace(/\s+/g, " ").trim(),
    touched: touchedByDiff(s.diff),
  };
  if (s.reason !== null) entry.reason = s.reason.split("\n")[0]!.trim().slice(0, 160);
  return entry;
}

/** The same idea with the same outcome: what it touched (or its words, when the diff says nothing). */
const ideaKey = (e: MemoryEntry): string =>
  `${e.outcome === "real" ? "real" : e.outcome === "crash" ? "crash" : "refuted"}|${e.touched.length > 0 ? e.touched.join("\n") : e.description}`;

export function buildResearchMemory(store: Store, request: MemoryRequest): ResearchMemory {
  const lineage = lineageOf(store, request.orgId);
  const refutedCap = MEMORY_LIMITS.refuted;
  // Fetched beyond the caps, so that merging repeats still fills them and `omitted` is counted.
  const { verified, crashes } = store.lineageResults(lineage, request.runId, {
    verified: 2 * (MEMORY_LIMITS.real + refutedCap),
    crashes: 2 * MEMORY_LIMITS.crashes,
  });
  const shared = request.sharedTournamentId === undefined ? [] : store.sharedResults(request.sharedTournamentId, lineage, 2 * MEMORY_LIMITS.shared);

  const seen = new Set<string>();
  const groups = { real: [] as MemoryEntry[], refuted: [] as MemoryEntry[], crashes: [] as MemoryEntry[], shared: [] as MemoryEntry[] };
  let omitted = 0;
  const add = (group: keyof typeof groups, entry: MemoryEntry, cap: number): void => {
    const key = `${entry.source === "shared" ? "shared|" : ""}${ideaKey(entry)}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (groups[group].length < cap) groups[group].push(entry);
    else omitted++;
  };
  for (const s of verified) {
    const entry = toEntry(s, s.orgId === request.orgId ? "own" : "ancestor");
    if (s.outcome === "real") add("real", entry, MEMORY_LIMITS.real);
    else add("refuted", entry, refutedCap);
  }
  for (const s of crashes) add("crashes", toEntry(s, s.orgId === request.orgId ? "own" : "ancestor"), MEMORY_LIMITS.crashes);
  for (const s of shared) add("shared", toEntry(s, "shared"), MEMORY_LIMITS.shared);
  return { entries: [...groups.real, ...groups.refuted, ...groups.crashes, ...groups.shared], omitted };
}

/** The memory as the store keeps it. */
export const memoryJson = (memory: ResearchMemory): JsonValue => memory as unknown as JsonValue;
