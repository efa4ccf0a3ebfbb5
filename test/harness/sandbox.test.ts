/**
 * The bubblewrap sandbox, from the inside: real bwrap, real Node child processes running small
 * `node -e` scripts in sandboxCommand's argv. Each `it` is one promise the sandbox makes to the
 * runner (what train.ts can read, write, reach and outlive). Skips where bwrap cannot run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { type NetworkInterfaceInfo, homedir, networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type SandboxSpec,
  nvidiaDeviceNodes,
  resetSandboxProbeForTests,
  sandboxCommand,
  sandboxNodePath,
  sandboxSupport,
} from "../../src/harness/runner/sandbox.ts";
import { killGroup } from "../../src/harness/runner/process-group.ts";

const PROJECT_ROOT = join(import.meta.dirname, "..", "..");
const SECRET_NAME = "NIGHTSHIFT_TEST_API_KEY";
const SECRET = `sk-planted-${randomBytes(8).toString("hex")}`;
const SCRATCH = "/tmp/scratch";

let work: string;
let programDir: string; // read-only, bound at its own path
let shardFile: string; // read-only, bound at /data/shard.bin
let exchangeDir: string; // read-write, bound at /exchange
let secretFile: string; // never bound

function baseSpec(): SandboxSpec {
  return {
    readOnly: [{ host: programDir }, { host: shardFile, inside: "/data/shard.bin" }],
    readWrite: [{ host: exchangeDir, inside: "/exchange" }],
    cwd: SCRATCH,
    env: { PATH: "/usr/bin:/bin", HOME: SCRATCH, NIGHTSHIFT_SANDBOXED: "1" },
    gpu: false,
  };
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `script` (node -e) in the sandbox, with the test process's whole environment (secret included). */
function startInside(script: string, args: string[] = [], spec = baseSpec(), extraFds = 0): ChildProcess {
  const [file, ...rest] = sandboxCommand(spec, [sandboxNodePath(), "-e", script, ...args]);
  const stdio = ["ignore", "pipe", "pipe", ...Array<"pipe">(extraFds).fill("pipe")] as const;
  return spawn(file as string, rest, { stdio: [...stdio], detached: true, env: process.env });
}

function finish(child: ChildProcess, timeoutMs = 20_000): Promise<Finished> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // The group is gone already (ESRCH); the sandbox's own session may still hold the pipes.
      }
      reject(new Error(`sandboxed script still running after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `script` inside and returns what it printed as JSON. */
async function inside<T>(script: string, spec = baseSpec()): Promise<T> {
  const result = await finish(startInside(script, [], spec));
  if (result.code !== 0) throw new Error(`sandboxed script failed (${result.code ?? result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Host pids whose command line contains `marker` (zombies have none, so they do not count). */
function hostProcessesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(marker)) pids.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return condition();
}

describe.skipIf(!sandboxSupport().available)("the bubblewrap sandbox", () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "nightshift-sandbox-test-"));
    programDir = join(work, "program");
    mkdirSync(programDir);
    writeFileSync(join(programDir, "child.js"), "program text");
    shardFile = join(work, "shard.bin");
    writeFileSync(shardFile, "shard bytes");
    exchangeDir = join(work, "exchange");
    mkdirSync(exchangeDir, { mode: 0o700 });
    secretFile = join(work, "secret.txt");
    writeFileSync(secretFile, SECRET);
    process.env[SECRET_NAME] = SECRET;
  });

  afterAll(() => {
    delete process.env[SECRET_NAME];
    rmSync(work, { recursive: true, force: true });
  });

  it("reads the read-only mounts and cannot write to them", async () => {
    const result = await inside<{ reads: string[]; writes: string[] }>(`
      const fs = require("fs");
      const attempt = (f) => { try { f(); return "written"; } catch (e) { return e.code; } };
      console.log(JSON.stringify({
        reads: [fs.readFileSync("/data/shard.bin", "utf8"), fs.readFileSync(${JSON.stringify(join(programDir, "child.js"))}, "utf8")],
        writes: [
          attempt(() => fs.writeFileSync("/data/shard.bin", "x")),
          attempt(() => fs.appendFileSync(${JSON.stringify(join(programDir, "child.js"))}, "x")),
          attempt(() => fs.writeFileSync(${JSON.stringify(join(programDir, "new.js"))}, "x")),
        ],
      }));`);
    expect(result.reads).toEqual(["shard bytes", "program text"]);
    for (const code of result.writes) expect(["EROFS", "EACCES"]).toContain(code);
    expect(readFileSync(shardFile, "utf8")).toBe("shard bytes");
  });

  it("writes to the read-write mount, and the host sees the write", async () => {
    await inside(`require("fs").writeFileSync("/exchange/result.json", "from inside"); console.log("{}");`);
    expect(readFileSync(join(exchangeDir, "result.json"), "utf8")).toBe("from inside");
  });

  it("cannot see host files it was not given: a temp file, the project, $HOME, /root, /var", async () => {
    const candidates = [secretFile, join(PROJECT_ROOT, "package.json"), PROJECT_ROOT, homedir(), join(homedir(), ".cache"), "/root", "/var", "/etc/passwd", "/sys"];
    // A Node installed under $HOME (nvm) is bound at its own path, so its parents exist inside.
    const paths = candidates.filter((p) => !sandboxNodePath().startsWith(`${p}/`));
    const codes = await inside<Record<string, string>>(`
      const fs = require("fs");
      const out = {};
      for (const p of ${JSON.stringify(paths)}) { try { fs.statSync(p); out[p] = "visible"; } catch (e) { out[p] = e.code; } }
      console.log(JSON.stringify(out));`);
    expect(codes).toEqual(Object.fromEntries(paths.map((p) => [p, "ENOENT"])));
  });

  it("has no network: a TCP server on the host is unreachable, on loopback or the host's addresses", async () => {
    const server = createServer();
    let connections = 0;
    server.on("connection", (socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    const { port } = server.address() as AddressInfo;
    const hosts = [
      "127.0.0.1",
      ...Object.values(networkInterfaces())
        .flat()
        .filter((a): a is NetworkInterfaceInfo => a !== undefined && a.family === "IPv4" && !a.internal)
        .map((a) => a.address),
    ];
    try {
      const outcomes = await inside<Record<string, string>>(`
        const net = require("net");
        const tryConnect = (host) => new Promise((resolve) => {
          const s = net.connect({ host, port: ${port} });
          s.setTimeout(3000, () => { s.destroy(); resolve("timeout"); });
          s.on("connect", () => { s.destroy(); resolve("connected"); });
          s.on("error", (e) => resolve(e.code));
        });
        (async () => {
          const out = {};
          for (const h of ${JSON.stringify(hosts)}) out[h] = await tryConnect(h);
          console.log(JSON.stringify(out));
        })();`);
      expect(outcomes["127.0.0.1"]).toBe("ECONNREFUSED"); // the sandbox's own, empty loopback
      for (const host of hosts) expect(outcomes[host], host).not.toBe("connected");
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  it("sees exactly spec.env (plus bwrap's PWD), not the variables of the process that started it", async () => {
    expect(process.env[SECRET_NAME]).toBe(SECRET); // planted, and inherited by the spawn
    const env = await inside<Record<string, string>>(`console.log(JSON.stringify(process.env));`);
    expect(env).toEqual({ ...baseSpec().env, PWD: SCRATCH });
  });

  it("shows only sandbox processes in /proc, and no /proc/*/environ there holds the host's secret", async () => {
    // The secret is not in the script (the script's own cmdline is visible inside): the
    // sandbox reports what it can read and the host looks for the secret.
    const seen = await inside<{ pids: number[]; pid: number; ppid: number; readable: Record<string, string>; pid1: string }>(`
      const fs = require("fs");
      const pids = fs.readdirSync("/proc").filter((n) => /^\\d+$/.test(n)).map(Number);
      const readable = {};
      for (const pid of pids) {
        try { readable[pid] = fs.readFileSync("/proc/" + pid + "/environ", "utf8"); }
        catch (e) { if (e.code !== "EACCES" && e.code !== "ENOENT" && e.code !== "ESRCH") throw e; }
      }
      const pid1 = fs.readFileSync("/proc/1/cmdline", "utf8").split("\\0")[0];
      console.log(JSON.stringify({ pids, pid: process.pid, ppid: process.ppid, readable, pid1 }));`);
    expect(Object.keys(seen.readable).length).toBeGreaterThan(0);
    for (const [pid, environ] of Object.entries(seen.readable)) expect(environ, `/proc/${pid}/environ`).not.toContain(SECRET);
    expect(seen.readable["1"], "bwrap's reaper was started with an empty environment").toBe("");
    expect(seen.pids).not.toContain(process.pid);
    expect(seen.pids.length).toBeLessThan(5); // bwrap's reaper and the script
    expect(seen.ppid).toBe(1); // bwrap's reaper, PID 1 of the sandbox's namespace
    expect(seen.pid1).toMatch(/bwrap$/);
    expect(seen.pids).toContain(seen.pid);
  });

  it("writes to /tmp inside without touching the host's /tmp, within the tmpfs size cap", async () => {
    const name = `nightshift-sandbox-marker-${randomBytes(6).toString("hex")}`;
    const spec = { ...baseSpec(), tmpBytes: 1024 * 1024 };
    const result = await inside<{ read: string; scratch: string; big: string }>(`
      const fs = require("fs");
      fs.writeFileSync("/tmp/${name}", "inside");
      fs.writeFileSync("scratch.txt", "in cwd");
      let big = "written";
      try { fs.writeFileSync("/tmp/big.bin", Buffer.alloc(2 * 1024 * 1024)); } catch (e) { big = e.code; }
      console.log(JSON.stringify({ read: fs.readFileSync("/tmp/${name}", "utf8"), scratch: fs.readFileSync("${SCRATCH}/scratch.txt", "utf8"), big }));`, spec);
    expect(result).toEqual({ read: "inside", scratch: "in cwd", big: "ENOSPC" });
    expect(existsSync(join("/tmp", name))).toBe(false);
    expect(existsSync(join(SCRATCH, "scratch.txt"))).toBe(false);
  });

  it("keeps the root read-only and runs as an unprivileged user with no capabilities", async () => {
    const result = await inside<{ root: string; uid: number; gid: number; status: string[]; userns: string }>(`
      const fs = require("fs");
      let root = "written";
      try { fs.writeFileSync("/planted", "x"); } catch (e) { root = e.code; }
      const status = fs.readFileSync("/proc/self/status", "utf8").split("\\n").filter((l) => /^(CapEff|CapPrm|CapBnd|NoNewPrivs)/.test(l)).map((l) => l.replace(/\\s+/g, " "));
      const unshare = require("child_process").spawnSync("unshare", ["--user", "true"], { encoding: "utf8" });
      const userns = unshare.error ? unshare.error.code : unshare.status === 0 ? "created" : unshare.stderr.trim();
      console.log(JSON.stringify({ root, uid: process.getuid(), gid: process.getgid(), status, userns }));`);
    expect(result.root).toBe("EROFS");
    expect([result.uid, result.gid]).toEqual([65534, 65534]);
    expect(result.status).toEqual(["CapPrm: 0000000000000000", "CapEff: 0000000000000000", "CapBnd: 0000000000000000", "NoNewPrivs: 1"]);
    expect(result.userns).toMatch(/No space left on device/); // --disable-userns: the namespace quota is spent
  });

  it("passes the runner's extra pipe (fd 3) through to the command", async () => {
    const child = startInside(`require("fs").writeSync(3, "outcome via fd 3");`, [], baseSpec(), 1);
    let received = "";
    (child.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => (received += d.toString()));
    const result = await finish(child);
    expect(result.code, result.stderr).toBe(0);
    expect(received).toBe("outcome via fd 3");
  });

  describe("a detached grandchild dies with the sandbox", () => {
    // The script starts a detached, unref'd sleeper in its own session (setsid), tagged with
    // the marker in its argv, then sleeps itself; the test kills from outside.
    const escapeScript = `
      const { spawn } = require("child_process");
      spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", process.argv[1]], { detached: true, stdio: "ignore" }).unref();
      console.log("ready");
      setInterval(() => {}, 1000);`;

    async function startEscapee(): Promise<{ child: ChildProcess; marker: string; exited: Promise<Finished> }> {
      const marker = `nightshift-escapee-${randomBytes(6).toString("hex")}`;
      const child = startInside(escapeScript, [marker]);
      let stdout = "";
      child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
      const exited = finish(child);
      // bwrap's own processes carry the marker in their argv too, so counting marker processes
      // could fire while bwrap is still setting up (before --die-with-parent is armed); the
      // script prints "ready" only once its sleeper has been exec'd.
      const ready = await waitFor(() => stdout.includes("ready"), 10_000);
      expect(ready, "the script and its sleeper are running on the host").toBe(true);
      return { child, marker, exited };
    }

    it("when the process group of the spawned bwrap is SIGKILLed", async () => {
      const { child, marker, exited } = await startEscapee();
      process.kill(-(child.pid as number), "SIGKILL");
      await exited;
      expect(await waitFor(() => hostProcessesWith(marker).length === 0, 5_000), `left: ${hostProcessesWith(marker)}`).toBe(true);
    });

    it("when only the outer bwrap pid is SIGKILLed", async () => {
      const { child, marker, exited } = await startEscapee();
      process.kill(child.pid as number, "SIGKILL");
      await exited;
      expect(await waitFor(() => hostProcessesWith(marker).length === 0, 5_000), `left: ${hostProcessesWith(marker)}`).toBe(true);
    });

    it("when the runner's killGroup lands during bwrap's set-up", async () => {
      // A bare kill of bwrap in its first milliseconds left the sandbox running in about one
      // try in six; 20 tries spread over the first 10 ms.
      const survivors: number[][] = [];
      for (let attempt = 0; attempt < 20; attempt++) {
        const marker = `nightshift-early-${randomBytes(6).toString("hex")}`;
        const child = startInside(escapeScript, [marker]);
        const exited = finish(child).catch(() => undefined);
        // bwrap and its forked copy carry the marker: the set-up has begun.
        const deadline = Date.now() + 10_000;
        while (hostProcessesWith(marker).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
        await new Promise((r) => setTimeout(r, attempt % 10));
        killGroup(child.pid as number, "SIGKILL");
        if (!(await waitFor(() => hostProcessesWith(marker).length === 0, 3_000))) {
          const left = hostProcessesWith(marker);
          survivors.push(left);
          for (const pid of left) process.kill(pid, "SIGKILL");
        }
        await exited;
      }
      expect(survivors).toEqual([]);
    });
  });

  describe("sandboxCommand's argv", () => {
    const command = ["/usr/bin/node", "-e", "0"];

    it("starts bwrap with an empty environment and every isolation flag", () => {
      const argv = sandboxCommand(baseSpec(), command);
      expect(argv.slice(0, 2)).toEqual(["/usr/bin/env", "-i"]);
      expect(argv[2]).toMatch(/bwrap$/);
      for (const flag of ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--disable-userns"])
        expect(argv).toContain(flag);
      expect(argv).not.toContain("--share-net");
      expect(argv.slice(-command.length - 1)).toEqual(["--", ...command]);
    });

    it("binds no GPU device node when gpu is false, even given a list", () => {
      const argv = sandboxCommand({ ...baseSpec(), gpu: false, gpuDevices: ["/dev/nvidiactl", "/dev/nvidia0"] }, command);
      expect(argv).not.toContain("--dev-bind");
      expect(argv.filter((a) => a.startsWith("/dev/nvidia"))).toEqual([]);
    });

    it("binds each listed device node with device access when gpu is true", () => {
      const devices = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia0"];
      const argv = sandboxCommand({ ...baseSpec(), gpu: true, gpuDevices: devices }, command);
      const devAt = argv.indexOf("--dev");
      for (const dev of devices) {
        const at = argv.indexOf(dev);
        expect(argv.slice(at - 1, at + 2)).toEqual(["--dev-bind", dev, dev]);
        expect(at).toBeGreaterThan(devAt); // after the fresh /dev, or it would hide them
      }
    });

    it("finds the NVIDIA device nodes in a /dev (and nothing else there)", () => {
      const dev = join(work, "fake-dev");
      mkdirSync(join(dev, "nvidia-caps"), { recursive: true });
      for (const name of ["nvidiactl", "nvidia0", "nvidia12", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "nvidia-smi", "nvme0", "null"])
        writeFileSync(join(dev, name), "");
      expect(nvidiaDeviceNodes(dev)).toEqual(
        ["nvidia-caps", "nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia12", "nvidiactl"].map((n) => join(dev, n)),
      );
      expect(nvidiaDeviceNodes(join(work, "no-such-dev"))).toEqual([]);
    });

    it("rejects mounts over the sandbox's own directories, relative paths and unknown keys", () => {
      const bad: unknown[] = [
        { ...baseSpec(), readOnly: [{ host: shardFile, inside: "/usr/lib/evil.so" }] },
        { ...baseSpec(), readWrite: [{ host: exchangeDir, inside: "/proc" }] },
        { ...baseSpec(), readWrite: [{ host: exchangeDir, inside: "/tmp" }] },
        { ...baseSpec(), readOnly: [{ host: "relative/path" }] },
        { ...baseSpec(), readOnly: [{ host: `${work}/../x` }] },
        { ...baseSpec(), env: { "BAD=NAME": "1" } },
        { ...baseSpec(), readonly: [] },
      ];
      for (const spec of bad) expect(() => sandboxCommand(spec as SandboxSpec, command), JSON.stringify(spec)).toThrow(expect.objectContaining({ code: "BAD_SANDBOX_SPEC" }));
    });
  });
});

describe("sandboxSupport", () => {
  it("reports bubblewrap missing when NIGHTSHIFT_BWRAP names a file that does not exist", () => {
    const saved = process.env.NIGHTSHIFT_BWRAP;
    process.env.NIGHTSHIFT_BWRAP = join(tmpdir(), `nightshift-no-such-bwrap-${process.pid}`);
    resetSandboxProbeForTests();
    try {
      const support = sandboxSupport();
      expect(support.available).toBe(false);
      expect(support.reason).toMatch(/bubblewrap/);
      expect(() => sandboxCommand(baseSpecWithoutFiles(), ["/bin/true"])).toThrow(expect.objectContaining({ code: "SANDBOX_UNAVAILABLE" }));
    } finally {
      if (saved === undefined) delete process.env.NIGHTSHIFT_BWRAP;
      else process.env.NIGHTSHIFT_BWRAP = saved;
      resetSandboxProbeForTests();
    }
  });
});

function baseSpecWithoutFiles(): SandboxSpec {
  return { readOnly: [], readWrite: [], cwd: SCRATCH, env: {}, gpu: false };
}
