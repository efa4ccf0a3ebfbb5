/**
 * Bounded views of a run's output: the tail kept for the result (a ring of the last N
 * characters) and a line splitter for live callbacks. A run may print gigabytes; nothing here
 * holds more than its fixed cap, whatever arrives.
 */

/**
 * A line as a terminal would show it: text rewritten with carriage returns (the live progress
 * line) keeps only its last non-blank segment, and trailing spaces go.
 */
export function collapseCarriageReturns(line: string): string {
  if (!line.includes("\r")) return line.trimEnd();
  const segments = line.split("\r");
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!.trimEnd();
    if (s !== "") return s;
  }
  return "";
}

/** The last `capacity` characters of everything appended (amortised O(1) per character). */
export class TailBuffer {
  readonly capacity: number;
  #text = "";
  #dropped = false;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  append(chunk: string): void {
    this.#text += chunk;
    // Trim only once the text is twice the cap, so a stream of small chunks costs O(1) each.
    if (this.#text.length > 2 * this.capacity) this.#trim();
  }

  /** The kept text as lines a reader wants: first partial line dropped, \r-rewrites collapsed. */
  text(): string {
    this.#trim();
    let text = this.#text;
    if (this.#dropped) {
      const nl = text.indexOf("\n");
      // A first line cut mid-way would mislead; one longer than the whole tail is kept cut.
      if (nl >= 0 && nl < text.length - 1) text = text.slice(nl + 1);
    }
    return text
      .split("\n")
      .map(collapseCarriageReturns)
      .join("\n")
      .replace(/\n+$/, "");
  }

  #trim(): void {
    if (this.#text.length > this.capacity) {
      this.#text = this.#text.slice(this.#text.length - this.capacity);
      this.#dropped = true;
    }
  }
}

/**
 * Splits a stream into complete lines for a callback. A line longer than `maxLineLength` is
 * delivered in pieces of that size rather than buffered without bound.
 */
export class LineSplitter {
  #partial = "";
  readonly #emit: (line: string) => void;
  readonly #maxLineLength: number;

  constructor(emit: (line: string) => void, maxLineLength = 64 * 1024) {
    this.#emit = emit;
    this.#maxLineLength = maxLineLength;
  }

  push(chunk: string): void {
    const text = this.#partial + chunk;
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      this.#emit(collapseCarriageReturns(text.slice(start, nl)));
      start = nl + 1;
    }
    let rest = text.slice(start);
    while (rest.length > this.#maxLineLength) {
      this.#emit(collapseCarriageReturns(rest.slice(0, this.#maxLineLength)));
      rest = rest.slice(this.#maxLineLength);
    }
    this.#partial = rest;
  }

  /** Emits what is left (a last line without a newline). */
  end(): void {
    const rest = collapseCarriageReturns(this.#partial);
    this.#partial = "";
    if (rest !== "") this.#emit(rest);
  }
}
