/**
 * Shaping raw text into training documents. A document is what gets one BOS token and is
 * never split between train, val and test; the packing dataloader crops a document that does
 * not fit its row and drops the rest, so documents much longer than a training row waste data,
 * and one-per-file documents of long books would make the hash split coarse. Long texts are
 * therefore cut at paragraph boundaries (never inside a paragraph) into groups of a bounded size,
 * and prose with no paragraph breaks at all (the embedded corpus) at sentence boundaries.
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
  return groupPieces(paragraphs, targetBytes, "\n\n");
}

/**
 * Joins consecutive sentences (with one space between them) into documents of at most
 * `targetBytes` UTF-8 bytes; a single sentence longer than that becomes a document of its own.
 */
export function groupSentences(sentences: readonly string[], targetBytes: number): string[] {
  return groupPieces(sentences, targetBytes, " ");
}

function groupPieces(pieces: readonly string[], targetBytes: number, separator: string): string[] {
  const separatorBytes = utf8Length(separator);
  const documents: string[] = [];
  let current: string[] = [];
  let currentBytes = 0;
  for (const piece of pieces) {
    const bytes = utf8Length(piece);
    const joined = currentBytes + (current.length > 0 ? separatorBytes : 0) + bytes;
    if (current.length > 0 && joined > targetBytes) {
      documents.push(current.join(separator));
      current = [];
      currentBytes = 0;
    }
    currentBytes += (current.length > 0 ? separatorBytes : 0) + bytes;
    current.push(piece);
  }
  if (current.length > 0) documents.push(current.join(separator));
  return documents;
}

/**
 * Abbreviations that end in a period inside a sentence ("Mr. Lincoln", "Gen. Grant"). A period
 * after one of them, or after a single capital (an initial: "John F. Kennedy", "U.S."), is not
 * taken as a sentence end. The list need not be complete: sentences are only ever regrouped with
 * a space between them, so a missed abbreviation moves where a document may end, nothing more.
 */
const NON_FINAL_ABBREVIATIONS = new Set(["Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Gen.", "Gov.", "Sen.", "Rep.", "Hon.", "Jr.", "Sr.", "Lt.", "Col.", "Capt.", "No.", "Nos.", "Art.", "Sec.", "Mt.", "Ft."]);
const INITIALS = /^["'(\u201c\u2018]*(?:[A-Z]\.)+$/;

/**
 * Sentences of a text written as running prose: a sentence ends at ".", "!" or "?" (with any
 * closing quotes or brackets after it) followed by whitespace and a capital, a digit or an
 * opening quote or bracket. Whitespace runs inside a sentence become one space, so the sentences
 * joined by single spaces give back the text with its whitespace normalised.
 */
export function splitSentences(text: string): string[] {
  const words = text.trim().split(/\s+/).filter((w) => w.length > 0);
  const sentences: string[] = [];
  let current: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    current.push(word);
    const next = words[i + 1];
    if (next === undefined) break;
    const endsSentence = /[.!?]["'\u201d\u2019)\]]*$/.test(word) && /^["'\u201c\u2018(\[]*[A-Z0-9]/.test(next);
    if (!endsSentence) continue;
    if (NON_FINAL_ABBREVIATIONS.has(word) || INITIALS.test(word)) continue;
    sentences.push(current.join(" "));
    current = [];
  }
  if (current.length > 0) sentences.push(current.join(" "));
  return sentences;
}
