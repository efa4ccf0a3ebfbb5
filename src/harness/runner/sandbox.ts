/**
 * The sandbox a train.ts trains in (bubblewrap on Linux). This file decides what the
 * untrusted process can see; it starts nothing itself. Placeholder contract: the full
 * implementation replaces the bodies, keeping these exports.
 */

/** "auto": sandbox when bubblewrap works here; "required": refuse to run without it; "off": never. */
export type SandboxMode = "auto" | "required" | "off";

export const SANDBOX_MODES: readonly SandboxMode[] = ["auto", "required", "off"];

export interface SandboxSupport {
  available: boolean;
  /** Why the sandbox cannot be used here (missing bwrap, user namespaces off), when it cannot. */
  reason?: string;
}

/** Whether bubblewrap can build a sandbox on this machine (probed once, then cached). */
export function sandboxSupport(): SandboxSupport {
  return { available: false, reason: "the sandbox is not built yet" };
}
