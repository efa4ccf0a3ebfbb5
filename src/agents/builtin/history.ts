/**
 * The builtin agent's memory, rebuilt from the run's history (oldest entry first) on every
 * proposal, so a resumed run or a fresh process searches exactly as the one before it did.
 *
 * Each builtin description says which knobs moved from what to what. Walking the history from
 * the newest entry back, starting from train.ts's current values: a kept entry's "after" values
 * must equal the base at that point, and its "before" values are the base before it; a
 * discarded or crashed entry tried the base with its changes applied. That gives every past
 * experiment's full knob vector. The walk stops at a kept change it cannot read (an LLM's edit,
 * a human's) or whose values do not match: the experiments before it ran on another recipe.
 * A kept change of a knob the strategy does not search counts as unreadable too: it moved the
 * landscape under the tracked knobs. A "baseline" entry ran the base unchanged. Unreadable
 * discarded entries changed nothing kept and are skipped.
 */
import type { HistoryEntry } from "../types.ts";
import { parseChanges } from "./description.ts";
import type { KnobValue } from "./knobs.ts";

export interface Observation {
  /** The value of every tracked knob in this experiment, by knob name. */
  values: Map<string, KnobValue>;
  /** null when the experiment crashed or gave no finite val_bpb. */
  valBpb: number | null;
  status: HistoryEntry["status"];
}

export interface Replay {
  /** Oldest first. */
  observations: Observation[];
  /** The knob values before the oldest observation: where the search started. */
  start: Map<string, KnobValue>;
}

/** `current`: the value in train.ts now of every knob the strategy searches, by name. */
export function replayHistory(history: readonly HistoryEntry[], current: ReadonlyMap<string, KnobValue>): Replay {
  const base = new Map(current);
  const valueOf = (name: string): KnobValue | undefined => base.get(name);
  const tracked = [...current.keys()];
  const snapshot = (over: Map<string, KnobValue>): Map<string, KnobValue> => new Map(tracked.map((k) => [k, over.get(k)!]));
  const observations: Observation[] = [];

  for (let i = history.length - 1; i >= 0; i--) {
    const entry = history[i]!;
    const succeeded = entry.status !== "crash" && entry.val_bpb !== null && Number.isFinite(entry.val_bpb) && entry.val_bpb > 0;
    const valBpb = succeeded ? entry.val_bpb : null;
    const changes = parseChanges(entry.description);
    const readable = changes !== null && changes.every((c) => valueOf(c.name) !== undefined);
    if (!readable) {
      if (/^baseline\b/i.test(entry.description.trim())) {
        observations.push({ values: snapshot(base), valBpb, status: entry.status });
        continue;
      }
      if (entry.status === "keep") break;
      continue;
    }
    if (entry.status === "keep") {
      if (!changes.every((c) => valueOf(c.name) === c.to)) break;
      observations.push({ values: snapshot(base), valBpb, status: entry.status });
      for (const c of changes) base.set(c.name, c.from);
    } else {
      if (!changes.every((c) => valueOf(c.name) === c.from)) break;
      const tried = new Map(base);
      for (const c of changes) tried.set(c.name, c.to);
      observations.push({ values: snapshot(tried), valBpb, status: entry.status });
    }
  }
  observations.reverse();
  return { observations, start: snapshot(base) };
}
