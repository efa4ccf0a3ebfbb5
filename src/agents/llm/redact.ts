/**
 * Keeping API keys out of everything an agent surfaces: result errors, thrown messages, log
 * lines. The SDKs put the key only in the Authorization header, but a server (or a proxy in
 * front of it) may echo request details back in an error body, so every string built from
 * server text passes through here before it leaves the agent.
 */

import { inspect } from "node:util";

export const REDACTED = "[REDACTED]";

/** Keys shorter than this are placeholders ("ollama", "x"), and replacing them would garble text. */
const MIN_SECRET_LENGTH = 8;

export class Redactor {
  readonly #secrets: string[];

  constructor(secrets: ReadonlyArray<string | undefined>) {
    // Longest first, so a key that contains another key is replaced whole.
    this.#secrets = [...new Set(secrets.filter((s): s is string => !!s && s.length >= MIN_SECRET_LENGTH))].sort(
      (a, b) => b.length - a.length,
    );
  }

  /** `text` with every occurrence of a secret replaced by [REDACTED]. */
  text(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join(REDACTED);
    return out;
  }
}

/** The logger shape both SDKs accept. */
export interface SdkLogger {
  error: (message: string, ...rest: unknown[]) => void;
  warn: (message: string, ...rest: unknown[]) => void;
  info: (message: string, ...rest: unknown[]) => void;
  debug: (message: string, ...rest: unknown[]) => void;
}

/**
 * A console logger for the SDKs that redacts first: the SDKs log request details at debug level
 * (ANTHROPIC_LOG / OPENAI_LOG) and a chunk they cannot parse at error level, and either may
 * carry a key a server echoed.
 */
export function redactingConsole(redactor: Redactor): SdkLogger {
  const wrap =
    (write: (line: string) => void) =>
    (message: string, ...rest: unknown[]) =>
      write(redactor.text([message, ...rest].map((r) => (typeof r === "string" ? r : inspect(r, { depth: 4 }))).join(" ")));
  return {
    error: wrap((l) => console.error(l)),
    warn: wrap((l) => console.warn(l)),
    info: wrap((l) => console.info(l)),
    debug: wrap((l) => console.debug(l)),
  };
}
