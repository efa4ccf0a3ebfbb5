/**
 * Reading back a research memory (the agent contract's ResearchMemory, types.ts) from what a
 * store holds: its shape checked, so a row written by another version or by hand is rebuilt
 * rather than trusted. The memory itself is built by the trusted side (src/loop/memory.ts).
 */
import type { ResearchMemory } from "./types.ts";

const SOURCES: readonly string[] = ["own", "ancestor", "shared"];
const OUTCOMES: readonly string[] = ["real", "noise", "negligible", "crash"];

/** A memory as the store holds it, read back; null when absent or not a memory (then rebuilt). */
export function parseResearchMemory(value: unknown): ResearchMemory | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const { entries, omitted } = value as { entries?: unknown; omitted?: unknown };
  if (!Array.isArray(entries) || typeof omitted !== "number") return null;
  const ok = entries.every(
    (e) =>
      typeof e === "object" &&
      e !== null &&
      !Array.isArray(e) &&
      SOURCES.includes(e.source as string) &&
      OUTCOMES.includes(e.outcome as string) &&
      typeof e.org === "string" &&
      typeof e.description === "string" &&
      Array.isArray(e.touched),
  );
  return ok ? (value as unknown as ResearchMemory) : null;
}

