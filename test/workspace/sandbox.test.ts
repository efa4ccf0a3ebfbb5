/**
 * When train.ts may train outside the sandbox (src/workspace/sandbox.ts), with the sandbox's
 * availability given: an LLM agent's code is refused unless the user said --no-sandbox, known
 * code trains with a warning, and nothing is said where the sandbox works or was turned off.
 */
import { describe, expect, it } from "vitest";
import { SandboxRefusal, authorOfAgent, checkSandbox, sandboxModeFromFlag, storedSandboxMode } from "../../src/workspace/sandbox.ts";

const missing = () => ({ available: false, reason: "bwrap not found" });
const works = () => ({ available: true });

function refusal(fn: () => unknown): SandboxRefusal {
  try {
    fn();
  } catch (err) {
    if (err instanceof SandboxRefusal) return err;
    throw err;
  }
  throw new Error("expected a SandboxRefusal");
}

describe("sandbox policy", () => {
  it("refuses an LLM agent's train.ts where the sandbox cannot run, naming the reason and both fixes", () => {
    const err = refusal(() => checkSandbox("llm", "auto", "the anthropic agent's train.ts", missing));
    expect(err.code).toBe("SANDBOX_UNAVAILABLE");
    expect(err.message).toBe(
      "the anthropic agent's train.ts would train outside the sandbox, which cannot run here (bwrap not found): install bubblewrap (apt-get install bubblewrap), or pass --no-sandbox to run it unsandboxed at your own risk",
    );
  });

  it("lets known code train unsandboxed, with a one-line warning", () => {
    const warning = checkSandbox("known", "auto", "the builtin agent's train.ts", missing);
    expect(warning).toMatch(/^warning: the sandbox cannot run here \(bwrap not found\): the builtin agent's train\.ts trains unsandboxed; install bubblewrap/);
    expect(warning).toContain("--no-sandbox");
    expect(warning).not.toContain("\n");
  });

  it("says nothing when the sandbox works, or when the user turned it off", () => {
    for (const author of ["llm", "known"] as const) {
      expect(checkSandbox(author, "auto", "x", works)).toBeNull();
      expect(checkSandbox(author, "off", "x", missing)).toBeNull();
    }
  });

  it("refuses even known code when the sandbox is required", () => {
    expect(refusal(() => checkSandbox("known", "required", "train.ts", missing)).code).toBe("SANDBOX_UNAVAILABLE");
  });

  it("does not probe the sandbox when it is off", () => {
    expect(checkSandbox("llm", "off", "x", () => { throw new Error("probed"); })).toBeNull();
  });

  it("knows which agents an LLM drives, and reads the flag and stored settings", () => {
    expect(["anthropic", "openai", "builtin", "scripted"].map(authorOfAgent)).toEqual(["llm", "llm", "known", "known"]);
    expect([true, false, undefined].map(sandboxModeFromFlag)).toEqual(["auto", "off", undefined]);
    expect(["off", "auto", "required", "sometimes", 1, null, undefined].map(storedSandboxMode)).toEqual(["off", "auto", "required", undefined, undefined, undefined, undefined]);
  });
});
