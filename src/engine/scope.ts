/**
 * Deterministic memory release. Inside `scope(fn)` every tensor handle created is recorded;
 * when fn returns, each one not reachable from the return value is disposed, and the returned
 * ones move to the enclosing scope. Outside any scope, handles live until dispose() (or GC).
 */
import { EngineError } from "./errors.ts";

export interface Disposable {
  dispose(): void;
  /** Called when the handle is (or becomes) owned by no scope: its owner must dispose it. */
  unscoped?(): void;
}

const scopes: Set<Disposable>[] = [];

/** Records a new handle in the innermost open scope, if any. */
export function track<D extends Disposable>(handle: D): D {
  const current = scopes[scopes.length - 1];
  if (current) current.add(handle);
  else handle.unscoped?.();
  return handle;
}

/** Exempts handles from every open scope: they live until disposed explicitly. */
export function keep<V>(value: V): V {
  const found = new Set<Disposable>();
  collect(value, found, new Set());
  for (const h of found) {
    let owned = false;
    for (const s of scopes) owned = s.delete(h) || owned;
    if (owned) h.unscoped?.();
  }
  return value;
}

/** Runs fn and frees every tensor it created that it does not return. fn must be synchronous. */
export function scope<R>(fn: () => R): R {
  const mine = new Set<Disposable>();
  scopes.push(mine);
  let result: R;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const h of mine) h.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const h of mine) h.dispose();
    throw new EngineError(
      "INVALID_ARGUMENT",
      "scope(fn): fn returned a Promise; scopes are synchronous — await outside the scope",
    );
  }
  const returned = new Set<Disposable>();
  collect(result, returned, new Set());
  const parent = scopes[scopes.length - 1];
  for (const h of mine) {
    if (!returned.has(h)) h.dispose();
    else if (parent) parent.add(h);
    else h.unscoped?.();
  }
  return result;
}

/** Number of open scopes (for tests and diagnostics). */
export function scopeDepth(): number {
  return scopes.length;
}

function isDisposable(v: unknown): v is Disposable {
  return typeof v === "object" && v !== null && typeof (v as Disposable).dispose === "function";
}

// Walks arrays, maps, sets and plain objects (not class instances other than handles).
function collect(v: unknown, out: Set<Disposable>, seen: Set<unknown>): void {
  if (typeof v !== "object" || v === null || seen.has(v)) return;
  seen.add(v);
  if (isDisposable(v)) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collect(x, out, seen);
  } else if (v instanceof Map) {
    for (const x of v.values()) collect(x, out, seen);
  } else if (v instanceof Set) {
    for (const x of v) collect(x, out, seen);
  } else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collect(x, out, seen);
  }
}
