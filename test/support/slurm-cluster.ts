/**
 * A real single-node Slurm cluster for tests, started without systemd: munged with a key of its
 * own, slurmctld and slurmd in the foreground as children of the test, all configured in a temp
 * directory on ports of their own (so nothing touches /etc/slurm, /run/munge or a cluster the
 * machine may already run). The node has this machine's CPUs and two fake GPUs: gres.conf points
 * at character devices made with mknod in the temp dir, which is all Slurm needs to hand a
 * `--gres=gpu:1` job CUDA_VISIBLE_DEVICES (task/none never opens or fences them). There is no
 * accounting database (sacct says "accounting storage is disabled"), so finished jobs are
 * recorded by jobcomp/filetxt in `jobCompFile`, which tests read to know what really ran.
 *
 *   const cluster = await startSlurmCluster();   // null (with slurmSkipReason()) where it cannot run
 *   spawn("sbatch", [...], { env: { ...process.env, ...cluster.env } });
 *   await cluster.stop();
 *
 * Test support only; it needs root (slurmd runs jobs as their user, munged and mknod need it)
 * and the Debian packages slurm-wlm and munge.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { availableParallelism, hostname, tmpdir } from "node:os";
import { join } from "node:path";

export interface SlurmCluster {
  /** The temp directory holding the configuration, the state and the logs. */
  dir: string;
  /** What a client needs to reach this cluster (SLURM_CONF). */
  env: Record<string, string>;
  /** One line per finished job (jobcomp/filetxt): JobId=… JobState=… ExitCode=…. */
  jobCompFile: string;
  /** The node's name, as squeue and jobcomp name it. */
  node: string;
  /** Fake GPUs the node offers. */
  gpus: number;
  /** Kills every daemon and waits for each to exit; removes the directory. */
  stop(): Promise<void>;
}

const DAEMONS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"] as const;
const FAKE_GPUS = 2;

function onPath(program: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status === 0;
}

/** Why this machine cannot run the cluster (one line), or null when it can. */
export function slurmSkipReason(): string | null {
  if (process.platform !== "linux") return "Slurm tests need Linux";
  if (process.getuid?.() !== 0) return "Slurm tests need root (munged, slurmd and mknod): skipped";
  const missing = DAEMONS.filter((d) => !onPath(d) && !existsSync(`/usr/sbin/${d}`));
  if (missing.length > 0) return `Slurm tests skipped: ${missing.join(", ")} not found (apt-get install slurm-wlm munge)`;
  return null;
}

function daemonPath(name: string): string {
  return existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : name;
}

/** Two ports nothing listens on now, in a range Slurm's defaults (6817/6818) stay out of. */
function freePorts(): [number, number] {
  const base = 20_000 + Math.floor(Math.random() * 20_000) * 2;
  return [base, base + 1];
}

function slurmConf(o: { dir: string; node: string; cpus: number; memoryMb: number; ports: [number, number]; socket: string }): string {
  const d = o.dir;
  return [
    "ClusterName=nightshift-test",
    `SlurmctldHost=${o.node}(127.0.0.1)`,
    "SlurmUser=root",
    "SlurmdUser=root",
    `SlurmctldPort=${o.ports[0]}`,
    `SlurmdPort=${o.ports[1]}`,
    "AuthType=auth/munge",
    "CredType=cred/munge",
    `AuthInfo=socket=${o.socket}`,
    `StateSaveLocation=${d}/state`,
    `SlurmdSpoolDir=${d}/spool`,
    `SlurmctldPidFile=${d}/slurmctld.pid`,
    `SlurmdPidFile=${d}/slurmd.pid`,
    `SlurmctldLogFile=${d}/slurmctld.log`,
    `SlurmdLogFile=${d}/slurmd.log`,
    // No cgroups in a container without systemd: processes are tracked by their parent pid,
    // and tasks are not bound or fenced.
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_Core",
    "GresTypes=gpu",
    "JobCompType=jobcomp/filetxt",
    `JobCompLoc=${d}/jobcomp.txt`,
    "AccountingStorageType=accounting_storage/none",
    "JobAcctGatherType=jobacct_gather/none",
    "MpiDefault=none",
    "ReturnToService=2",
    // Finished jobs stay visible to squeue -t all for a while, as on a real cluster.
    "MinJobAge=300",
    // A job's processes get SIGTERM, then SIGKILL this many seconds later, on scancel.
    "KillWait=5",
    "SchedulerType=sched/backfill",
    "SchedulerParameters=sched_interval=1",
    `NodeName=${o.node} NodeAddr=127.0.0.1 CPUs=${o.cpus} RealMemory=${o.memoryMb} Gres=gpu:${FAKE_GPUS} State=UNKNOWN`,
    "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    "",
  ].join("\n");
}

function startDaemon(command: string, args: string[], log: string, env: NodeJS.ProcessEnv): ChildProcess {
  const out = join(log);
  writeFileSync(out, "");
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (b: Buffer) => writeFileSync(out, b, { flag: "a" }));
  child.stderr!.on("data", (b: Buffer) => writeFileSync(out, b, { flag: "a" }));
  return child;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean, timeoutMs: number, logs: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      const tails = logs.filter(existsSync).map((f) => `--- ${f}\n${readFileSync(f, "utf8").split("\n").slice(-15).join("\n")}`);
      throw new Error(`slurm test cluster: ${what} did not happen within ${timeoutMs} ms\n${tails.join("\n")}`);
    }
    await sleep(100);
  }
}

/** Starts the cluster and waits until its node is idle; null when slurmSkipReason() says why not. */
export async function startSlurmCluster(): Promise<SlurmCluster | null> {
  if (slurmSkipReason() !== null) return null;
  const dir = mkdtempSync(join(tmpdir(), "ns-slurm-"));
  // munged refuses a socket in a directory others cannot enter; the key must be the owner's alone.
  chmodSync(dir, 0o755);
  for (const sub of ["state", "spool", "dev"]) mkdirSync(join(dir, sub));
  const key = join(dir, "munge.key");
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  const gpuFiles = Array.from({ length: FAKE_GPUS }, (_, i) => join(dir, "dev", `nvidia${i}`));
  // 195 is the NVIDIA driver's major number; nothing opens these, Slurm only stats them.
  for (const [i, file] of gpuFiles.entries()) {
    const made = spawnSync("mknod", [file, "c", "195", String(i)], { encoding: "utf8" });
    if (made.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`slurm test cluster: mknod ${file} failed: ${made.stderr.trim()}`);
    }
  }
  const socket = join(dir, "munge.sock");
  const node = hostname().split(".")[0]!;
  const memoryMb = 1024;
  const conf = join(dir, "slurm.conf");
  writeFileSync(conf, slurmConf({ dir, node, cpus: availableParallelism(), memoryMb, ports: freePorts(), socket }));
  writeFileSync(join(dir, "gres.conf"), `Name=gpu File=${join(dir, "dev", "nvidia")}[0-${FAKE_GPUS - 1}]\n`);
  const env = { SLURM_CONF: conf };
  const daemonEnv = { ...process.env, ...env };

  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    // Jobs first (their processes are the node's children), then the daemons, newest first.
    spawnSync("scancel", ["--full", "--user=root"], { env: daemonEnv, stdio: "ignore", timeout: 5_000 });
    for (const child of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const logs = ["munged.log", "munged.out", "slurmctld.log", "slurmctld.out", "slurmd.log", "slurmd.out"].map((f) => join(dir, f));
  try {
    children.push(
      startDaemon(
        daemonPath("munged"),
        ["--foreground", "--force", `--key-file=${key}`, `--socket=${socket}`, `--pid-file=${join(dir, "munged.pid")}`, `--log-file=${join(dir, "munged.log")}`, `--seed-file=${join(dir, "munged.seed")}`],
        join(dir, "munged.out"),
        daemonEnv,
      ),
    );
    await waitFor("munged's socket", () => existsSync(socket), 10_000, logs);
    // -i: a fresh controller (no state to recover); -D: in the foreground, our child.
    children.push(startDaemon(daemonPath("slurmctld"), ["-D", "-i", "-f", conf], join(dir, "slurmctld.out"), daemonEnv));
    children.push(startDaemon(daemonPath("slurmd"), ["-D", "-f", conf, "-N", node], join(dir, "slurmd.out"), daemonEnv));
    const state = () => spawnSync("sinfo", ["-h", "-n", node, "-o", "%T"], { env: daemonEnv, encoding: "utf8", timeout: 5_000 }).stdout?.trim() ?? "";
    await waitFor("the node becoming idle", () => state() === "idle", 30_000, logs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, env, jobCompFile: join(dir, "jobcomp.txt"), node, gpus: FAKE_GPUS, stop };
}

/** The jobcomp records of finished jobs, parsed: JobId, JobState, ExitCode, Name, … per job. */
export function finishedJobs(cluster: SlurmCluster): Record<string, string>[] {
  if (!existsSync(cluster.jobCompFile)) return [];
  return readFileSync(cluster.jobCompFile, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => Object.fromEntries(line.trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])));
}

/** Job ids squeue still lists as pending or running (any state short of finished). */
export function activeJobs(cluster: SlurmCluster): string[] {
  const out = spawnSync("squeue", ["-h", "-o", "%i"], { env: { ...process.env, ...cluster.env }, encoding: "utf8", timeout: 10_000 });
  if (out.status !== 0) throw new Error(`squeue failed: ${out.stderr}`);
  return out.stdout.split("\n").map((s) => s.trim()).filter((s) => s !== "");
}
