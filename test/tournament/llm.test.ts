/**
 * A tournament whose orgs are driven by an LLM agent (the openai agent through the official
 * SDK, against the scripted LLM server of test/support) under a per-night agent budget: the
 * night stops handing out experiments once the budget is spent, finishes (verification and
 * evolution) all the same, and records the spending. A missing API key fails before anything is
 * written.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.ts";
import { countedExperiments, nightTag } from "../../src/tournament/index.ts";
import { type LlmServer, type ScriptedReply, startLlmServer } from "../support/llm-server.ts";
import { initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";
import { writeTestOrgs } from "./orgs.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-tllm-"));
const dataset = join(root, "data");
const ws = join(root, "ws");
const orgs = join(root, "orgs");
let server: LlmServer;

// One answer = one proposal, priced by --price for a model the table lacks ($5 in, $30 out per
// MTok): $0.53. Unpriced, it would cost $0 and the night's budget would never run out.
const PROBE: ScriptedReply = {
  type: "tools",
  calls: [
    // Applies to any train.ts of the night: the searched line stays, even after a probe is kept
    // (a 1 s budget's val_bpb varies with machine load, so a comment-only change can win).
    { name: "edit_file", args: { search: "// Optimization\n", replace: "// Optimization\n// (a probe)\n" } },
    { name: "submit", args: { description: "comment probe", hypothesis: "it changes nothing; it costs tokens" } },
  ],
  usage: { input: 100_000, output: 1_000 },
};
const COST_PER_PROPOSAL = 0.53;
const CAP = 1.5;

beforeAll(async () => {
  writeTinyDataset(dataset, { docs: { val: 100, test: 200 } });
  await initSmallLab(ws, { detuned: true });
  writeTestOrgs(orgs, ["lr", "wd"]);
  server = await startLlmServer();
  server.setFallback(PROBE);
});
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

const args = (name: string) => ["tournament", "start", name, "--nights", "1", "--experiments", "8", "--orgs", orgs, "--time-budget", "1", "--dataset", dataset, "--max-seeds", "2", "--profile", "cpu", "--workspace", ws, "--json"];

describe("nightshift tournament --agent openai --price --max-cost-per-night", () => {
  it("stops handing out experiments once the night's agent budget is spent, and finishes the night", async () => {
    const llm = ["--agent", "openai", "--model", "local-coder", "--price", "5,30", "--base-url", server.openaiBaseURL];
    const child = spawn(process.execPath, [bin, ...args("llm"), ...llm, "--no-sandbox", "--max-cost-per-night", String(CAP)], {
      env: { ...process.env, NIGHTSHIFT_HOME: root, OPENAI_API_KEY: "sk-test-tournament" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once("close", r)); // the server answers meanwhile
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout).tournament.status).toBe("finished");
    expect(stderr).toMatch(/the night's agent budget is spent/);

    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    try {
      const runs = store.listRuns().filter((r) => r.tag === nightTag("llm", 1));
      // The first org's allocation may spend the whole budget: then the second never runs.
      expect(runs.length).toBeGreaterThanOrEqual(1);
      expect(runs.every((r) => r.agent === "openai")).toBe(true);
      const spent = runs.reduce((s, r) => s + store.runCost(r.id).costUsd, 0);
      // Spending stops at the cap, give or take the proposals already in flight (one per loop).
      expect(spent).toBeGreaterThanOrEqual(CAP);
      expect(spent).toBeLessThanOrEqual(CAP + 2 * COST_PER_PROPOSAL + 1e-9);
      const done = runs.reduce((s, r) => s + countedExperiments(store.listExperiments(r.id)), 0);
      expect(done).toBeLessThan(8); // the budget, not the grants, ended the night
      const night = store.listNights(store.getTournamentByName("llm")!.id)[0]!;
      expect(night.status).toBe("finished");
      expect(store.listNightResults(night.id)).toHaveLength(2);
    } finally {
      store.close();
    }
    expect(server.requests.length).toBeGreaterThan(0);
    expect(server.requests.every((r) => r.api === "openai" && r.body.model === "local-coder" && r.body.tool_choice === "required")).toBe(true);
  }, 180_000);

  it("refuses a malformed --price before writing anything", () => {
    const r = spawnSync(process.execPath, [bin, ...args("badprice"), "--agent", "openai", "--price", "5", "--no-sandbox"], {
      encoding: "utf8",
      env: { ...process.env, NIGHTSHIFT_HOME: root, OPENAI_API_KEY: "sk-test-tournament" },
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--price must be two to five non-negative numbers.*got 5$/m);
    expect(existsSync(join(ws, "tournaments", "badprice"))).toBe(false);
  });

  it("refuses an LLM agent without its key before writing anything", () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NIGHTSHIFT_HOME: root };
    delete env.OPENAI_API_KEY;
    // --no-sandbox: past the sandbox check, which a machine without bubblewrap fails first.
    const r = spawnSync(process.execPath, [bin, ...args("nokey"), "--agent", "openai", "--no-sandbox"], { encoding: "utf8", env });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/OPENAI_API_KEY/);
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    expect(store.getTournamentByName("nokey")).toBeUndefined();
    store.close();
    expect(existsSync(join(ws, "tournaments", "nokey"))).toBe(false);
  });
});
