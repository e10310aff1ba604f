// A target worker thread (see workers.ts): serves its share of the targets over "virtual sockets"
// whose bytes the main thread relays. The connection code is the same as in a single-threaded target.

import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { buildServer } from './config.js';
import type { FromWorker, ToWorker, WorkerData } from './workers.js';

const port = parentPort!;
const data = workerData as WorkerData;

/** Looks enough like a net.Socket for TargetConnection: a Duplex whose ends are messages. */
class VirtualSocket extends Duplex {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Write callbacks waiting for the main thread to say the socket took the bytes. */
  readonly pendingWrites: ((err?: Error | null) => void)[] = [];

  constructor(m: Extract<ToWorker, { type: 'open' }>) {
    super({ allowHalfOpen: false });
    this.id = m.id;
    this.remoteAddress = m.remoteAddress;
    this.remotePort = m.remotePort;
    this.localAddress = m.localAddress;
    this.localPort = m.localPort;
  }

  setNoDelay(): this {
    return this;
  }

  override _read(): void {}

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    let n = 0;
    for (const c of chunks) n += c.chunk.length;
    const buf = new Uint8Array(n);
    let off = 0;
    for (const c of chunks) {
      buf.set(c.chunk, off);
      off += c.chunk.length;
    }
    this.pendingWrites.push(cb);
    port.postMessage({ type: 'data', id: this.id, buf } satisfies FromWorker, [buf.buffer]);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this._writev([{ chunk }], cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    port.postMessage({ type: 'end', id: this.id } satisfies FromWorker);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    sockets.delete(this.id);
    for (const w of this.pendingWrites.splice(0)) w(err ?? new Error('socket closed'));
    port.postMessage({ type: 'close', id: this.id } satisfies FromWorker);
    cb(err);
  }
}

const sockets = new Map<number, VirtualSocket>();

async function main(): Promise<void> {
  const log = pino({ level: data.logLevel, base: { worker: data.owned.join(',') } }, pino.destination(2));
  const server = await buildServer(data.config, log, {}, { openLunsOf: new Set(data.owned) });
  server.bound = data.portals;
  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'open': {
        const s = new VirtualSocket(m);
        sockets.set(m.id, s);
        server.adopt(s as unknown as Socket);
        return;
      }
      case 'data':
        sockets.get(m.id)?.push(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength));
        return;
      case 'written':
        sockets.get(m.id)?.pendingWrites.shift()?.();
        return;
      case 'close':
        sockets.get(m.id)?.destroy();
        return;
      case 'shutdown':
        void server.close({ graceMs: m.graceMs }).then(() => port.postMessage({ type: 'closed' } satisfies FromWorker));
        return;
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
}

main().catch((e: unknown) => port.postMessage({ type: 'error', message: (e as Error).message } satisfies FromWorker));
