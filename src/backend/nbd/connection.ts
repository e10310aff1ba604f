// One NBD connection: the socket (TCP with TCP_NODELAY, or a unix socket), the handshake, and the
// transmission phase with requests pipelined and matched to replies by cookie. Everything queued in
// one event-loop turn goes out in one corked write. When the connection ends, for whatever reason,
// the requests still outstanding are handed back to its owner, which sends them again elsewhere.

import { connect as netConnect, type Socket } from 'node:net';
import { NBD_CMD, NBD_REQUEST_LENGTH } from './constants.js';
import { NbdConnectError } from './errors.js';
import { negotiate, type ExportInfo, type HandshakeIo } from './handshake.js';
import { encodeRequest, ReplyParser, type ReplySink } from './replies.js';
import type { NbdRequest } from './request.js';

/** Where an NBD server listens: TCP host and port, or a unix socket path. */
export type NbdEndpoint = { host: string; port: number } | { path: string };

/** What the connection tells its owner. */
export interface ConnectionOwner {
  /** A request got its reply: `error` is the NBD error value (0: success). */
  onReply(conn: NbdConnection, req: NbdRequest, error: number, message: string): void;
  /** The connection ended; `outstanding` are its requests that had not settled, in the order sent. */
  onClosed(conn: NbdConnection, outstanding: NbdRequest[], cause: Error): void;
}

/** Options of {@link NbdConnection.open}. */
export interface ConnectionOptions {
  /** The export's URL, for error messages. */
  url: string;
  /** Time for connect and handshake together. */
  connectTimeoutMs: number;
  /** Ask for structured replies (default true). */
  structuredReplies?: boolean;
}

/** TCP keepalive probes start after this much silence: a peer that vanished without a FIN is noticed. */
const KEEPALIVE_MS = 10_000;
/** After NBD_CMD_DISC, how long the server gets to close before the socket is destroyed. */
const DISCONNECT_GRACE_MS = 1000;

/** Exact reads over a socket's 'data' events, for the handshake only. */
class HandshakeReader implements HandshakeIo {
  #chunks: Buffer[] = [];
  #available = 0;
  #waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  #error: Error | null = null;
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#available += chunk.length;
    this.#fulfil();
  }

  fail(e: Error): void {
    this.#error ??= e;
    const w = this.#waiter;
    this.#waiter = null;
    w?.reject(e);
  }

  read(n: number): Promise<Buffer> {
    if (this.#error !== null) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#waiter = { n, resolve, reject };
      this.#fulfil();
    });
  }

  write(data: Buffer): void {
    this.#socket.write(data);
  }

  /** The bytes received past the handshake (the server may not send any before a request). */
  rest(): Buffer[] {
    const r = this.#chunks;
    this.#chunks = [];
    return r;
  }

  #fulfil(): void {
    const w = this.#waiter;
    if (w === null || this.#available < w.n) return;
    this.#waiter = null;
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out = all.subarray(0, w.n);
    this.#chunks = all.length > w.n ? [all.subarray(w.n)] : [];
    this.#available -= w.n;
    w.resolve(out);
  }
}

/** One connection in the transmission phase. */
export class NbdConnection implements ReplySink<NbdRequest> {
  readonly info: ExportInfo;
  readonly #socket: Socket;
  readonly #parser: ReplyParser<NbdRequest>;
  #owner: ConnectionOwner | null = null;
  /** Requests in flight by slot (the cookie's lower half); freed slots are reused. */
  #slots: (NbdRequest | null)[] = [];
  #free: number[] = [];
  #seq = 0;
  #inFlight = 0;
  #queue: Buffer[] = [];
  #scheduled = false;
  #closed = false;
  #closeCause: Error | null = null;

  /** Connects, runs the handshake and returns the connection in the transmission phase. */
  static async open(endpoint: NbdEndpoint, exportName: string, opts: ConnectionOptions): Promise<NbdConnection> {
    const socket = 'path' in endpoint ? netConnect({ path: endpoint.path }) : netConnect({ host: endpoint.host, port: endpoint.port });
    const reader = new HandshakeReader(socket);
    let failWith!: (e: Error) => void;
    // The first failure wins: a timeout, a socket error, or the server hanging up.
    const failed = new Promise<never>((_, reject) => (failWith = reject));
    failed.catch(() => {});
    const fail = (e: Error): void => {
      reader.fail(e);
      failWith(e);
    };
    const onData = (d: Buffer): void => reader.push(d);
    const onClose = (): void => fail(new Error('the server closed the connection during the handshake'));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
    const timer = setTimeout(() => {
      fail(new Error(`no answer within ${opts.connectTimeoutMs} ms`));
      socket.destroy();
    }, opts.connectTimeoutMs);
    try {
      await Promise.race([new Promise<void>((resolve) => socket.once('connect', resolve)), failed]);
      // Without TCP_NODELAY a small request waits for the previous one's ACK (Nagle), and pipelined
      // requests at depth > 1 stall for tens of milliseconds.
      if (!('path' in endpoint)) {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, KEEPALIVE_MS);
      }
      const info = await Promise.race([negotiate(reader, exportName, opts.structuredReplies === false ? { structuredReplies: false } : {}), failed]);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('close', onClose);
      return new NbdConnection(socket, info, reader.rest());
    } catch (e) {
      socket.destroy();
      throw new NbdConnectError(opts.url, (e as Error).message, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  private constructor(socket: Socket, info: ExportInfo, rest: Buffer[]) {
    this.#socket = socket;
    this.info = info;
    this.#parser = new ReplyParser<NbdRequest>(this, info.structuredReplies);
    socket.on('data', (d: Buffer) => this.#parser.push(d));
    socket.on('error', (e: Error) => this.#end(e));
    socket.on('close', () => this.#end(new Error('the server closed the connection')));
    for (const c of rest) this.#parser.push(c);
  }

  /** Attaches the owner told of replies and of the end of the connection. */
  attach(owner: ConnectionOwner): void {
    this.#owner = owner;
  }

  /** Requests sent and not yet answered (abandoned ones included: they hold their slot until answered). */
  get inFlight(): number {
    return this.#inFlight;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Requests were sent this turn and are still waiting to go out together. */
  get batching(): boolean {
    return this.#scheduled;
  }

  /** Sends `req`; it goes out with everything else sent this turn. */
  send(req: NbdRequest): void {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#slots.length;
      this.#slots.push(null);
    }
    this.#slots[slot] = req;
    this.#inFlight++;
    req.slot = slot;
    req.cookieHi = this.#seq = (this.#seq + 1) >>> 0;
    req.sends++;
    const h = Buffer.allocUnsafe(NBD_REQUEST_LENGTH);
    encodeRequest(h, 0, req.flags, req.type, req.cookieHi, slot, req.offset, req.length);
    this.#queue.push(h);
    if (req.data !== null) this.#queue.push(req.data);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#closed) return;
    const q = this.#queue;
    this.#queue = [];
    const s = this.#socket;
    s.cork();
    for (const b of q) s.write(b);
    s.uncork();
  };

  /** ReplySink: the request in `slot` if its cookie matches. */
  lookup(cookieHi: number, slot: number): NbdRequest | undefined {
    const r = this.#slots[slot];
    return r !== null && r !== undefined && r.cookieHi === cookieHi ? r : undefined;
  }

  /** ReplySink: frees the slot and tells the owner (an abandoned request is just forgotten). */
  onReply(req: NbdRequest, error: number, message: string): void {
    this.#slots[req.slot] = null;
    this.#free.push(req.slot);
    this.#inFlight--;
    if (!req.settled) this.#owner?.onReply(this, req, error, message);
  }

  /** ReplySink: the stream broke the protocol; the connection cannot be trusted any more. */
  onError(error: Error): void {
    this.#end(error);
    this.#socket.destroy();
  }

  /** Ends the connection now (a stuck server); outstanding requests go back to the owner. */
  destroy(cause: Error): void {
    this.#end(cause);
    this.#socket.destroy();
  }

  /** Sends NBD_CMD_DISC and closes (proto.md "NBD_CMD_DISC": the server answers what is outstanding first). */
  async close(): Promise<void> {
    if (this.#closed) return;
    const s = this.#socket;
    this.#flush();
    const h = Buffer.allocUnsafe(NBD_REQUEST_LENGTH);
    encodeRequest(h, 0, 0, NBD_CMD.DISC, 0, 0, 0, 0);
    s.end(h);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.destroy();
        resolve();
      }, DISCONNECT_GRACE_MS);
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.#end(new Error('connection closed by the client'));
  }

  #end(cause: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeCause = cause;
    this.#queue = [];
    const outstanding: NbdRequest[] = [];
    for (const r of this.#slots) if (r !== null && !r.settled) outstanding.push(r);
    outstanding.sort((a, b) => a.cookieHi - b.cookieHi);
    this.#slots = [];
    this.#free = [];
    this.#inFlight = 0;
    this.#owner?.onClosed(this, outstanding, cause);
  }

  /** Calls `fn` for every request sent on this connection that has not settled yet. */
  forEachOutstanding(fn: (req: NbdRequest) => void): void {
    for (const r of this.#slots) if (r !== null && !r.settled) fn(r);
  }

  /** Why the connection ended (null while it is open). */
  get closeCause(): Error | null {
    return this.#closeCause;
  }
}
