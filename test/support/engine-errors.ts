/** The EngineError a call throws, for tests that then check its code and message. */
import { expect } from "vitest";
import { EngineError } from "../../src/engine/index.ts";

/** The EngineError fn throws (failing the test when it throws nothing or something else). */
export function engineError(fn: () => unknown): EngineError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return err as EngineError;
  }
  throw new Error("expected an EngineError, nothing was thrown");
}
