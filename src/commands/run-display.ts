/**
 * What `nightshift run` shows while it works. stdout gets one line per finished or skipped
 * experiment, with how many of this invocation's --experiments are done and the time left (or,
 * with --json, one JSON object per event that changes the record, then the summary); a
 * terminal's stderr also gets a live status line: what each slot is doing (its experiment, step,
 * loss and throughput, or that it waits on the agent), the best so far and the progress.
 */
import type { ResearchMemory } from "../agents/types.ts";
import type { LoopEvent, LoopSummary } from "../loop/loop.ts";
import { ProgressCounter } from "../util/progress.ts";

type SlotState = { doing: "proposing" | "training" | "idle"; seq?: number; step?: number; loss?: number; tokensPerSecond?: number };

export class RunDisplay {
  private readonly slots = new Map<number, SlotState>();
  private best: number | null = null;
  private statusShown = false;
  private readonly progress: ProgressCounter;
  private progressText = "";

  /** `experiments`: how many this invocation runs (--experiments), when bounded. */
  constructor(private readonly mode: { json: boolean; tty: boolean; experiments?: number }) {
    this.progress = new ProgressCounter(mode.experiments);
  }

  show(e: LoopEvent): void {
    if (e.kind === "warning") {
      // stderr in every mode: --json keeps stdout to records.
      this.clearStatus();
      process.stderr.write(`nightshift: ${e.message}\n`);
      return;
    }
    if (this.mode.json) {
      if (e.kind === "run")
        this.line(JSON.stringify({ event: "run", run: e.run, resumed: e.resumed, interrupted: e.interrupted, devices: e.slots.map((s) => s.label), memory: e.memory }));
      if (e.kind === "finished" || e.kind === "skipped") this.line(JSON.stringify({ event: e.kind, slot: e.slot, experiment: e.experiment }));
      return;
    }
    switch (e.kind) {
      case "run": {
        const notes = [e.resumed ? "resumed" : "new", `${e.slots.length} slot${e.slots.length > 1 ? "s" : ""}: ${e.slots.map((s) => s.label).join(", ")}`];
        if (e.interrupted) notes.push(`${e.interrupted} interrupted experiment${e.interrupted > 1 ? "s" : ""} recorded`);
        this.line(`run ${e.run.branch} (${notes.join("; ")})`);
        if (e.memory.entries.length > 0) this.line(`memory: ${describeMemory(e.memory)}`);
        break;
      }
      case "proposing":
        // A speculative proposal runs beside a training: the slot is still training.
        if (!e.speculative) this.slots.set(e.slot, { doing: "proposing" });
        break;
      case "training":
        this.slots.set(e.slot, { doing: "training", seq: e.seq });
        break;
      case "progress": {
        const p = e.progress;
        this.slots.set(e.slot, { doing: "training", seq: e.seq, step: p.step, loss: p.loss, tokensPerSecond: p.tokensPerSecond });
        break;
      }
      case "finished": {
        const x = e.experiment;
        this.best = e.best;
        this.slots.set(e.slot, { doing: "idle" });
        const bpb = x.summary ? x.summary.val_bpb.toFixed(6) : "—";
        const why = x.reason && (x.status === "crash" || x.status === "invalid") ? ` (${x.reason})` : "";
        this.progressText = this.progress.tick();
        this.line(`exp ${pad(x.seq)} ${x.status.padEnd(7)} ${bpb}  best ${e.best?.toFixed(6) ?? "—"}  [${this.progressText}]  ${x.description}${why}`);
        break;
      }
      case "skipped":
        this.slots.set(e.slot, { doing: "idle" });
        this.progressText = this.progress.tick();
        this.line(`exp ${pad(e.experiment.seq)} skipped  [${this.progressText}]  ${e.experiment.reason ?? ""}`);
        break;
    }
    this.status();
  }

  summary(s: LoopSummary): void {
    if (this.mode.json) {
      this.line(JSON.stringify({ summary: s }));
      return;
    }
    const busy = s.wallSeconds > 0 ? (100 * s.trainingSeconds) / (s.wallSeconds * s.slots) : 0;
    this.line(
      `run ${s.branch}: ${s.experiments} experiments, ${s.kept} kept, best val_bpb ${s.best?.toFixed(6) ?? "—"}, ` +
        `devices training ${busy.toFixed(0)}% of ${s.wallSeconds.toFixed(0)} s (stopped: ${s.stoppedBecause})`,
    );
  }

  close(): void {
    this.clearStatus();
  }

  private line(text: string): void {
    this.clearStatus();
    console.log(text);
  }

  private clearStatus(): void {
    if (this.statusShown) process.stderr.write("\r\x1b[2K");
    this.statusShown = false;
  }

  private status(): void {
    if (!this.mode.tty || this.mode.json || this.slots.size === 0) return;
    const parts = [...this.slots.entries()].map(([slot, s]) => {
      const name = this.slots.size > 1 ? `[${slot}] ` : "";
      if (s.doing === "proposing") return `${name}waiting for the agent`;
      if (s.doing === "idle") return `${name}idle`;
      const progress = s.step === undefined ? "starting" : `step ${s.step} loss ${s.loss!.toFixed(3)} ${Math.round(s.tokensPerSecond!)} tok/s`;
      return `${name}exp ${pad(s.seq!)} ${progress}`;
    });
    const text = `${parts.join(" | ")} | best ${this.best?.toFixed(6) ?? "—"}${this.progressText ? ` | ${this.progressText}` : ""}`;
    const width = process.stderr.columns || 120;
    process.stderr.write(`\r\x1b[2K${text.slice(0, width - 1)}`);
    this.statusShown = true;
  }
}

const pad = (n: number) => String(n).padStart(3, "0");

/** "2 verified real, 3 refuted, 1 crash from earlier runs (4 shared)": what the agent remembers. */
export function describeMemory(memory: ResearchMemory): string {
  const count = (pred: (o: ResearchMemory["entries"][number]) => boolean) => memory.entries.filter(pred).length;
  const own = (o: ResearchMemory["entries"][number]) => o.source !== "shared";
  const parts = [
    `${count((e) => own(e) && e.outcome === "real")} verified real`,
    `${count((e) => own(e) && (e.outcome === "noise" || e.outcome === "negligible"))} refuted`,
    `${count((e) => own(e) && e.outcome === "crash")} crashed`,
  ];
  const shared = count((e) => !own(e));
  return `${parts.join(", ")} from earlier runs of this org and its ancestors${shared ? `; ${shared} verified results shared by other orgs` : ""}${memory.omitted ? ` (${memory.omitted} more left out)` : ""}`;
}
