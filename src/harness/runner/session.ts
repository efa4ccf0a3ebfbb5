/**
 * One child process, from spawn to close, seen from the trusted side: its output streamed
 * (redacted, tail kept, log file, callbacks), its channel messages checked, its training timed
 * on this process's clock, and its model served to the evaluator through the exchange file.
 * Nothing here decides the outcome; run.ts does, from what the session recorded.
 */
import type { ChildProcess } from "node:child_process";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { Redactor, StreamRedactor } from "../../util/secrets.ts";
import type { ModelServer } from "../evaluation/trusted.ts";
import { HEAP_OOM } from "./classify.ts";
import { StepClock } from "./grace.ts";
import { LineSplitter, TailBuffer } from "./log-tail.ts";
import { killGroup, trackGroup, untrackGroup } from "./process-group.ts";
import {
  CHANNEL_FD,
  type ChildFailure,
  type DeclaredStats,
  type ParentMessage,
  type ProgressSnapshot,
  encodeIds,
  parseChildMessage,
} from "./protocol.ts";

export type OutputStream = "stdout" | "stderr";

export interface SessionOptions {
  logTailChars: number;
  logFile?: string;
  killGraceMs: number;
  /** Wall-clock seconds from spawn after which the process group is killed (a timeout). */
  hardLimit: number;
  /**
   * Seconds from spawn by which train() must have returned, or the run is killed (over budget),
   * given the step time measured so far (null before there is one): the grace grows with it.
   */
  trainingDeadline(stepSeconds: number | null): number;
  /** Seconds the model may take for its first batch of logits (FIRST_ANSWER_SECONDS by default). */
  firstAnswerSeconds: number;
  /** Values to redact from everything the child prints. */
  secrets: readonly string[];
  exchange: { path: string; slotBytes: number; slots: number };
  /** Expected logits per batch: B · T · V. */
  logitsPerBatch: number;
  onOutput?(chunk: string, stream: OutputStream): void;
  onLine?(line: string, stream: OutputStream): void;
  onProgress?(progress: ProgressSnapshot): void;
  onSpawn?(pid: number): void;
}

/** What a session recorded, once the process has closed. */
export interface SessionRecord {
  failure: { status: ChildFailure; error: string } | null;
  harnessError: { code: string; message: string } | null;
  protocolError: string | null;
  startedAt: number | null;
  readyAt: number | null;
  stats: DeclaredStats | null;
  trainingDeadlineHit: boolean;
  /** Seconds from spawn the training deadline stood at when it was hit. */
  trainingDeadlineSeconds: number | null;
  /** The model's first answer missed FIRST_ANSWER_SECONDS (training after train() returned). */
  firstAnswerLate: boolean;
  timedOut: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  heapOutOfMemory: boolean;
  callbackError: unknown;
  logTail: string;
}

/** The child went away (or broke the protocol) while the evaluator was waiting on it. */
export class ServerGone extends Error {}

/**
 * Seconds the model may take for its first batch of logits. A forward pass takes well under a
 * second on a CPU and a few on a GPU (compilation, warm-up); a model that trains in its first
 * logits() call, after train() returned, is stopped here. Later calls that train are caught by
 * the statelessness probe (their logits move between two sights of a row).
 */
export const FIRST_ANSWER_SECONDS = 30;
/** After the evaluation says done, the child must exit within this long, or it is killed. */
const EXIT_AFTER_DONE_MS = 5000;
/** The channel carries small messages; a longer line is not the harness talking. */
const MAX_CHANNEL_LINE = 1024 * 1024;

export class ChildSession implements ModelServer {
  readonly spawnedAt = performance.now();
  readonly #child: ChildProcess;
  readonly #options: SessionOptions;
  readonly #tail: TailBuffer;
  readonly #logFd: number | null;
  readonly #exchangeFd: number;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #record: SessionRecord;
  readonly #stepClock = new StepClock();
  #terminating = false;
  #closed = false;
  #logClosed = false;
  #stderrCarry = "";
  #nextRequest = 0;
  #answered = false;
  /** One more than the slots: answers in flight plus the one the evaluator is reading. */
  readonly #buffers: (Float32Array | undefined)[];
  readonly #waiting = new Map<number, { resolve(l: Float32Array): void; reject(e: Error): void }>();
  #readyWaiter: ((stats: DeclaredStats | null) => void) | null = null;
  /** Resolves with the declared stats when train() returned, or null if the child never got there. */
  readonly trained: Promise<DeclaredStats | null>;
  /** Resolves once the process has exited and its streams are closed. */
  readonly closed: Promise<SessionRecord>;

  constructor(child: ChildProcess, options: SessionOptions) {
    this.#child = child;
    this.#options = options;
    this.#tail = new TailBuffer(options.logTailChars);
    this.#logFd = options.logFile ? openSync(options.logFile, "w") : null;
    // Opened before the child could touch the path: reads follow this file, whatever the child
    // later does to the directory entry.
    this.#exchangeFd = openSync(options.exchange.path, "r");
    this.#buffers = new Array<Float32Array | undefined>(options.exchange.slots + 1);
    this.#record = {
      failure: null,
      harnessError: null,
      protocolError: null,
      startedAt: null,
      readyAt: null,
      stats: null,
      trainingDeadlineHit: false,
      trainingDeadlineSeconds: null,
      firstAnswerLate: false,
      timedOut: false,
      exitCode: null,
      signal: null,
      heapOutOfMemory: false,
      callbackError: null,
      logTail: "",
    };
    this.trained = new Promise((resolve) => (this.#readyWaiter = resolve));
    let resolveClosed!: (r: SessionRecord) => void;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));

    const pid = child.pid;
    if (pid !== undefined) {
      trackGroup(pid);
      this.#guard(() => options.onSpawn?.(pid));
    }
    const redactor = new Redactor(options.secrets);
    for (const name of ["stdout", "stderr"] as const) this.#stream(name, redactor);
    this.#listen();

    this.#timers.push(setTimeout(() => this.#hardLimitHit(), options.hardLimit * 1000));
    this.#scheduleTrainingDeadline(options.trainingDeadline(null));
    child.on("exit", (code, signal) => {
      this.#record.exitCode = code;
      this.#record.signal = signal;
      // Whatever the child started in its group goes with it (it may hold our pipes open).
      if (pid !== undefined) killGroup(pid, "SIGKILL");
    });
    child.on("close", () => {
      for (const t of this.#timers) clearTimeout(t);
      this.#closed = true;
      if (pid !== undefined) untrackGroup(pid);
      closeSync(this.#exchangeFd);
      this.#readyWaiter?.(null);
      this.#failWaiting("the training process exited");
      this.#record.logTail = this.#tail.text();
      resolveClosed(this.#record);
    });
  }

  /** Output the trusted side adds to the run's log (the summary block, a FAIL line). */
  emit(text: string): void {
    if (this.#logFd !== null) writeSync(this.#logFd, text);
    this.#tail.append(text);
    this.#guard(() => this.#options.onOutput?.(text, "stdout"));
    for (const line of text.split("\n").slice(0, -1)) this.#guard(() => this.#options.onLine?.(line, "stdout"));
  }

  /** The log tail so far (complete once closed). */
  tail(): string {
    return this.#tail.text();
  }

  /**
   * ModelServer: asks the child for the logits of one batch of ids. The answer is one of this
   * session's reused buffers: valid until the answer to the request made `slots` calls later.
   */
  logits(ids: Int32Array): Promise<Float32Array> {
    const id = this.#nextRequest++;
    return new Promise<Float32Array>((resolve, reject) => {
      if (this.#child.exitCode !== null || this.#terminating) {
        reject(new ServerGone("the training process is gone"));
        return;
      }
      this.#waiting.set(id, { resolve, reject });
      if (id === 0)
        this.#timers.push(
          setTimeout(() => {
            if (!this.#answered) {
              this.#record.firstAnswerLate = true;
              this.kill();
            }
          }, this.#options.firstAnswerSeconds * 1000),
        );
      this.#send({ type: "logits", id, ids: encodeIds(ids) });
    });
  }

  /** Evaluation is over: tells the child to exit, and kills it if it does not. */
  finish(): void {
    if (this.#closed) return;
    this.#send({ type: "done" });
    this.#timers.push(setTimeout(() => this.kill(), EXIT_AFTER_DONE_MS));
  }

  /** Parent-clock seconds from "started" to "ready", once the child got that far. */
  trainingSeconds(): number | null {
    const { startedAt, readyAt } = this.#record;
    return startedAt !== null && readyAt !== null ? (readyAt - startedAt) / 1000 : null;
  }

  /** Seconds per step by this process's clock while train() ran (see StepClock), or null. */
  stepSeconds(): number | null {
    return this.#stepClock.stepSeconds();
  }

  /** Closes the log file; call once the process has closed and nothing more is emitted. */
  dispose(): void {
    if (this.#logFd !== null && !this.#logClosed) closeSync(this.#logFd);
    this.#logClosed = true;
  }

  /** Kills the process group: SIGTERM, then SIGKILL after the grace. */
  kill(): void {
    const pid = this.#child.pid;
    if (this.#terminating || this.#closed || pid === undefined) return;
    this.#terminating = true;
    killGroup(pid, "SIGTERM");
    this.#timers.push(setTimeout(() => killGroup(pid, "SIGKILL"), this.#options.killGraceMs));
    this.#failWaiting("the training process was stopped");
  }

  #send(message: ParentMessage): void {
    const channel = this.#child.stdio[CHANNEL_FD] as NodeJS.WritableStream | null;
    channel?.write(`${JSON.stringify(message)}\n`);
  }

  #failWaiting(reason: string): void {
    for (const { reject } of this.#waiting.values()) reject(new ServerGone(reason));
    this.#waiting.clear();
  }

  /** A callback that throws must not leave the child running: kill it, report the error. */
  #guard(fn: () => void): void {
    if (this.#record.callbackError !== null) return;
    try {
      fn();
    } catch (err) {
      this.#record.callbackError = err;
      this.kill();
    }
  }

  /**
   * Checks at `seconds` from spawn; the steps measured by then may have moved the deadline
   * later (a longer grace), and then it checks again at the new one.
   */
  #scheduleTrainingDeadline(seconds: number): void {
    const delayMs = Math.max(0, seconds * 1000 - (performance.now() - this.spawnedAt));
    this.#timers.push(
      setTimeout(() => {
        const record = this.#record;
        if (record.readyAt !== null || record.failure !== null || this.#closed) return;
        const deadline = this.#options.trainingDeadline(this.#stepClock.stepSeconds());
        if (deadline * 1000 > performance.now() - this.spawnedAt + 1) return this.#scheduleTrainingDeadline(deadline);
        record.trainingDeadlineHit = true;
        record.trainingDeadlineSeconds = deadline;
        this.kill();
      }, delayMs),
    );
  }

  #hardLimitHit(): void {
    this.#record.timedOut = true;
    this.kill();
  }

  #stream(name: OutputStream, redactor: Redactor): void {
    const decoder = new StringDecoder("utf8");
    const redact = new StreamRedactor(redactor);
    const lines = this.#options.onLine ? new LineSplitter((line) => this.#guard(() => this.#options.onLine!(line, name))) : null;
    const deliver = (text: string): void => {
      if (text === "") return;
      if (this.#logFd !== null) writeSync(this.#logFd, text);
      this.#tail.append(text);
      // V8 prints its heap-exhaustion message and a native stack before aborting; watch stderr
      // as it streams so a long stack cannot push the message out of the tail.
      if (name === "stderr" && !this.#record.heapOutOfMemory) {
        this.#record.heapOutOfMemory = HEAP_OOM.test(this.#stderrCarry + text);
        this.#stderrCarry = text.slice(-200);
      }
      this.#guard(() => this.#options.onOutput?.(text, name));
      lines?.push(text);
    };
    const stream = this.#child[name]!;
    stream.on("data", (buf: Buffer) => deliver(redact.push(decoder.write(buf))));
    stream.on("end", () => {
      deliver(redact.push(decoder.end()));
      deliver(redact.end());
      lines?.end();
    });
  }

  #listen(): void {
    const channel = this.#child.stdio[CHANNEL_FD] as (NodeJS.ReadableStream & NodeJS.WritableStream) | null;
    if (!channel) return;
    // Writes after the child closed its end fail with EPIPE: the close is reported by 'exit'.
    (channel as unknown as NodeJS.EventEmitter).on("error", () => undefined);
    let pending = "";
    channel.setEncoding("utf8");
    channel.on("data", (text: string) => {
      pending += text;
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        this.#receive(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf("\n");
      }
      if (pending.length > MAX_CHANNEL_LINE) pending = "";
    });
  }

  #receive(line: string): void {
    const message = parseChildMessage(line);
    if (!message) return;
    const record = this.#record;
    const now = performance.now();
    switch (message.type) {
      case "progress":
        if (record.readyAt !== null) return;
        if (record.startedAt !== null) this.#stepClock.record(now, message.progress.steps);
        this.#guard(() => this.#options.onProgress?.(message.progress));
        return;
      case "started":
        record.startedAt ??= now;
        return;
      case "ready":
        if (record.readyAt !== null || record.startedAt === null) return;
        record.readyAt = now;
        record.stats = message.stats;
        this.#readyWaiter?.(message.stats);
        this.#readyWaiter = null;
        return;
      case "logits":
        this.#answer(message.id, message.shape);
        return;
      case "failed":
        record.failure ??= { status: message.status, error: message.error };
        this.#failWaiting(`the training process failed: ${message.error}`);
        return;
      case "harness-error":
        record.harnessError ??= { code: message.code, message: message.message };
        return;
    }
  }

  /** Reads the logits the child announced for request `id` from its exchange slot. */
  #answer(id: number, shape: number[]): void {
    const waiter = this.#waiting.get(id);
    const expected = this.#options.logitsPerBatch;
    const count = shape.reduce((a, b) => a * b, 1);
    if (!waiter || count !== expected) {
      this.#record.protocolError ??= !waiter
        ? `the training process answered request ${id}, which was not asked for`
        : `model.logits returned shape [${shape.join(", ")}]: ${count} logits where the harness needs ${expected}`;
      this.#failWaiting(this.#record.protocolError);
      this.kill();
      return;
    }
    this.#waiting.delete(id);
    this.#answered = true;
    const { slotBytes, slots } = this.#options.exchange;
    // Reused host buffers: a fresh 32 MB array per batch cost ~100 ms of page faults here.
    const out = (this.#buffers[id % this.#buffers.length] ??= new Float32Array(expected));
    const bytes = Buffer.from(out.buffer);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(this.#exchangeFd, bytes, done, bytes.length - done, (id % slots) * slotBytes + done);
      if (n === 0) break;
      done += n;
    }
    if (done < bytes.length) {
      this.#record.protocolError ??= `the exchange file held ${done} of ${bytes.length} bytes of logits for request ${id}`;
      waiter.reject(new ServerGone(this.#record.protocolError));
      this.kill();
      return;
    }
    waiter.resolve(out);
  }
}
