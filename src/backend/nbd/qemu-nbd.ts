// A supervised qemu-nbd child serving one QEMU block image (a Ceph RBD image through qemu's rbd
// driver, librbd) on a private unix socket: started with the LUN, restarted with backoff if it dies,
// stopped when the LUN is closed or this process exits; what it writes on stderr goes to our log.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendLog } from './backend.js';

/** Options of {@link QemuNbd.start}. */
export interface QemuNbdOptions {
  /** The image as qemu's `json:` pseudo-protocol takes it, e.g. { driver: 'raw', file: { driver: 'rbd', ... } }. */
  image: Record<string, unknown>;
  /** The export name qemu-nbd serves it under. */
  exportName: string;
  /** Clients it accepts at once (`--shared`): one per NBD connection of the LUN. */
  shared: number;
  readOnly: boolean;
  /** What the LUN is called in logs and errors, e.g. rbd:pool/image. */
  name: string;
  log: BackendLog;
  /** The qemu-nbd binary (default: `qemu-nbd` on PATH). */
  command?: string;
}

/** Restart backoff: first delay, ceiling, and how long a child must live for the backoff to reset. */
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 10_000;
const HEALTHY_AFTER_MS = 30_000;
/** After SIGTERM, how long qemu-nbd gets to finish before SIGKILL. */
const STOP_GRACE_MS = 3000;
/** stderr lines kept for the error that explains a failed start. */
const STDERR_TAIL = 10;

/** Children alive in this process, killed if it exits without closing its LUNs. */
const live = new Set<ChildProcess>();
let exitHook = false;
function killAllOnExit(): void {
  for (const c of live) c.kill('SIGKILL');
}

/** One supervised qemu-nbd. */
export class QemuNbd {
  /** The unix socket it listens on. */
  readonly socketPath: string;
  readonly #pidFile: string;
  readonly #dir: string;
  readonly #opts: QemuNbdOptions;
  #child: ChildProcess | null = null;
  #startedAt = 0;
  #restarts = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopping = false;
  /** It has served once: from then on a death is restarted (before, it fails the start). */
  #ready = false;
  #tail: string[] = [];
  /** Resolves when the current child exits (for stop). */
  #exited: Promise<void> = Promise.resolve();

  /** Starts qemu-nbd; resolves once it listens, rejects (with its last stderr lines) if it exits first. */
  static async start(opts: QemuNbdOptions, readyTimeoutMs: number): Promise<QemuNbd> {
    const q = new QemuNbd(opts);
    try {
      await q.#waitReady(readyTimeoutMs);
    } catch (e) {
      await q.stop();
      throw e;
    }
    return q;
  }

  private constructor(opts: QemuNbdOptions) {
    this.#opts = opts;
    // A private directory (0700): no other user can reach the export through the socket.
    this.#dir = mkdtempSync(join(tmpdir(), 'tsiscsi-qemu-nbd-'));
    this.socketPath = join(this.#dir, 'nbd.sock');
    this.#pidFile = join(this.#dir, 'qemu-nbd.pid');
    if (!exitHook) {
      exitHook = true;
      process.once('exit', killAllOnExit);
    }
    this.#spawn();
  }

  /** The child's pid, while one runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Times it was restarted after dying. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The last lines it wrote on stderr. */
  get stderrTail(): string {
    return this.#tail.join('\n');
  }

  #args(): string[] {
    const o = this.#opts;
    return [
      `--socket=${this.socketPath}`,
      `--export-name=${o.exportName}`,
      '--persistent',
      // Written once it listens: the readiness signal (a probe connection would make it log an error).
      `--pid-file=${this.#pidFile}`,
      `--shared=${o.shared}`,
      // UNMAP becomes a discard in librbd (or a hole in a file), not a no-op.
      '--discard=unmap',
      ...(o.readOnly ? ['--read-only'] : []),
      `json:${JSON.stringify(o.image)}`,
    ];
  }

  #spawn(): void {
    rmSync(this.socketPath, { force: true });
    rmSync(this.#pidFile, { force: true });
    const child = spawn(this.#opts.command ?? 'qemu-nbd', this.#args(), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    this.#startedAt = Date.now();
    live.add(child);
    const log = this.#opts.log;
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.#stderrLine(line);
    });
    this.#exited = new Promise<void>((resolve) => {
      // 'error' (it could not be spawned) and 'exit' may both come: the first one ends this child.
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (ended) return;
        ended = true;
        if (partial !== '') this.#stderrLine(partial);
        live.delete(child);
        if (this.#child === child) this.#child = null;
        resolve();
        this.#onExit(code, signal);
      };
      child.once('error', (e) => {
        this.#stderrLine(`cannot run qemu-nbd: ${e.message}`);
        end(null, null);
      });
      child.once('exit', end);
    });
    log.info({ lun: this.#opts.name, pid: child.pid, socket: this.socketPath }, 'qemu-nbd started');
  }

  #stderrLine(line: string): void {
    if (line.trim() === '') return;
    this.#tail.push(line);
    if (this.#tail.length > STDERR_TAIL) this.#tail.shift();
    this.#opts.log.warn({ lun: this.#opts.name, qemuNbd: this.#child?.pid }, line.startsWith('qemu-nbd:') ? line : `qemu-nbd: ${line}`);
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#stopping || !this.#ready) return;
    const lived = Date.now() - this.#startedAt;
    if (lived > HEALTHY_AFTER_MS) this.#restarts = 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.min(this.#restarts, 10));
    this.#restarts++;
    this.#opts.log.error({ lun: this.#opts.name, code, signal, restartInMs: delay }, 'qemu-nbd exited; restarting it');
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#stopping) this.#spawn();
    }, delay);
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const child = this.#child;
    for (;;) {
      if (this.#child !== child || child === null || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(this.#tail.length > 0 ? this.#tail[this.#tail.length - 1]! : 'qemu-nbd exited before serving it');
      }
      if (existsSync(this.#pidFile)) {
        this.#ready = true;
        return;
      }
      if (Date.now() > deadline) throw new Error(`qemu-nbd did not serve ${this.#opts.name} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Stops the child (SIGTERM, then SIGKILL) and removes the socket's directory; idempotent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const child = this.#child;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.#exited;
      clearTimeout(t);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
