/**
 * The CLI without the sandbox, as a user meets it: real CLI processes with the sandbox made
 * unavailable (NIGHTSHIFT_BWRAP names a bubblewrap binary that does not exist). An LLM agent's
 * run or tournament is refused with exit code 2 and a line naming the reason and both fixes —
 * before any dataset, workspace, API key or network is touched — and `--no-sandbox` is accepted
 * and documented by every command that trains.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-sandbox-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** No key, no dataset (an empty NIGHTSHIFT_HOME), no bubblewrap. */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NIGHTSHIFT_HOME: join(root, "home"), NIGHTSHIFT_BWRAP: "/nonexistent/bwrap" };
  for (const name of Object.keys(e)) if (/API_KEY$/.test(name)) delete e[name];
  return e;
}
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: env(), timeout: 60_000 });

describe("without the sandbox", () => {
  for (const agent of ["anthropic", "openai"]) {
    it(`run --agent ${agent} refuses with exit code 2, naming the reason and both fixes, before writing anything`, () => {
      const ws = join(root, `ws-${agent}`);
      const r = cli("run", "--agent", agent, "--workspace", ws, "--experiments", "1");
      expect(r.status, r.stderr).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^nightshift: the ${agent} agent's train\\.ts would train outside the sandbox, which cannot run here \\(.+\\)`));
      expect(lines[0]).toContain("apt-get install bubblewrap");
      expect(lines[0]).toContain("--no-sandbox");
      expect(lines[0]).not.toMatch(/API_KEY|dataset/); // refused before the key or the data were looked for
      expect(existsSync(ws)).toBe(false);
    });
  }

  it("tournament start --agent openai refuses the same way, before writing anything", () => {
    const ws = join(root, "ws-tournament");
    const r = cli("tournament", "start", "t1", "--nights", "1", "--quick", "--agent", "openai", "--workspace", ws);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/the openai agent's train\.ts would train outside the sandbox.*apt-get install bubblewrap.*--no-sandbox/);
    expect(existsSync(ws)).toBe(false);
  });

  it("--no-sandbox lets an LLM agent's run past the sandbox check (it stops at the next missing piece)", () => {
    const ws = join(root, "ws-accepted");
    const r = cli("run", "--agent", "anthropic", "--no-sandbox", "--workspace", ws, "--experiments", "1");
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/sandbox/);
    expect(r.stderr).toMatch(/no prepared dataset/); // the next check in line: nothing was trained
  });
});

describe("--no-sandbox", () => {
  it("is documented by the --help of every command that trains", () => {
    for (const command of [["train"], ["run"], ["noise"], ["verify"], ["tournament"]]) {
      const r = cli(...command, "--help");
      expect(r.status, `${command.join(" ")} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout, command.join(" ")).toMatch(/--sandbox\b/);
      expect(r.stdout, command.join(" ")).toContain("--no-sandbox");
    }
  });

  it("is parsed by train, noise and verify (strict parsing does not reject it)", () => {
    const train = cli("train", join(root, "nope.ts"), "--no-sandbox");
    expect(train.status).toBe(2);
    expect(train.stderr).toMatch(/nope\.ts: no such file/);
    for (const command of ["noise", "verify"]) {
      const r = cli(command, "--run", "x", "--no-sandbox", "--workspace", join(root, "nowhere"));
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/no nightshift workspace/);
    }
  });
});
