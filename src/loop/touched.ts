/**
 * What a train.ts diff touched, in a few short lines an agent recognises its own idea by:
 * knob moves first ("MATRIX_LR 0.04 -> 0.06", read from the `export const` lines the diff
 * replaced), then the other changed lines ("+ x = x.gelu()"). A diff is the trusted record of a
 * change; the description beside it is the agent's own words, which may not say what changed.
 */

/** Lines kept per diff: enough to recognise an idea, few enough that 50 entries stay small. */
export const MAX_TOUCHED = 4;
const MAX_LINE_CHARS = 100;

const KNOB = /^export\s+const\s+([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=\s*(.+?);?\s*(?:\/\/.*)?$/;

const clip = (text: string): string => (text.length <= MAX_LINE_CHARS ? text : `${text.slice(0, MAX_LINE_CHARS - 1)}…`);

export function touchedByDiff(diff: string | null): string[] {
  if (diff === null) return [];
  const removedKnobs = new Map<string, string>();
  const addedKnobs = new Map<string, string>();
  const lines: string[] = [];
  for (const raw of diff.split("\n")) {
    if (raw.startsWith("+++") || raw.startsWith("---")) continue;
    const sign = raw[0];
    if (sign !== "+" && sign !== "-") continue;
    const text = raw.slice(1).trim();
    if (text.length === 0) continue;
    const knob = KNOB.exec(text);
    if (knob) {
      (sign === "-" ? removedKnobs : addedKnobs).set(knob[1]!, knob[2]!.trim());
      continue;
    }
    lines.push(`${sign} ${text}`);
  }
  const moves: string[] = [];
  for (const [name, to] of addedKnobs) {
    const from = removedKnobs.get(name);
    if (from === to) continue; // a comment changed beside the value
    moves.push(from === undefined ? `${name} = ${to} (new)` : `${name} ${from} -> ${to}`);
  }
  for (const [name, from] of removedKnobs) if (!addedKnobs.has(name)) moves.push(`${name} = ${from} (removed)`);
  return [...moves, ...lines].slice(0, MAX_TOUCHED).map(clip);
}
