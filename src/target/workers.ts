// Connections on worker threads (`tsiscsi target --workers N`). Node cannot hand a socket to another
// thread, so the main thread keeps every TCP socket and moves bytes: it reads the first Login Request
// to learn which target the connection is for, and from then on relays the connection's bytes to the
// worker that owns that target, and the worker's bytes back. Each target (its LUNs, sessions,
// reservations, unit attentions, task sets) lives in exactly one worker, so SCSI semantics are those
// of a single-threaded target; discovery sessions go to the first worker, which knows every target's
// name and ACL but opens no LUN it does not own. What this buys or costs on a given machine is measured
// in bench/README.md.

import { Worker } from 'node:worker_threads';
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { BHS_LENGTH, Opcode } from '../pdu/constants.js';
import { parseTextKeys } from '../pdu/text-keys.js';
import type { ServerConfig } from './config.js';
import { parsePortal, DEFAULT_PORTAL } from './config.js';
import { listenOn, type Portal } from './portal.js';

/** Messages from the main thread to a worker. */
export type ToWorker =
  | { type: 'open'; id: number; remoteAddress: string; remotePort: number; localAddress: string; localPort: number }
  | { type: 'data'; id: number; buf: Uint8Array }
  | { type: 'written'; id: number }
  | { type: 'close'; id: number }
  | { type: 'shutdown'; graceMs: number };

/** Messages from a worker to the main thread. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | { type: 'data'; id: number; buf: Uint8Array }
  | { type: 'end'; id: number }
  | { type: 'close'; id: number }
  | { type: 'closed' };

/** What a worker needs to build its share of the targets. */
export interface WorkerData {
  config: ServerConfig;
  /** Indexes (in config.targets) of the targets this worker serves. */
  owned: number[];
  logLevel: string;
  /** The portals the main thread listens on, for SendTargets' TargetAddress. */
  portals: Portal[];
}

interface Relay {
  socket: Socket;
  worker: Worker;
}

/** The main thread's side: listeners, the first-login sniffer, and the relay to workers. */
export class WorkerTarget {
  readonly bound: Portal[] = [];
  readonly #cfg: ServerConfig;
  readonly #n: number;
  readonly #log: Logger;
  readonly #workers: Worker[] = [];
  readonly #ownerOf = new Map<string, Worker>();
  readonly #relays = new Map<number, Relay>();
  readonly #servers: Server[] = [];
  #nextId = 1;
  #closing = false;

  constructor(cfg: ServerConfig, workers: number, log: Logger) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`--workers ${workers} must be a positive integer`);
    this.#cfg = cfg;
    this.#n = Math.min(workers, cfg.targets.length);
    this.#log = log;
  }

  targetNames(): string[] {
    return this.#cfg.targets.map((t) => t.iqn);
  }

  async start(): Promise<Portal[]> {
    const portals = (this.#cfg.portals ?? [DEFAULT_PORTAL]).map((p, i) => parsePortal(p, `portals[${i}]`));
    // Listen first: the workers' SendTargets answers need the bound addresses (port 0 picks one).
    for (const p of portals) {
      const { server, bound } = await listenOn(p, (s) => this.#accept(s));
      this.bound.push(bound);
      this.#servers.push(server);
    }
    const entry = new URL('./worker-entry.js', import.meta.url);
    const owned: number[][] = Array.from({ length: this.#n }, () => []);
    this.#cfg.targets.forEach((_, i) => owned[i % this.#n]!.push(i));
    const started: Promise<void>[] = [];
    for (let w = 0; w < this.#n; w++) {
      const data: WorkerData = { config: this.#cfg, owned: owned[w]!, logLevel: this.#log.level, portals: this.bound };
      const worker = new Worker(entry, { workerData: data });
      this.#workers.push(worker);
      for (const i of owned[w]!) this.#ownerOf.set(this.#cfg.targets[i]!.iqn, worker);
      started.push(
        new Promise((resolve, reject) => {
          const onMsg = (m: FromWorker) => {
            if (m.type === 'ready') {
              worker.off('message', onMsg);
              resolve();
            } else if (m.type === 'error') reject(new Error(m.message));
          };
          worker.on('message', onMsg);
          worker.once('error', reject);
        }),
      );
      worker.on('message', (m: FromWorker) => this.#fromWorker(worker, m));
      worker.on('error', (err) => this.#log.error({ err }, 'target worker failed'));
    }
    await Promise.all(started);
    for (const b of this.bound) this.#log.info({ host: b.host, port: b.port, workers: this.#n }, 'listening');
    return this.bound;
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const id = this.#nextId++;
    let sniffed: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      sniffed = sniffed.length === 0 ? chunk : Buffer.concat([sniffed, chunk]);
      const worker = this.#route(sniffed);
      if (worker === undefined) {
        // Not enough yet (or garbage beyond any login): a login PDU is at most 48 + 8192 + AHS bytes.
        if (sniffed.length > BHS_LENGTH + 8192 + 1024) socket.destroy();
        return;
      }
      socket.off('data', onData);
      this.#relays.set(id, { socket, worker });
      worker.postMessage({
        type: 'open',
        id,
        remoteAddress: socket.remoteAddress ?? '',
        remotePort: socket.remotePort ?? 0,
        localAddress: socket.localAddress ?? '',
        localPort: socket.localPort ?? 0,
      } satisfies ToWorker);
      this.#forward(id, worker, sniffed);
      socket.on('data', (d: Buffer) => this.#forward(id, worker, d));
    };
    socket.on('data', onData);
    socket.on('error', () => {});
    socket.on('close', () => {
      const r = this.#relays.get(id);
      if (r !== undefined) {
        this.#relays.delete(id);
        r.worker.postMessage({ type: 'close', id } satisfies ToWorker);
      }
    });
  }

  /** The worker for a connection, once its first Login Request is whole; the first worker otherwise. */
  #route(buf: Buffer): Worker | undefined {
    if (buf.length < BHS_LENGTH) return undefined;
    if ((buf[0]! & 0x3f) !== Opcode.LoginRequest) return this.#workers[0];
    const dsl = buf.readUIntBE(5, 3);
    const ahs = buf[4]! * 4;
    if (buf.length < BHS_LENGTH + ahs + dsl) return undefined;
    try {
      const keys = parseTextKeys(buf.subarray(BHS_LENGTH + ahs, BHS_LENGTH + ahs + dsl), { source: 'login-request' });
      const name = keys.find(([k]) => k === 'TargetName')?.[1];
      if (name !== undefined) return this.#ownerOf.get(name) ?? this.#workers[0];
    } catch {
      // Malformed text: the worker's login will refuse it properly.
    }
    return this.#workers[0];
  }

  #forward(id: number, worker: Worker, d: Buffer): void {
    // Copy into a buffer of its own, so its memory can move to the worker without a second copy.
    const own = new Uint8Array(d.length);
    own.set(d);
    worker.postMessage({ type: 'data', id, buf: own } satisfies ToWorker, [own.buffer]);
  }

  #fromWorker(worker: Worker, m: FromWorker): void {
    if (m.type === 'closed' || m.type === 'ready' || m.type === 'error') return;
    const r = this.#relays.get(m.id);
    if (r === undefined) return;
    if (m.type === 'data') {
      const ok = r.socket.write(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength));
      // The worker's write completes when the socket took it: its own writer sees the backpressure.
      if (ok) worker.postMessage({ type: 'written', id: m.id } satisfies ToWorker);
      else r.socket.once('drain', () => worker.postMessage({ type: 'written', id: m.id } satisfies ToWorker));
    } else if (m.type === 'end') {
      r.socket.end();
    } else if (m.type === 'close') {
      this.#relays.delete(m.id);
      r.socket.destroy();
    }
  }

  async close(graceMs = 5000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await Promise.all(
      this.#workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => void w.terminate().then(() => resolve()), graceMs + 2000);
            t.unref();
            w.on('message', (m: FromWorker) => {
              if (m.type === 'closed') {
                clearTimeout(t);
                void w.terminate().then(() => resolve());
              }
            });
            w.postMessage({ type: 'shutdown', graceMs } satisfies ToWorker);
          }),
      ),
    );
    for (const r of this.#relays.values()) r.socket.destroy();
    this.#relays.clear();
    this.#log.info('target stopped');
  }
}
