/**
 * When train.ts may train outside the bubblewrap sandbox. The harness runs it sandboxed when it
 * can ("auto"); this file decides, before anything starts, what happens where it cannot:
 *   - code an LLM wrote (the anthropic and openai agents) is refused: nobody read it, and it
 *     would run with the user's files and network. The user installs bubblewrap, or passes
 *     --no-sandbox to accept the risk.
 *   - code a person chose or the builtin agent derived from the recipe (train, noise, the
 *     builtin agent) runs unsandboxed with a one-line warning.
 * It starts nothing and prints nothing: callers throw or print what it returns.
 */
import { type SandboxMode, type SandboxSupport, SANDBOX_MODES, sandboxSupport } from "../harness/runner/index.ts";
import { CodedError } from "../util/errors.ts";

export type SandboxRefusalCode = "SANDBOX_UNAVAILABLE";

/** An LLM agent's train.ts would train without the sandbox: the CLI prints it and exits 2. */
export class SandboxRefusal extends CodedError<SandboxRefusalCode> {}

/** Agents whose train.ts an LLM writes. */
const LLM_AGENTS: readonly string[] = ["anthropic", "openai"];

/** Who wrote the train.ts about to train: an LLM agent, or a person / the builtin agent. */
export type CodeAuthor = "llm" | "known";

export const authorOfAgent = (agent: string): CodeAuthor => (LLM_AGENTS.includes(agent) ? "llm" : "known");

/** The runner's mode from the CLI's --sandbox / --no-sandbox (undefined: not given). */
export function sandboxModeFromFlag(flag: boolean | undefined): SandboxMode | undefined {
  return flag === undefined ? undefined : flag ? "auto" : "off";
}

/** A stored setting (run or tournament settings JSON) as a mode, when it is one. */
export function storedSandboxMode(value: unknown): SandboxMode | undefined {
  return typeof value === "string" && (SANDBOX_MODES as readonly string[]).includes(value) ? (value as SandboxMode) : undefined;
}

const INSTALL = "install bubblewrap (apt-get install bubblewrap)";

/**
 * Checks a mode before training starts. Throws SandboxRefusal when train.ts would train outside
 * the sandbox without the user having said so (`--no-sandbox`) and an LLM wrote it (or the mode
 * is "required"); returns the one-line warning to print when known code will train unsandboxed;
 * null when there is nothing to say. `who` names the code in the messages ("the anthropic
 * agent's train.ts").
 */
export function checkSandbox(author: CodeAuthor, mode: SandboxMode, who: string, support: () => SandboxSupport = sandboxSupport): string | null {
  if (mode === "off") return null;
  const s = support();
  if (s.available) return null;
  const why = s.reason ?? "bubblewrap is not usable here";
  if (author === "llm" || mode === "required")
    throw new SandboxRefusal(
      "SANDBOX_UNAVAILABLE",
      `${who} would train outside the sandbox, which cannot run here (${why}): ${INSTALL}, or pass --no-sandbox to run it unsandboxed at your own risk`,
    );
  return `warning: the sandbox cannot run here (${why}): ${who} trains unsandboxed; ${INSTALL} to sandbox it, or pass --no-sandbox to run without it silently`;
}
