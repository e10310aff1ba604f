// One worker process as the main process sees it (pool.ts): started with its share of the targets, handed
// connections, asked calls (messages.ts), stopped within bounds; restarted when it dies, unless it keeps
// dying, which is then reported as fatal. Connections that arrive while it (re)starts wait for it.

import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { CloseSummary, ShutdownOptions } from '../shutdown.js';
import type { FromWorker, ToWorker, WorkerCallName, WorkerCalls, WorkerInit } from './messages.js';

/** A worker that dies this many times within {@link CRASH_WINDOW_MS} is not restarted again: fatal. */
export const CRASH_LIMIT = 3;
/** The window over which a worker's deaths are counted (see {@link CRASH_LIMIT}). */
export const CRASH_WINDOW_MS = 60_000;
/** Wait before a restart, times the number of recent crashes (a crash loop does not spin). */
const RESTART_DELAY_MS = 250;
/** A call the worker has not answered in this long fails (shutdown has its own, longer bound). */
const CALL_TIMEOUT_MS = 30_000;

const ENTRY = fileURLToPath(new URL('./worker-main.js', import.meta.url));

interface Waiting {
  socket: Socket;
  first: Buffer;
  timer: NodeJS.Timeout;
}

interface PendingCall {
  resolve(answer: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** What a slot reports to its pool. */
export interface SlotEvents {
  /** The worker died CRASH_LIMIT times within CRASH_WINDOW_MS: its targets cannot be served. */
  fatal(reason: string): void;
}

/** What a slot's worker starts with beyond its fixed settings: taken afresh at every (re)start. */
export type Assignment = () => Pick<WorkerInit, 'config' | 'serve'>;

/** One worker process: its targets, its connection queue while it starts, its calls, its restarts. */
export class WorkerSlot {
  readonly slot: number;
  readonly #init: Omit<WorkerInit, 'generation' | 'config' | 'serve'>;
  /**
   * The running configuration and this slot's targets in it, asked at every start: a worker restarted
   * after a crash serves what admin commands made of its targets (LUNs added, targets moved in).
   */
  readonly #assignment: Assignment;
  /** The names of the targets the worker started with (for logs). */
  #targets: string[] = [];
  readonly #log: Logger;
  readonly #events: SlotEvents;
  /** How long a connection waits for the worker to be ready before it is closed. */
  readonly #waitMs: number;
  #child: ChildProcess | undefined;
  #ready = false;
  /** Ready once: after that, a worker that dies (even while restarting) counts as a crash. */
  #started = false;
  #stopping = false;
  #generation = 0;
  #seq = 0;
  readonly #calls = new Map<number, PendingCall>();
  readonly #waiting = new Set<Waiting>();
  readonly #crashes: number[] = [];

  constructor(init: Omit<WorkerInit, 'generation' | 'config' | 'serve'>, assignment: Assignment, log: Logger, events: SlotEvents, waitMs: number) {
    this.slot = init.slot;
    this.#init = init;
    this.#assignment = assignment;
    this.#log = log;
    this.#events = events;
    this.#waitMs = waitMs;
  }

  /** The worker's process id, while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the worker; rejects with the worker's own message when it cannot serve its targets. */
  start(): Promise<void> {
    const child = fork(ENTRY, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child = child;
    const init: WorkerInit = { ...this.#init, ...this.#assignment(), generation: this.#generation++ };
    this.#targets = init.serve.map((i) => init.config.targets[i]!.iqn);
    const started = new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'ready') {
          this.#ready = true;
          this.#started = true;
          this.#log.info({ worker: this.slot, pid: child.pid, targets: this.#targets }, 'worker started');
          for (const w of this.#waiting) {
            clearTimeout(w.timer);
            this.#send(w.socket, w.first);
          }
          this.#waiting.clear();
          resolve();
        } else if (m.type === 'failed') {
          reject(new Error(m.message));
        } else if (m.type === 'answer') {
          this.#answered(m);
        }
      };
      child.on('message', onMessage);
      child.once('exit', (code, signal) => {
        if (!this.#ready) reject(new Error(`worker ${this.slot} exited (${signal ?? `code ${code}`}) before it was ready`));
        this.#exited(child, code, signal);
      });
      child.on('error', (err) => {
        this.#log.error({ worker: this.slot, err }, 'worker process error');
        if (!this.#ready) reject(err);
      });
    });
    child.send({ type: 'init', init } satisfies ToWorker);
    return started;
  }

  /** Hands a connection (and the bytes read from it first) to the worker, or queues it until the worker is ready. */
  hand(socket: Socket, first: Buffer): void {
    if (this.#stopping) return void socket.destroy();
    if (this.#ready) return this.#send(socket, first);
    const w: Waiting = {
      socket,
      first,
      timer: setTimeout(() => {
        this.#waiting.delete(w);
        this.#log.warn({ worker: this.slot, peer: socket.remoteAddress }, 'connection closed: its worker did not become ready in time');
        socket.destroy();
      }, this.#waitMs),
    };
    this.#waiting.add(w);
  }

  #send(socket: Socket, first: Buffer): void {
    const child = this.#child;
    if (child === undefined || !child.connected) return void socket.destroy();
    // The socket's handle goes with the message; the main process's copy is closed once it is sent.
    child.send({ type: 'connection', first } satisfies ToWorker, socket, {}, (err) => {
      if (err !== null && err !== undefined) {
        this.#log.warn({ worker: this.slot, err: err.message }, 'could not hand a connection to its worker');
        socket.destroy();
      }
    });
  }

  /** Asks the worker `name` with `request`; rejects if it dies or does not answer in time. */
  call<K extends WorkerCallName>(name: K, request: WorkerCalls[K]['request'], timeoutMs = CALL_TIMEOUT_MS): Promise<WorkerCalls[K]['answer']> {
    const child = this.#child;
    if (child === undefined || !this.#ready || !child.connected) return Promise.reject(new Error(`worker ${this.slot} is not running`));
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(seq);
        reject(new Error(`worker ${this.slot} did not answer ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#calls.set(seq, { resolve: resolve as (a: unknown) => void, reject, timer });
      child.send({ type: 'call', seq, name, request } as ToWorker);
    });
  }

  #answered(m: Extract<FromWorker, { type: 'answer' }>): void {
    const c = this.#calls.get(m.seq);
    if (c === undefined) return;
    this.#calls.delete(m.seq);
    clearTimeout(c.timer);
    if (m.ok) c.resolve(m.answer);
    else c.reject(new Error(m.error));
  }

  #exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    this.#ready = false;
    this.#child = undefined;
    for (const c of this.#calls.values()) {
      clearTimeout(c.timer);
      c.reject(new Error(`worker ${this.slot} exited`));
    }
    this.#calls.clear();
    // A first start that fails is the pool's to report (start() rejects); later deaths are crashes.
    if (this.#stopping || !this.#started) return;
    const now = Date.now();
    this.#crashes.push(now);
    while (this.#crashes.length > 0 && this.#crashes[0]! < now - CRASH_WINDOW_MS) this.#crashes.shift();
    const targets = this.#targets;
    this.#log.error({ worker: this.slot, pid: child.pid, code, signal, targets, crashes: this.#crashes.length }, 'worker died: its sessions are lost');
    if (this.#crashes.length >= CRASH_LIMIT) {
      const reason = `worker ${this.slot} (${targets.join(', ')}) died ${this.#crashes.length} times within ${CRASH_WINDOW_MS / 1000} s`;
      this.#dropWaiting();
      this.#events.fatal(reason);
      return;
    }
    setTimeout(() => {
      if (this.#stopping) return;
      this.start().catch((e: unknown) => this.#log.error({ worker: this.slot, err: (e as Error).message }, 'worker restart failed'));
    }, RESTART_DELAY_MS * this.#crashes.length).unref();
  }

  /**
   * Stops the worker: its server shuts down within `opts` (sessions asked to log out, backends flushed
   * and closed) and its summary comes back. A worker that does not answer within `boundMs` is killed,
   * which the summary reports as a problem.
   */
  async stop(opts: ShutdownOptions, boundMs: number): Promise<CloseSummary> {
    this.#stopping = true;
    this.#dropWaiting();
    const child = this.#child;
    if (child === undefined) return { clean: true, loggedOut: 0, forced: 0, problems: [] };
    const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
    let summary: CloseSummary;
    try {
      summary = this.#ready ? await this.call('shutdown', opts, boundMs) : { clean: true, loggedOut: 0, forced: 0, problems: [] };
    } catch (e) {
      const problem = `worker ${this.slot}: ${(e as Error).message}`;
      this.#log.error({ worker: this.slot, pid: child.pid }, problem);
      summary = { clean: false, loggedOut: 0, forced: 0, problems: [problem] };
    }
    // The worker exits by itself after answering; one that does not is killed.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    return summary;
  }

  /** Kills the worker at once (a second signal, or a start-up that failed elsewhere). */
  kill(): void {
    this.#stopping = true;
    this.#dropWaiting();
    this.#child?.kill('SIGKILL');
  }

  /** Closes the connections waiting for a worker that will not serve them. */
  #dropWaiting(): void {
    for (const w of this.#waiting) {
      clearTimeout(w.timer);
      w.socket.destroy();
    }
    this.#waiting.clear();
  }
}
