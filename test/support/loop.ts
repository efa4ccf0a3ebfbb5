/**
 * Running the inner loop in a workspace directory, as `nightshift run` does: open the
 * workspace (with a fake trainer when given one), run, close the store.
 */
import type { Trainer } from "../../src/harness/trainer.ts";
import { type LoopOptions, type LoopSummary, runLoop } from "../../src/loop/loop.ts";
import { openWorkspace } from "../../src/workspace/workspace.ts";

export async function runLoopIn(dir: string, options: LoopOptions, trainer?: Trainer): Promise<LoopSummary> {
  const ws = await openWorkspace(dir, options.profile, trainer ? { trainer } : {});
  try {
    return await runLoop(ws, options);
  } finally {
    ws.store.close();
  }
}
