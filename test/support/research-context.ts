/**
 * Realistic research contexts for the prompt tests and bench/prompt-scale.ts: the real
 * program.md, lab README and recipe train.ts, a run's history of any length and a research
 * memory of any size, all deterministic. Test support only: never used by src/.
 */
import { readFileSync } from "node:fs";
import { labReadme } from "../../src/lab/index.ts";
import type { AgentContext, HistoryEntry, MemoryEntry, ResearchMemory } from "../../src/agents/types.ts";

export const RECIPE_TRAIN_TS = readFileSync(new URL("../../src/recipe/train.ts", import.meta.url), "utf8");
export const ROOT_PROGRAM_MD = readFileSync(new URL("../../program.md", import.meta.url), "utf8");

const KNOBS = ["MATRIX_LR", "EMBEDDING_LR", "UNEMBEDDING_LR", "SCALAR_LR", "WARMDOWN_RATIO", "WEIGHT_DECAY", "DEPTH", "ASPECT_RATIO", "HEAD_DIM", "TOTAL_BATCH_SIZE"];
const STATUSES: HistoryEntry["status"][] = ["discard", "discard", "keep", "discard", "crash", "discard", "discard", "invalid"];

/** `n` finished experiments as the loop passes them (the newest `shown`, at most 300, with the rest counted). */
export function syntheticHistory(n: number, shown = 300): { history: HistoryEntry[]; historyOmitted: number } {
  const all = Array.from({ length: n }, (_, i): HistoryEntry => {
    const knob = KNOBS[i % KNOBS.length]!;
    const status = STATUSES[i % STATUSES.length]!;
    return {
      commit: (i * 2_654_435_761 >>> 0).toString(16).padStart(8, "0") + "abcdef",
      val_bpb: status === "crash" ? null : 1.05 - (i % 97) / 10_000,
      memory_gb: status === "crash" ? 0 : 4.2 + (i % 7) / 10,
      status,
      description: `${knob} ${(0.01 * (1 + (i % 9))).toFixed(2)} -> ${(0.01 * (2 + (i % 11))).toFixed(2)}, try ${i}`,
    };
  });
  const history = all.slice(Math.max(0, n - shown));
  return { history, historyOmitted: n - history.length };
}

/** A memory of `n` entries, real ones first, then refuted, then crashes; `omitted` more left out by its builder. */
export function syntheticMemory(n: number, omitted = 0): ResearchMemory {
  const entries = Array.from({ length: n }, (_, i): MemoryEntry => {
    const outcome: MemoryEntry["outcome"] = i < n * 0.3 ? "real" : i < n * 0.6 ? "noise" : i < n * 0.85 ? "negligible" : "crash";
    const knob = KNOBS[i % KNOBS.length]!;
    return {
      source: i % 3 === 0 ? "own" : i % 3 === 1 ? "ancestor" : "shared",
      org: ["steady", "bold", "lr-hunter"][i % 3]!,
      night: 1 + (i % 6),
      outcome,
      gain: outcome === "crash" ? null : outcome === "real" ? 0.004 + (i % 5) / 1000 : (i % 3) / 10_000,
      description: `move ${knob} and retune the schedule to match (memory entry ${i})`,
      touched: [`${knob} 0.04 -> 0.0${5 + (i % 4)}`, `WARMDOWN_RATIO 0.5 -> 0.${6 + (i % 3)}`],
      ...(outcome === "crash" ? { reason: "out of memory at step 12" } : {}),
    };
  });
  return { entries, omitted };
}

/** The context of a proposal in the default lab, with `rows` finished experiments and a memory of `memoryEntries`. */
export function researchContext(rows: number, memoryEntries: number, over: Partial<AgentContext> = {}): AgentContext {
  return {
    programMd: ROOT_PROGRAM_MD,
    trainTs: RECIPE_TRAIN_TS,
    labReadme: labReadme({ profile: "cpu" }),
    ...syntheticHistory(rows),
    ...(memoryEntries > 0 ? { memory: syntheticMemory(memoryEntries) } : {}),
    seed: rows + 1,
    ...over,
  };
}
