/**
 * A dependency-free stand-in for the slice of vitest that test/engine/cuda.test.ts and
 * test/support/cuda-compare.ts use, so that suite runs as one esbuild bundle on a GPU machine
 * that has Node but no node_modules: test/gpu/bundle.sh aliases `vitest` to this file and
 * test/gpu/cuda-tests.entry.ts calls runCollected().
 *
 * Semantics follow vitest's for what is here: describe factories run at collection (after the
 * test module has been evaluated), tests run one at a time in declaration order, `toEqual` is
 * deep equality (typed arrays element by element, undefined properties ignored, classes not
 * compared), `toBe` is Object.is, a timeout fails an async test that outlives it.
 *
 * It must not grow into a test framework: what a bundled suite uses beyond this fails at bundle
 * time ("No matching export in vitest-lite.ts"), which is the signal to add it here. It is never
 * used by `npm test`, which runs the real vitest.
 */
import { inspect } from "node:util";

// ---- registry -------------------------------------------------------------------------------

type TestFn = () => unknown;
/** vitest's third argument: a timeout in ms, or options holding one. */
type TestOptions = number | { timeout?: number };

interface TestNode {
  kind: "test";
  name: string;
  fn: TestFn | undefined;
  skip: boolean;
  timeoutMs: number | undefined;
}

interface SuiteNode {
  kind: "suite";
  name: string;
  factory: (() => unknown) | undefined;
  skip: boolean;
  children: (TestNode | SuiteNode)[];
}

const root: SuiteNode = { kind: "suite", name: "", factory: undefined, skip: false, children: [] };
let current: SuiteNode = root;

function timeoutOf(options: TestOptions | undefined): number | undefined {
  return typeof options === "number" ? options : options?.timeout;
}

function addTest(skip: boolean, name: string, fnOrOptions?: TestFn | TestOptions, fnOrTimeout?: TestFn | TestOptions): void {
  // vitest accepts both it(name, fn, options) and it(name, options, fn).
  const fn = typeof fnOrOptions === "function" ? fnOrOptions : typeof fnOrTimeout === "function" ? fnOrTimeout : undefined;
  const options = typeof fnOrOptions === "function" ? fnOrTimeout : fnOrOptions;
  const timeoutMs = typeof options === "function" ? undefined : timeoutOf(options);
  current.children.push({ kind: "test", name, fn, skip: skip || fn === undefined, timeoutMs });
}

function addSuite(skip: boolean, name: string, factory?: () => unknown): void {
  current.children.push({ kind: "suite", name, factory, skip, children: [] });
}

type ItFunction = (name: string, fn?: TestFn | TestOptions, options?: TestFn | TestOptions) => void;
type DescribeFunction = (name: string, factory?: () => unknown) => void;

export const it: ItFunction & {
  skip: ItFunction;
  skipIf(condition: unknown): ItFunction;
  runIf(condition: unknown): ItFunction;
} = Object.assign((name: string, fn?: TestFn | TestOptions, options?: TestFn | TestOptions) => addTest(false, name, fn, options), {
  skip: (name: string, fn?: TestFn | TestOptions, options?: TestFn | TestOptions) => addTest(true, name, fn, options),
  skipIf: (condition: unknown): ItFunction => (name, fn, options) => addTest(Boolean(condition), name, fn, options),
  runIf: (condition: unknown): ItFunction => (name, fn, options) => addTest(!condition, name, fn, options),
});
export const test = it;

export const describe: DescribeFunction & {
  skip: DescribeFunction;
  skipIf(condition: unknown): DescribeFunction;
  runIf(condition: unknown): DescribeFunction;
} = Object.assign((name: string, factory?: () => unknown) => addSuite(false, name, factory), {
  skip: (name: string, factory?: () => unknown) => addSuite(true, name, factory),
  skipIf: (condition: unknown): DescribeFunction => (name, factory) => addSuite(Boolean(condition), name, factory),
  runIf: (condition: unknown): DescribeFunction => (name, factory) => addSuite(!condition, name, factory),
});

// ---- assertions -----------------------------------------------------------------------------

export class AssertionError extends Error {
  override name = "AssertionError";
}

const show = (v: unknown): string => inspect(v, { depth: 4, maxArrayLength: 16, maxStringLength: 400, breakLength: Infinity });

/** vitest's asymmetric matchers (expect.objectContaining, expect.any, ...). */
class AsymmetricMatcher {
  constructor(
    readonly description: string,
    readonly asymmetricMatch: (actual: unknown) => boolean,
  ) {}
  [inspect.custom](): string {
    return this.description;
  }
}

const tagOf = (v: unknown): string => Object.prototype.toString.call(v);

/** vitest's toEqual: recursive equality that ignores undefined properties and does not compare classes. */
export function deepEqual(actual: unknown, expected: unknown, seen: [unknown, unknown][] = []): boolean {
  if (expected instanceof AsymmetricMatcher) return expected.asymmetricMatch(actual);
  if (actual instanceof AsymmetricMatcher) return actual.asymmetricMatch(expected);
  if (Object.is(actual, expected)) return true;
  if (typeof actual !== "object" || typeof expected !== "object" || actual === null || expected === null) return false;
  if (tagOf(actual) !== tagOf(expected)) return false;
  if (seen.some(([a, b]) => a === actual && b === expected)) return true; // a cycle already being compared
  const pairs: [unknown, unknown][] = [...seen, [actual, expected]];
  if (actual instanceof Date && expected instanceof Date) return Object.is(actual.getTime(), expected.getTime());
  if (actual instanceof RegExp && expected instanceof RegExp) return String(actual) === String(expected);
  if (actual instanceof Error && expected instanceof Error)
    if (actual.name !== expected.name || actual.message !== expected.message) return false;
  if (ArrayBuffer.isView(actual) && ArrayBuffer.isView(expected)) {
    const a = actual as unknown as ArrayLike<unknown>;
    const b = expected as unknown as ArrayLike<unknown>;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(actual) && Array.isArray(expected)) {
    if (actual.length !== expected.length) return false;
    for (let i = 0; i < actual.length; i++) if (!deepEqual(actual[i], expected[i], pairs)) return false;
    return true;
  }
  if (actual instanceof Map && expected instanceof Map) {
    if (actual.size !== expected.size) return false;
    for (const [k, v] of actual) if (!expected.has(k) || !deepEqual(v, expected.get(k), pairs)) return false;
    return true;
  }
  if (actual instanceof Set && expected instanceof Set) {
    if (actual.size !== expected.size) return false;
    for (const v of actual) if (!expected.has(v) && ![...expected].some((w) => deepEqual(v, w, pairs))) return false;
    return true;
  }
  const defined = (o: object): string[] => Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined);
  const aKeys = defined(actual);
  const bKeys = defined(expected);
  if (aKeys.length !== bKeys.length) return false;
  const a = actual as Record<string, unknown>;
  const b = expected as Record<string, unknown>;
  return bKeys.every((k) => Object.prototype.hasOwnProperty.call(a, k) && deepEqual(a[k], b[k], pairs));
}

type Matcher = (...expected: never[]) => void;
export interface Assertion {
  not: Assertion;
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toStrictEqual(expected: unknown): void;
  toBeNull(): void;
  toBeUndefined(): void;
  toBeDefined(): void;
  toBeTruthy(): void;
  toBeFalsy(): void;
  toBeNaN(): void;
  toBeGreaterThan(n: number | bigint): void;
  toBeGreaterThanOrEqual(n: number | bigint): void;
  toBeLessThan(n: number | bigint): void;
  toBeLessThanOrEqual(n: number | bigint): void;
  toBeCloseTo(n: number, digits?: number): void;
  toBeInstanceOf(cls: abstract new (...args: never[]) => unknown): void;
  toMatch(pattern: string | RegExp): void;
  toContain(item: unknown): void;
  toHaveLength(n: number): void;
  toThrow(expected?: unknown): void;
  toThrowError(expected?: unknown): void;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : typeof err === "string" ? err : String(err);
}

/** Whether a thrown value meets toThrow's argument (vitest: regex, substring, class, error, asymmetric matcher). */
function thrownMatches(err: unknown, expected: unknown): boolean {
  if (expected === undefined) return true;
  if (expected instanceof RegExp) return expected.test(messageOf(err));
  if (typeof expected === "string") return messageOf(err).includes(expected);
  if (typeof expected === "function") return err instanceof expected;
  if (expected instanceof AsymmetricMatcher) return expected.asymmetricMatch(err);
  if (expected instanceof Error) return messageOf(err) === expected.message;
  if (typeof expected === "object" && expected !== null && "message" in expected)
    return messageOf(err) === String((expected as { message: unknown }).message);
  throw new TypeError(`toThrow: cannot match a thrown value against ${show(expected)}`);
}

function numeric(name: string, actual: unknown, n: unknown): void {
  const ok = (v: unknown) => typeof v === "number" || typeof v === "bigint";
  if (!ok(actual) || !ok(n)) throw new TypeError(`${name}: expected numbers, got ${show(actual)} and ${show(n)}`);
}

function makeAssertion(actual: unknown, note: string | undefined, negated: boolean): Assertion {
  // Each matcher says whether it passes and how to describe the expectation; `not` flips the verdict.
  const check = (pass: boolean, what: string): void => {
    if (pass !== negated) return;
    const text = `expected ${show(actual)} ${negated ? "not " : ""}${what}`;
    throw new AssertionError(note ? `${note}: ${text}` : text);
  };
  const matchers: Record<keyof Omit<Assertion, "not">, Matcher> = {
    toBe: (expected: unknown) => check(Object.is(actual, expected), `to be ${show(expected)} // Object.is equality`),
    toEqual: (expected: unknown) => check(deepEqual(actual, expected), `to deeply equal ${show(expected)}`),
    // Here the same as toEqual plus equal prototypes; good enough for plain data.
    toStrictEqual: (expected: unknown) =>
      check(
        deepEqual(actual, expected) && Object.getPrototypeOf(actual ?? {}) === Object.getPrototypeOf(expected ?? {}),
        `to strictly equal ${show(expected)}`,
      ),
    toBeNull: () => check(actual === null, "to be null"),
    toBeUndefined: () => check(actual === undefined, "to be undefined"),
    toBeDefined: () => check(actual !== undefined, "to be defined"),
    toBeTruthy: () => check(Boolean(actual), "to be truthy"),
    toBeFalsy: () => check(!actual, "to be falsy"),
    toBeNaN: () => check(Number.isNaN(actual), "to be NaN"),
    toBeGreaterThan: (n: number | bigint) => {
      numeric("toBeGreaterThan", actual, n);
      check((actual as number) > n, `to be greater than ${show(n)}`);
    },
    toBeGreaterThanOrEqual: (n: number | bigint) => {
      numeric("toBeGreaterThanOrEqual", actual, n);
      check((actual as number) >= n, `to be greater than or equal to ${show(n)}`);
    },
    toBeLessThan: (n: number | bigint) => {
      numeric("toBeLessThan", actual, n);
      check((actual as number) < n, `to be less than ${show(n)}`);
    },
    toBeLessThanOrEqual: (n: number | bigint) => {
      numeric("toBeLessThanOrEqual", actual, n);
      check((actual as number) <= n, `to be less than or equal to ${show(n)}`);
    },
    toBeCloseTo: (n: number, digits = 2) => {
      numeric("toBeCloseTo", actual, n);
      check(Math.abs((actual as number) - n) < 10 ** -digits / 2, `to be close to ${n} (${digits} digits)`);
    },
    toBeInstanceOf: (cls: abstract new (...args: never[]) => unknown) =>
      check(actual instanceof cls, `to be an instance of ${cls.name || show(cls)}`),
    toMatch: (pattern: string | RegExp) => {
      if (typeof actual !== "string") throw new TypeError(`.toMatch() expects to receive a string, but got ${typeof actual}`);
      check(typeof pattern === "string" ? actual.includes(pattern) : pattern.test(actual), `to match ${show(pattern)}`);
    },
    toContain: (item: unknown) => {
      const has =
        typeof actual === "string" ? actual.includes(String(item)) : Array.from(actual as Iterable<unknown>).includes(item);
      check(has, `to contain ${show(item)}`);
    },
    toHaveLength: (n: number) => check((actual as { length?: unknown } | null)?.length === n, `to have length ${n}`),
    toThrow: (expected?: unknown) => {
      if (typeof actual !== "function") throw new TypeError(`toThrow: expected a function, got ${show(actual)}`);
      let threw = false;
      let err: unknown;
      try {
        (actual as () => unknown)();
      } catch (e) {
        threw = true;
        err = e;
      }
      const want = expected === undefined ? "" : ` matching ${show(expected)}`;
      const got = threw ? `; it threw ${show(err instanceof Error ? `${err.name}: ${err.message}` : err)}` : "; it threw nothing";
      check(threw && thrownMatches(err, expected), `to throw${want}${got}`);
    },
    toThrowError: (expected?: unknown) => matchers.toThrow(expected as never),
  };
  const assertion = { ...matchers } as unknown as Assertion;
  Object.defineProperty(assertion, "not", { get: () => makeAssertion(actual, note, !negated) });
  return assertion;
}

/** expect(value, message?): message prefixes a failure, as in vitest. */
export const expect: ((actual: unknown, message?: string) => Assertion) & {
  objectContaining(sample: Record<string, unknown>): unknown;
  any(cls: abstract new (...args: never[]) => unknown): unknown;
  anything(): unknown;
  stringMatching(pattern: string | RegExp): unknown;
  stringContaining(text: string): unknown;
} = Object.assign((actual: unknown, message?: string) => makeAssertion(actual, message, false), {
  objectContaining: (sample: Record<string, unknown>) =>
    new AsymmetricMatcher(
      `ObjectContaining ${show(sample)}`,
      (a) =>
        (typeof a === "object" || typeof a === "function") &&
        a !== null &&
        Object.keys(sample).every((k) => k in a && deepEqual((a as Record<string, unknown>)[k], sample[k])),
    ),
  any: (cls: abstract new (...args: never[]) => unknown) =>
    new AsymmetricMatcher(`Any<${cls.name}>`, (a) => {
      const primitive: Record<string, string> = { Number: "number", String: "string", Boolean: "boolean", BigInt: "bigint", Symbol: "symbol", Function: "function" };
      return typeof a === primitive[cls.name] || a instanceof cls;
    }),
  anything: () => new AsymmetricMatcher("Anything", (a) => a !== null && a !== undefined),
  stringMatching: (pattern: string | RegExp) =>
    new AsymmetricMatcher(`StringMatching ${show(pattern)}`, (a) => typeof a === "string" && new RegExp(pattern).test(a)),
  stringContaining: (text: string) =>
    new AsymmetricMatcher(`StringContaining ${show(text)}`, (a) => typeof a === "string" && a.includes(text)),
});

/** The chai `assert` calls the suites use. */
interface AssertStatic {
  (value: unknown, message?: string): asserts value;
  ok(value: unknown, message?: string): asserts value;
  fail(message?: string): never;
  equal(actual: unknown, expected: unknown, message?: string): void;
  strictEqual(actual: unknown, expected: unknown, message?: string): void;
  deepEqual(actual: unknown, expected: unknown, message?: string): void;
  isTrue(value: unknown, message?: string): void;
  isFalse(value: unknown, message?: string): void;
}

function ok(value: unknown, message?: string): asserts value {
  if (!value) throw new AssertionError(message ?? `expected ${show(value)} to be truthy`);
}

export const assert: AssertStatic = Object.assign(ok, {
  ok,
  fail: (message?: string): never => {
    throw new AssertionError(message ?? "assert.fail()");
  },
  equal: (actual: unknown, expected: unknown, message?: string) =>
    // chai's assert.equal is ==, on purpose.
    ok(actual == expected, message ?? `expected ${show(actual)} to equal ${show(expected)}`),
  strictEqual: (actual: unknown, expected: unknown, message?: string) =>
    ok(actual === expected, message ?? `expected ${show(actual)} to strictly equal ${show(expected)}`),
  deepEqual: (actual: unknown, expected: unknown, message?: string) =>
    ok(deepEqual(actual, expected), message ?? `expected ${show(actual)} to deeply equal ${show(expected)}`),
  isTrue: (value: unknown, message?: string) => ok(value === true, message ?? `expected ${show(value)} to be true`),
  isFalse: (value: unknown, message?: string) => ok(value === false, message ?? `expected ${show(value)} to be false`),
});

// ---- running --------------------------------------------------------------------------------

export interface TestResult {
  /** Suite names and the test's, joined by " > " as vitest prints them. */
  name: string;
  state: "passed" | "failed" | "skipped";
  durationMs: number;
  /** The failure's stack (or message), causes included. */
  error?: string;
}

export interface RunSummary {
  passed: number;
  failed: number;
  skipped: number;
  durationMs: number;
  tests: TestResult[];
}

export interface RunOptions {
  /** Only tests whose full name matches run; the rest are left out of the counts. */
  filter?: RegExp;
  /** Timeout of an async test that names none (vitest.config.ts's testTimeout). */
  defaultTimeoutMs?: number;
  /** Where the lines go (default: console.log). */
  print?: (line: string) => void;
}

function describeError(err: unknown): string {
  let text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `thrown: ${show(err)}`;
  if (err instanceof Error && err.stack && !err.stack.includes(err.message)) text = `${err.name}: ${err.message}\n${err.stack}`;
  const cause = err instanceof Error ? err.cause : undefined;
  return cause === undefined ? text : `${text}\nCaused by: ${describeError(cause)}`;
}

/** Runs fn; a returned promise must settle within timeoutMs. Sync code cannot be interrupted (as in vitest). */
async function runWithTimeout(fn: TestFn, timeoutMs: number): Promise<void> {
  const value = fn();
  if (!(value instanceof Promise) && !(typeof value === "object" && value !== null && "then" in value)) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Test timed out in ${timeoutMs}ms.`)), timeoutMs);
  });
  try {
    await Promise.race([value, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Expands every describe factory (depth first, in declaration order), as vitest's collection does. */
async function collect(suite: SuiteNode, path: string[], failures: TestNode[]): Promise<void> {
  for (const child of suite.children) {
    if (child.kind !== "suite") continue;
    const factory = child.factory;
    child.factory = undefined;
    if (factory) {
      const parent = current;
      current = child;
      try {
        await factory();
      } catch (err) {
        const name = [...path, child.name, "(collecting the suite)"].join(" > ");
        // Reported as a failed test of its own, so a broken suite cannot pass silently.
        failures.push({ kind: "test", name, fn: () => { throw err; }, skip: false, timeoutMs: undefined });
      } finally {
        current = parent;
      }
    }
    await collect(child, [...path, child.name], failures);
  }
}

/**
 * Collects the registered suites and runs every test once, printing ✓ / ✗ / ↓ with the full name
 * and duration per test, then each failure's message and stack. Call it once, after importing
 * the test modules.
 */
export async function runCollected(options: RunOptions = {}): Promise<RunSummary> {
  const print = options.print ?? ((line: string) => console.log(line));
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 120_000;
  const started = performance.now();
  const collectFailures: TestNode[] = [];
  await collect(root, [], collectFailures);
  root.children.push(...collectFailures);

  const results: TestResult[] = [];
  const walk = async (suite: SuiteNode, path: string[], skip: boolean): Promise<void> => {
    for (const child of suite.children) {
      if (child.kind === "suite") {
        await walk(child, [...path, child.name], skip || child.skip);
        continue;
      }
      const name = [...path, child.name].join(" > ");
      if (options.filter && !options.filter.test(name)) continue;
      if (skip || child.skip || !child.fn) {
        results.push({ name, state: "skipped", durationMs: 0 });
        print(`  ↓ ${name} [skipped]`);
        continue;
      }
      const t0 = performance.now();
      let error: unknown;
      let failed = false;
      try {
        await runWithTimeout(child.fn, child.timeoutMs ?? defaultTimeoutMs);
      } catch (err) {
        failed = true;
        error = err;
      }
      const durationMs = Math.round((performance.now() - t0) * 10) / 10;
      const ms = `${Math.round(durationMs)}ms`;
      if (failed) {
        const detail = describeError(error);
        results.push({ name, state: "failed", durationMs, error: detail });
        print(`  ✗ ${name} ${ms}`);
        print(`    → ${(error instanceof Error ? error.message : show(error)).split("\n")[0]}`);
      } else {
        results.push({ name, state: "passed", durationMs });
        print(`  ✓ ${name} ${ms}`);
      }
    }
  };
  await walk(root, [], false);

  const failures = results.filter((r) => r.state === "failed");
  if (failures.length > 0) {
    print("");
    print(`Failed tests (${failures.length}):`);
    for (const f of failures) {
      print("");
      print(`FAIL ${f.name}`);
      for (const line of (f.error ?? "").split("\n")) print(`  ${line}`);
    }
  }
  return {
    passed: results.filter((r) => r.state === "passed").length,
    failed: failures.length,
    skipped: results.filter((r) => r.state === "skipped").length,
    durationMs: Math.round(performance.now() - started),
    tests: results,
  };
}
