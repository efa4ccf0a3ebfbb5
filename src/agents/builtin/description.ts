/**
 * The builtin agent's one-line description, written so it can be read back: changes joined by
 * "; ", each `NAME old -> new`, numbers as JavaScript prints them, strings JSON-quoted:
 *
 *   MATRIX_LR 0.04 -> 0.0512; WARMDOWN_RATIO 0.5 -> 0.41; WINDOW_PATTERN "SSSL" -> "SL"; DEPTH.cpu 4 -> 6
 *
 * The agent rebuilds what it tried from the run's history through parseChanges, so the format
 * is the agent's memory: change it only together with the parser.
 */
import type { KnobValue } from "./knobs.ts";

export interface KnobChange {
  /** The knob's name as the strategy writes it (`ADAM_BETAS[0]`, `DEPTH.cpu` for an element). */
  name: string;
  from: KnobValue;
  to: KnobValue;
}

export function formatChanges(changes: readonly KnobChange[]): string {
  return changes.map((c) => `${c.name} ${formatValue(c.from)} -> ${formatValue(c.to)}`).join("; ");
}

const VALUE = String.raw`(?:"(?:[^"\\]|\\.)*"|[^\s";]+)`;
/** One change and its separator; sticky, so the changes must follow each other exactly. */
const CHANGE = new RegExp(String.raw`([A-Za-z_$][\w$]*(?:\[\d+\]|\.[A-Za-z_$][\w$]*)?) (${VALUE}) -> (${VALUE})(?:; *|$)`, "y");

/** The changes a description lists, or null when it is not in this format. */
export function parseChanges(description: string): KnobChange[] | null {
  const text = description.trim();
  const changes: KnobChange[] = [];
  CHANGE.lastIndex = 0;
  while (CHANGE.lastIndex < text.length) {
    const m = CHANGE.exec(text);
    if (!m) return null;
    const from = parseValue(m[2]!);
    const to = parseValue(m[3]!);
    if (from === null || to === null) return null;
    changes.push({ name: m[1]!, from, to });
  }
  return changes.length > 0 ? changes : null;
}

function formatValue(v: KnobValue): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v);
}

function parseValue(text: string): KnobValue | null {
  if (text.startsWith('"')) {
    try {
      return JSON.parse(text) as string;
    } catch {
      return null;
    }
  }
  const n = Number(text);
  return text.trim() !== "" && Number.isFinite(n) ? n : null;
}
