/**
 * Keeping secrets out of the store file. Two defences:
 *
 * 1. Run settings are scrubbed before they are written (scrubSettings): every key whose name
 *    matches SECRET_KEY_PATTERN (key, token, secret, password, auth, credential; any case, any
 *    depth, inside arrays too) is dropped, unless its value is a number, a boolean or null —
 *    `maxTokens: 4096` is a limit, not a secret, and a secret is always a string. Credentials
 *    embedded in URL-valued strings (`https://user:pass@host`) are removed as well.
 * 2. Every free-form text the store writes (descriptions, hypotheses, diffs, reasons, log tails,
 *    errors, program.md) passes through a Redactor that replaces known secret values with
 *    [REDACTED]: the values the caller names (StoreOptions.secrets) and those of environment
 *    variables whose names look like credentials (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...), in
 *    case an agent or a server echoed one into a message.
 */

export const SECRET_KEY_PATTERN = /key|token|secret|password|passwd|auth|credential/i;
export { REDACTED, Redactor, environmentSecrets } from "../util/secrets.ts";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A copy of `value` without secret-named keys; throws TypeError on what JSON cannot hold. */
export function scrubSettings(value: unknown, path = "settings"): JsonValue {
  if (value === null || typeof value === "boolean" || typeof value === "string") return scrubUrl(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`${path} is ${value}, which JSON cannot hold`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => scrubSettings(v, `${path}[${i}]`));
  if (typeof value === "object" && isPlainObject(value)) {
    const out: { [key: string]: JsonValue } = {};
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined) continue;
      if (SECRET_KEY_PATTERN.test(key) && !(typeof v === "number" || typeof v === "boolean" || v === null)) continue;
      out[key] = scrubSettings(v, `${path}.${key}`);
    }
    return out;
  }
  throw new TypeError(`${path} is a ${typeof value === "object" ? "non-plain object" : typeof value}, which JSON cannot hold`);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Removes user:password@ from URLs inside a string. */
function scrubUrl<T>(value: T): T {
  if (typeof value !== "string" || !value.includes("@")) return value;
  return value.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, "$1") as T;
}

