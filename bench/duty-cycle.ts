/**
 * Benchmark: how much of the wall clock the device spends training, with an agent that takes
 * AGENT seconds per proposal, pipelined (the next proposal is made while an experiment trains)
 * against the serial loop (propose, then train). The agent is the builtin one behind a delay,
 * so the numbers measure the loop, not an LLM. Runs on the prepared dataset (`nightshift
 * prepare` first), in a temporary workspace.
 *
 *   node --import tsx bench/duty-cycle.ts                              # agent 5 s, budget 10 s, 6 experiments
 *   node --import tsx bench/duty-cycle.ts --agent 5 --budget 10 --experiments 8
 *
 * "busy" is the time each experiment's training child runs (start-up, the budget, evaluation):
 * the device is occupied. "training" counts only the budgeted training seconds.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { BuiltinAgent } from "../src/agents/builtin/index.ts";
import type { Agent } from "../src/agents/types.ts";
import { resolveDatasetDir } from "../src/commands/common.ts";
import { type LoopSummary, runLoop } from "../src/loop/loop.ts";
import { loadOrg } from "../src/workspace/org.ts";
import { openWorkspace } from "../src/workspace/workspace.ts";

const { values: args } = parseArgs({
  options: {
    agent: { type: "string", default: "5" },
    budget: { type: "string", default: "10" },
    experiments: { type: "string", default: "6" },
  },
});
const agentSeconds = Number(args.agent);
const budget = Number(args.budget);
const experiments = Number(args.experiments);

/** The builtin agent, made to think for a while. */
function slowAgent(): Agent {
  const inner = new BuiltinAgent();
  return {
    name: "builtin (slow)",
    async propose(context) {
      await sleep(agentSeconds * 1000, undefined, { signal: context.signal });
      return inner.propose(context);
    },
  };
}

async function measure(pipeline: boolean): Promise<{ summary: LoopSummary; trainingSeconds: number }> {
  const workspace = mkdtempSync(join(tmpdir(), "ns-duty-"));
  let trainingSeconds = 0;
  try {
    const ws = await openWorkspace(workspace, "cpu");
    const summary = await runLoop(ws, {
      org: loadOrg(new URL("../program.md", import.meta.url).pathname),
      agent: { kind: "builtin" },
      agentOverride: slowAgent(),
      profile: "cpu",
      timeBudget: budget,
      datasetDir: resolveDatasetDir(undefined, "cpu"),
      tag: "duty",
      seed: 42,
      resume: false,
      experiments,
      pipeline,
      onEvent: (e) => {
        if (e.kind === "finished") trainingSeconds += e.experiment.summary?.training_seconds ?? 0;
      },
    });
    ws.store.close();
    return { summary, trainingSeconds };
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

console.log(`duty cycle: agent ${agentSeconds} s per proposal, budget ${budget} s, ${experiments} experiments, one CPU slot`);
const rows: [string, number][] = [];
for (const pipeline of [false, true]) {
  const { summary: s, trainingSeconds } = await measure(pipeline);
  const busy = s.trainingSeconds / s.wallSeconds;
  const name = pipeline ? "pipelined" : "serial";
  rows.push([name, busy]);
  console.log(
    `${name.padEnd(10)} wall ${s.wallSeconds.toFixed(1).padStart(6)} s | busy ${s.trainingSeconds.toFixed(1).padStart(6)} s = ${(100 * busy).toFixed(1)}% | ` +
      `training ${trainingSeconds.toFixed(1)} s = ${((100 * trainingSeconds) / s.wallSeconds).toFixed(1)}% | ${s.experiments} experiments, ${s.kept} kept`,
  );
}
console.log(`pipelined / serial device-busy fraction: ${(rows[1]![1] / rows[0]![1]).toFixed(2)}× (goal: pipelined ≥ 90%)`);
