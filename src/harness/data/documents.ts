/**
 * Shaping raw text into training documents. A document is what gets one BOS token and is
 * never split between train, val and test; the packing dataloader crops a document that does
 * not fit its row and drops the rest, so documents much longer than a training row waste data,
 * and one-per-file documents of long books would make the hash split coarse. Long texts are
 * therefore cut at paragraph boundaries (never inside a paragraph) into groups of a bounded size.
 * Must not decide splits or tokenize: that is splits.ts and prepare.ts.
 */

import { DataError } from "./errors.ts";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The text of UTF-8 bytes; anything else is refused, naming `source`, rather than decoded with replacement characters. */
export function decodeUtf8(source: string, bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (err) {
    throw new DataError("DATA_NOT_UTF8", `${source}: not valid UTF-8 text; convert it first (e.g. iconv -t UTF-8)`, { cause: err });
  }
}

/** Normalizes line endings and strips a byte-order mark; keeps everything else as written. */
export function normalizeText(text: string): string {
  const noBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return noBom.replace(/\r\n?/g, "\n");
}

/** Paragraphs of a text: runs of lines separated by one or more blank (or whitespace-only) lines. */
export function splitParagraphs(text: string): string[] {
  return text
    .split(/\n[ \t]*\n/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8");

/**
 * Joins consecutive paragraphs (with a blank line between them) into documents of at most
 * `targetBytes` UTF-8 bytes; a single paragraph longer than that becomes a document of its own.
 */
export function groupParagraphs(paragraphs: readonly string[], targetBytes: number): string[] {
  const documents: string[] = [];
  let current: string[] = [];
  let currentBytes = 0;
  for (const paragraph of paragraphs) {
    const bytes = utf8Length(paragraph);
    const joined = currentBytes + (current.length > 0 ? 2 : 0) + bytes;
    if (current.length > 0 && joined > targetBytes) {
      documents.push(current.join("\n\n"));
      current = [];
      currentBytes = 0;
    }
    currentBytes += (current.length > 0 ? 2 : 0) + bytes;
    current.push(paragraph);
  }
  if (current.length > 0) documents.push(current.join("\n\n"));
  return documents;
}
