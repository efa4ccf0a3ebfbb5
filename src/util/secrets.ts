/**
 * Secret values and their redaction, shared by the store (every free-form text it writes) and
 * the runner (a run's log and log tail, which reach the store, reports and an LLM's prompt).
 * Redaction is by value: whatever name a credential travels under, its value is replaced.
 */

export const REDACTED = "[REDACTED]";

/** Shorter values are placeholders ("ollama", "x"); replacing them everywhere would garble text. */
const MIN_SECRET_LENGTH = 8;
const ENV_SECRET_NAME = /api_?key|token|secret|password|credential/i;
/** Names that hold where a secret lives, not the secret (HF_TOKEN_PATH, GOOGLE_CREDENTIALS_FILE). */
const ENV_LOCATION_NAME = /_(path|file|dir)$/i;

/** Replaces every occurrence of a known secret value with [REDACTED]. */
export class Redactor {
  readonly #secrets: string[];

  /** Length of the longest secret (0 when there are none). */
  get longest(): number {
    return this.#secrets[0]?.length ?? 0;
  }

  constructor(secrets: ReadonlyArray<string | undefined>) {
    // Longest first, so a secret that contains another is replaced whole.
    this.#secrets = [...new Set(secrets.filter((s): s is string => !!s && s.length >= MIN_SECRET_LENGTH))].sort(
      (a, b) => b.length - a.length,
    );
  }

  text(text: string): string;
  text(text: string | null | undefined): string | null;
  text(text: string | null | undefined): string | null {
    if (text === null || text === undefined) return null;
    let out = text;
    for (const secret of this.#secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }
}

/** Values of environment variables named like credentials (whitespace-free, long enough). */
export function environmentSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!value || !ENV_SECRET_NAME.test(name) || ENV_LOCATION_NAME.test(name)) continue;
    // A path is no secret, and redacting it would garble every log line that names it.
    if (value.length >= MIN_SECRET_LENGTH && !/\s/.test(value) && !/^[/~.]/.test(value)) out.push(value);
  }
  return out;
}

/**
 * Redacts a stream that arrives in chunks, where a secret may be split between two chunks:
 * the last (longest secret − 1) characters are held back until the next chunk or the end.
 */
export class StreamRedactor {
  readonly #redactor: Redactor;
  readonly #hold: number;
  #carry = "";

  constructor(redactor: Redactor) {
    this.#redactor = redactor;
    this.#hold = Math.max(0, redactor.longest - 1);
  }

  /** The part of carry + text that is safe to pass on now. */
  push(text: string): string {
    if (this.#hold === 0) return text;
    const redacted = this.#redactor.text(this.#carry + text);
    const cut = Math.max(0, redacted.length - this.#hold);
    this.#carry = redacted.slice(cut);
    return redacted.slice(0, cut);
  }

  /** Whatever is still held back, redacted. */
  end(): string {
    const rest = this.#redactor.text(this.#carry);
    this.#carry = "";
    return rest;
  }
}
