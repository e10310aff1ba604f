// One TCP connection of the initiator: the socket glue around the framer (bytes → PDUs, read into
// transport/read-arena.ts) and the PduWriter (PDUs → one write per event-loop turn, through
// transport/coalescing-socket.ts). No protocol state lives here: PDUs go to whoever listens (the login
// exchange, then the session core). Failures are reported once.

import { connect, type Socket } from 'node:net';
import { AbortError, ConnectionError, IscsiProtocolError, TimeoutError } from '../errors.js';
import { decodePdu } from '../pdu/codec.js';
import { Framer, type Frame } from '../pdu/framer.js';
import type { InitiatorPdu, TargetPdu } from '../pdu/types.js';
import { CoalescingSocket } from '../transport/coalescing-socket.js';
import { PduWriter } from '../transport/pdu-writer.js';
import { ReadArena } from '../transport/read-arena.js';

export interface TransportOptions {
  /** Milliseconds to wait for the TCP connection. */
  connectTimeout: number;
  signal?: AbortSignal | undefined;
  /** The largest data segment accepted (our MaxRecvDataSegmentLength). */
  maxRecvDataSegmentLength: number;
}

/** One TCP connection: Framer in, PduWriter out, failures reported once. Holds no protocol state. */
export class Transport {
  readonly socket: Socket;
  readonly #framer: Framer;
  readonly #writer: PduWriter;
  #failed: Error | null = null;
  /** PDUs go here; until a listener is set they queue for {@link receive}. */
  #onPdu: ((pdu: TargetPdu) => void) | null = null;
  #onFailure: ((err: Error) => void) | null = null;
  #onDrain: (() => void) | null = null;
  readonly #inbox: TargetPdu[] = [];
  #inboxWaiter: { resolve: (p: TargetPdu) => void; reject: (e: Error) => void } | null = null;
  readonly peer: string;

  private constructor(socket: Socket, opts: TransportOptions, reads: { sink: ((b: Buffer) => void) | null; early: Buffer[] }) {
    this.socket = socket;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    this.#writer = new PduWriter(new CoalescingSocket(socket), { onDrain: () => this.#onDrain?.() });
    this.#framer = new Framer(
      { onFrame: (f) => this.#frame(f), onError: (e) => this.#fail(e) },
      { maxRecvDataSegmentLength: opts.maxRecvDataSegmentLength },
    );
    reads.sink = (b) => this.#framer.push(b);
    for (const b of reads.early.splice(0)) this.#framer.push(b);
    socket.on('error', (err) => this.#fail(new ConnectionError('ERR_CONNECTION', `connection to ${this.peer} failed: ${err.message}`, { cause: err })));
    socket.on('end', () => this.#fail(new ConnectionError('ERR_CONNECTION_CLOSED', `the target at ${this.peer} closed the connection`)));
    socket.on('close', () => this.#fail(new ConnectionError('ERR_CONNECTION_CLOSED', `the connection to ${this.peer} closed`)));
  }

  /** Opens a TCP connection; rejects with ConnectionError (refused, unreachable), TimeoutError or AbortError. */
  static connect(host: string, port: number, opts: TransportOptions): Promise<Transport> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new AbortError('connect aborted'));
      // Received bytes go straight to the framer (onread), not through a Readable stream.
      const arena = new ReadArena();
      const reads: { sink: ((b: Buffer) => void) | null; early: Buffer[] } = { sink: null, early: [] };
      const socket = connect({
        host,
        port,
        onread: {
          buffer: () => arena.next(),
          // Returning false would pause reading (Node's net docs); we never do.
          callback: (n: number, buf: Uint8Array): boolean => {
            arena.used(n);
            const b = Buffer.from(buf.buffer, buf.byteOffset, n);
            if (reads.sink !== null) reads.sink(b);
            else reads.early.push(b);
            return true;
          },
        },
      });
      let done = false;
      const finish = (err: Error | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', onError);
        if (err !== null) {
          socket.destroy();
          reject(err);
        } else {
          resolve(new Transport(socket, opts, reads));
        }
      };
      const onError = (err: NodeJS.ErrnoException): void => {
        const hint = err.code === 'ECONNREFUSED' ? ' (nothing listens there: is the target running, and is the port right?)' : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? ' (unknown host name)' : '';
        finish(new ConnectionError('ERR_CONNECT', `cannot connect to ${host}:${port}: ${err.code ?? err.message}${hint}`, { cause: err }));
      };
      const onAbort = (): void => finish(new AbortError('connect aborted'));
      const timer = setTimeout(() => finish(new TimeoutError(`no TCP connection to ${host}:${port} within ${opts.connectTimeout} ms`)), opts.connectTimeout);
      socket.once('error', onError);
      socket.once('connect', () => finish(null));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** True once the connection failed or was destroyed. */
  get failed(): boolean {
    return this.#failed !== null;
  }

  /** True while the socket holds more than the writer's high-water mark. */
  get congested(): boolean {
    return this.#writer.congested;
  }

  /** Writer counters (PDUs, bytes, flushes). */
  get writer(): PduWriter {
    return this.#writer;
  }

  /** Queues a PDU; everything queued in one event-loop turn leaves in one write. */
  send(pdu: InitiatorPdu): void {
    if (this.#failed === null) this.#writer.send(pdu);
  }

  readonly sendBound = (pdu: InitiatorPdu): void => this.send(pdu);

  /** Digests for PDUs from now on, both ways (RFC 7143 §13.1: they start after the Login Phase). */
  setDigests(header: boolean, data: boolean): void {
    this.#writer.setDigests({ header, data });
    this.#framer.setDigests(header, data);
  }

  setMaxRecvDataSegmentLength(n: number): void {
    this.#framer.setMaxRecvDataSegmentLength(n);
  }

  /**
   * Delivers PDUs to `onPdu` from now on (queued ones first), failures to `onFailure` (once), drain
   * notices to `onDrain`.
   */
  listen(onPdu: (pdu: TargetPdu) => void, onFailure: (err: Error) => void, onDrain: () => void): void {
    this.#onPdu = onPdu;
    this.#onFailure = onFailure;
    this.#onDrain = onDrain;
    while (this.#inbox.length > 0 && this.#failed === null) onPdu(this.#inbox.shift()!);
    if (this.#failed !== null) onFailure(this.#failed);
  }

  /** The next PDU (before {@link listen}): for the login and text exchanges. */
  receive(timeoutMs: number, what: string): Promise<TargetPdu> {
    if (this.#inbox.length > 0) return Promise.resolve(this.#inbox.shift()!);
    if (this.#failed !== null) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#inboxWaiter = null;
        reject(new TimeoutError(`no ${what} from ${this.peer} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#inboxWaiter = {
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  #frame(f: Frame): void {
    if (this.#failed !== null) return;
    let pdu: TargetPdu;
    try {
      pdu = decodePdu('target', f.bhs, f.ahs, f.data);
    } catch (e) {
      return this.#fail(e instanceof Error ? e : new Error(String(e)));
    }
    if (this.#onPdu !== null) return this.#onPdu(pdu);
    const w = this.#inboxWaiter;
    if (w !== null) {
      this.#inboxWaiter = null;
      w.resolve(pdu);
    } else {
      this.#inbox.push(pdu);
    }
  }

  #fail(err: Error): void {
    if (this.#failed !== null) return;
    // A framing error from the target: at ErrorRecoveryLevel 0 the connection cannot be trusted any more.
    this.#failed = err instanceof IscsiProtocolError || err instanceof ConnectionError ? err : new ConnectionError('ERR_CONNECTION', err.message, { cause: err });
    this.#writer.close();
    this.#framer.pause();
    this.socket.destroy();
    const w = this.#inboxWaiter;
    this.#inboxWaiter = null;
    w?.reject(this.#failed);
    this.#onFailure?.(this.#failed);
  }

  /** Closes the connection (idempotent). Listeners are not told: the caller knows. */
  destroy(reason?: Error): void {
    this.#onFailure = null;
    this.#onPdu = null;
    this.#fail(reason ?? new ConnectionError('ERR_CONNECTION_CLOSED', 'closed by the initiator'));
  }

  /** Sends what is queued, then half-closes and closes the socket. */
  async end(timeoutMs = 1000): Promise<void> {
    this.#onFailure = null;
    this.#onPdu = null;
    if (this.#failed !== null) return;
    this.#writer.flushNow();
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.socket.end(() => {
        clearTimeout(t);
        resolve();
      });
    });
    this.destroy();
  }
}
