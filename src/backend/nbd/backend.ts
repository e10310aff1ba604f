// A BlockBackend on an NBD export: the LUN's blocks live on any NBD server (qemu-nbd, nbdkit, a Ceph
// RBD image through qemu-nbd). Requests are pipelined over one or more connections (several only when
// the server promises NBD_FLAG_CAN_MULTI_CONN, proto.md "Transmission flags"); a connection that is
// refused or lost is re-established with backoff and the requests it held are sent again, each within
// the LUN's timeout, after which it fails with ETIMEDOUT (the SCSI layer answers MEDIUM ERROR). An
// aborted request settles at once; its late reply is dropped.

import { performance } from 'node:perf_hooks';
import { BackendError } from '../errors.js';
import type { BlockBackend, WriteOptions, WriteZeroesOptions } from '../types.js';
import { NBD_CMD, NBD_CMD_FLAG, NBD_EPERM, NBD_ESHUTDOWN, NBD_FLAG } from './constants.js';
import { NbdConnection, type ConnectionOwner, type NbdEndpoint } from './connection.js';
import { NbdConnectError, NbdIoError, nbdErrnoName } from './errors.js';
import type { ExportInfo } from './handshake.js';
import { NbdRequest } from './request.js';

/** The logger the backend writes to (pino's Logger fits). */
export interface BackendLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silentLog: BackendLog = { info() {}, warn() {}, error() {} };

/** Options of {@link NbdBackend.open}. */
export interface NbdBackendOptions {
  endpoint: NbdEndpoint;
  exportName: string;
  /** The export's URL, for messages and logs. */
  url: string;
  /** Connections to open when the server allows several (NBD_FLAG_CAN_MULTI_CONN); default 1. */
  conns?: number;
  /** How long a request may take, resends after a lost connection included; default 30 s. */
  timeoutMs?: number;
  /** Refuse writes even if the server takes them. */
  readOnly?: boolean;
  /** The medium can be ejected (INQUIRY RMB): the LUN behaves as a drive holding this export. */
  removable?: boolean;
  /** Logical block size; default: 512, or the server's minimum block size when that is larger. */
  blockSize?: number;
  /** The backend's `kind` (default 'nbd'). */
  kind?: string;
  log?: BackendLog;
  /** Time for connect and handshake of one connection; default min(timeout, 10 s). */
  connectTimeoutMs?: number;
  /** Reconnect backoff: first delay and ceiling (default 50 ms and 2 s). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Ask for structured replies (default true). */
  structuredReplies?: boolean;
  /** Runs after the connections are closed (e.g. stops the server this backend started). */
  onClose?: () => Promise<void>;
}

/** The default LUN timeout: what open-iscsi and the Linux NBD driver allow a command by default. */
export const DEFAULT_NBD_TIMEOUT_MS = 30_000;
/** TRIM and WRITE_ZEROES carry no payload, but their 32-bit length still bounds one request. */
const MAX_ZERO_BYTES = 1 << 30;

interface Link {
  readonly index: number;
  conn: NbdConnection | null;
  timer: ReturnType<typeof setTimeout> | null;
  /** Failed attempts since the link was last up. */
  failures: number;
  /** When the link went down (performance.now), for the log line when it is back. */
  downSince: number;
}

function pickBlockSize(info: ExportInfo, wanted: number | undefined, url: string): number {
  if (wanted !== undefined) {
    if (wanted < info.minBlock) throw new NbdConnectError(url, `block size ${wanted} is below the server's minimum of ${info.minBlock}`);
    return wanted;
  }
  if (info.minBlock <= 512) return 512;
  if (info.minBlock <= 4096) return 4096;
  throw new NbdConnectError(url, `the server's minimum block size ${info.minBlock} is above 4096`);
}

/** Blocks on an NBD export. */
export class NbdBackend implements BlockBackend {
  readonly kind: string;
  readonly url: string;
  readonly blockSize: number;
  readonly blocks: number;
  readonly readOnly: boolean;
  readonly removable: boolean;
  readonly physicalBlockSize: number | undefined;
  /** What the server said in the first handshake. */
  readonly info: ExportInfo;
  readonly unmap?: (lba: number, count: number, signal?: AbortSignal) => Promise<void>;
  readonly writeZeroes?: (lba: number, count: number, opts?: WriteZeroesOptions, signal?: AbortSignal) => Promise<void>;
  readonly unmapReadsZeros: boolean;
  /** Counters for tests and the admin socket. */
  readonly stats = { reconnects: 0, resent: 0, timedOut: 0, aborted: 0 };
  readonly #opts: NbdBackendOptions;
  readonly #log: BackendLog;
  readonly #timeoutMs: number;
  readonly #maxPayload: number;
  readonly #links: Link[];
  readonly #owner: ConnectionOwner;
  #waiting: NbdRequest[] = [];
  /** The link the current batch goes to (see #pick). */
  #cursor = 0;
  #sweep: ReturnType<typeof setInterval>;
  #closed = false;
  #closing: Promise<void> | null = null;

  /**
   * Connects to the export (one connection, then the others when the server allows several) and
   * returns the backend. An unreachable server or a refused export is an {@link NbdConnectError}
   * naming the URL; nothing is retried here: a LUN that cannot start says so at once.
   */
  static async open(opts: NbdBackendOptions): Promise<NbdBackend> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_NBD_TIMEOUT_MS;
    const first = await NbdConnection.open(opts.endpoint, opts.exportName, {
      url: opts.url,
      connectTimeoutMs: opts.connectTimeoutMs ?? Math.min(timeoutMs, 10_000),
      ...(opts.structuredReplies === false && { structuredReplies: false }),
    });
    let backend: NbdBackend;
    try {
      backend = new NbdBackend(opts, first);
    } catch (e) {
      await first.close();
      throw e;
    }
    await backend.#openOthers();
    return backend;
  }

  private constructor(opts: NbdBackendOptions, first: NbdConnection) {
    const info = first.info;
    this.#opts = opts;
    this.#log = opts.log ?? silentLog;
    this.kind = opts.kind ?? 'nbd';
    this.url = opts.url;
    this.info = info;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_NBD_TIMEOUT_MS;
    this.blockSize = pickBlockSize(info, opts.blockSize, opts.url);
    const bs = this.blockSize;
    this.blocks = Math.floor(info.size / bs);
    if (this.blocks === 0) throw new NbdConnectError(opts.url, `the export holds ${info.size} bytes, less than one ${bs}-byte block`);
    if (info.size % bs !== 0) this.#log.warn({ url: opts.url, size: info.size }, `export size is not a multiple of ${bs}: the last ${info.size % bs} bytes are not served`);
    this.readOnly = opts.readOnly === true || (info.flags & NBD_FLAG.READ_ONLY) !== 0;
    this.removable = opts.removable === true;
    const pbs = info.preferredBlock;
    this.physicalBlockSize = pbs > bs && pbs <= 65536 ? pbs : undefined;
    this.#maxPayload = Math.max(bs, Math.floor(info.maxPayload / bs) * bs);
    const canZero = (info.flags & NBD_FLAG.SEND_WRITE_ZEROES) !== 0;
    // Deallocation is offered when the server can TRIM. It is carried out as WRITE_ZEROES without
    // NO_HOLE where the server has it: the server may then punch a hole as TRIM would, and the blocks
    // are guaranteed to read back as zeros, which TRIM does not promise (proto.md "NBD_CMD_TRIM").
    this.unmapReadsZeros = canZero;
    if (!this.readOnly && (info.flags & NBD_FLAG.SEND_TRIM) !== 0) {
      this.unmap = (lba, count, signal) => this.#zeroRange(canZero ? NBD_CMD.WRITE_ZEROES : NBD_CMD.TRIM, 0, lba, count, false, signal);
    }
    if (!this.readOnly && canZero) {
      this.writeZeroes = (lba, count, o, signal) => this.#zeroRange(NBD_CMD.WRITE_ZEROES, o?.mapped === true ? NBD_CMD_FLAG.NO_HOLE : 0, lba, count, o?.fua === true, signal);
    }
    let conns = Math.max(1, opts.conns ?? 1);
    if (conns > 1 && (info.flags & NBD_FLAG.CAN_MULTI_CONN) === 0) {
      this.#log.warn({ url: opts.url, conns }, 'the NBD server does not advertise NBD_FLAG_CAN_MULTI_CONN: using one connection');
      conns = 1;
    }
    this.#owner = { onReply: (c, r, e, m) => this.#onReply(c, r, e, m), onClosed: (c, o, cause) => this.#onClosed(c, o, cause) };
    this.#links = Array.from({ length: conns }, (_, index) => ({ index, conn: null, timer: null, failures: 0, downSince: 0 }));
    first.attach(this.#owner);
    this.#links[0]!.conn = first;
    const sweepMs = Math.min(1000, Math.max(20, Math.floor(this.#timeoutMs / 4)));
    this.#sweep = setInterval(() => this.#expire(), sweepMs);
    this.#sweep.unref();
  }

  /** Connections currently up. */
  get connections(): number {
    let n = 0;
    for (const l of this.#links) if (l.conn !== null) n++;
    return n;
  }

  async #openOthers(): Promise<void> {
    await Promise.all(
      this.#links.slice(1).map(async (l) => {
        try {
          l.conn = await this.#connect();
        } catch (e) {
          this.#log.warn({ url: this.url, conn: l.index, err: (e as Error).message }, 'NBD connection failed; retrying in the background');
          this.#linkDown(l);
        }
      }),
    );
  }

  async #connect(): Promise<NbdConnection> {
    const conn = await NbdConnection.open(this.#opts.endpoint, this.#opts.exportName, {
      url: this.url,
      connectTimeoutMs: this.#opts.connectTimeoutMs ?? Math.min(this.#timeoutMs, 10_000),
      ...(this.#opts.structuredReplies === false && { structuredReplies: false }),
    });
    if (this.#closed) {
      await conn.close();
      throw new BackendError('ERR_BACKEND_CLOSED', 'backend closed');
    }
    conn.attach(this.#owner);
    const i = conn.info;
    if (i.size !== this.info.size || i.flags !== this.info.flags || i.minBlock > this.blockSize) {
      this.#log.warn({ url: this.url, was: { size: this.info.size, flags: this.info.flags }, now: { size: i.size, flags: i.flags, minBlock: i.minBlock } }, 'the NBD export changed across a reconnect');
    }
    return conn;
  }

  // ---------------------------------------------------------------------------------------------
  // BlockBackend

  read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void> {
    const bytes = count * this.blockSize;
    try {
      this.#check(lba, count, into.length < bytes ? `buffer of ${into.length} bytes for ${count} blocks` : undefined);
    } catch (e) {
      return Promise.reject(e);
    }
    if (bytes <= this.#maxPayload) return this.#submit(NBD_CMD.READ, 0, lba * this.blockSize, bytes, null, into, 0, signal);
    const parts: Promise<void>[] = [];
    for (let off = 0; off < bytes; off += this.#maxPayload) {
      const n = Math.min(this.#maxPayload, bytes - off);
      parts.push(this.#submit(NBD_CMD.READ, 0, lba * this.blockSize + off, n, null, into, off, signal));
    }
    return Promise.all(parts).then(() => undefined);
  }

  async write(lba: number, data: Buffer, opts?: WriteOptions, signal?: AbortSignal): Promise<void> {
    const bs = this.blockSize;
    this.#check(lba, data.length / bs, data.length % bs !== 0 || data.length === 0 ? `write of ${data.length} bytes` : undefined);
    this.#writable();
    const fua = opts?.fua === true;
    const flags = fua && this.#can(NBD_FLAG.SEND_FUA) ? NBD_CMD_FLAG.FUA : 0;
    if (data.length <= this.#maxPayload) {
      await this.#submit(NBD_CMD.WRITE, flags, lba * bs, data.length, data, null, 0, signal);
    } else {
      const parts: Promise<void>[] = [];
      for (let off = 0; off < data.length; off += this.#maxPayload) {
        const piece = data.subarray(off, Math.min(data.length, off + this.#maxPayload));
        parts.push(this.#submit(NBD_CMD.WRITE, flags, lba * bs + off, piece.length, piece, null, 0, signal));
      }
      await Promise.all(parts);
    }
    // A server without FUA: a FLUSH after the write makes it durable all the same.
    if (fua && flags === 0) await this.flush(signal);
  }

  /**
   * FLUSH on every connection at once. With NBD_FLAG_CAN_MULTI_CONN one would do (proto.md: a flush
   * covers writes answered on any connection); one per connection costs no extra latency and does
   * not lean on that promise.
   */
  flush(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    // proto.md "NBD_FLAG_SEND_FLUSH": a server without it has no write cache to flush.
    if (!this.#can(NBD_FLAG.SEND_FLUSH)) return Promise.resolve();
    if (this.#links.length === 1) return this.#submit(NBD_CMD.FLUSH, 0, 0, 0, null, null, 0, signal);
    return Promise.all(this.#links.map((l) => this.#submit(NBD_CMD.FLUSH, 0, 0, 0, null, null, 0, signal, l.index))).then(() => undefined);
  }

  /** Disconnects (NBD_CMD_DISC on each connection) and fails whatever is still waiting; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const r of waiting) r.reject(this.#closedError());
    const conns: NbdConnection[] = [];
    for (const l of this.#links) {
      if (l.timer !== null) clearTimeout(l.timer);
      l.timer = null;
      if (l.conn !== null) conns.push(l.conn);
      l.conn = null;
    }
    await Promise.all(conns.map((c) => c.close()));
    await this.#opts.onClose?.();
  }

  // ---------------------------------------------------------------------------------------------
  // Requests

  #can(flag: number): boolean {
    return (this.info.flags & flag) !== 0;
  }

  #closedError(): BackendError {
    return new BackendError('ERR_BACKEND_CLOSED', `NBD backend ${this.url} is closed`);
  }

  #check(lba: number, count: number, bad: string | undefined): void {
    if (this.#closed) throw this.#closedError();
    if (bad !== undefined) throw new BackendError('ERR_BACKEND_RANGE', bad);
    if (lba < 0 || lba + count > this.blocks) throw new BackendError('ERR_BACKEND_RANGE', `blocks ${lba}+${count} beyond ${this.blocks}`);
  }

  #writable(): void {
    if (this.readOnly) throw new BackendError('ERR_BACKEND_READ_ONLY', `NBD export ${this.url} is read-only`);
  }

  /** WRITE_ZEROES or TRIM over a range, in requests of at most MAX_ZERO_BYTES. */
  async #zeroRange(type: number, flags: number, lba: number, count: number, fua: boolean, signal: AbortSignal | undefined): Promise<void> {
    this.#check(lba, count, undefined);
    this.#writable();
    const bs = this.blockSize;
    const f = flags | (fua && this.#can(NBD_FLAG.SEND_FUA) ? NBD_CMD_FLAG.FUA : 0);
    const step = Math.floor(MAX_ZERO_BYTES / bs);
    const parts: Promise<void>[] = [];
    for (let done = 0; done < count; done += step) {
      const n = Math.min(step, count - done);
      parts.push(this.#submit(type, f, (lba + done) * bs, n * bs, null, null, 0, signal));
    }
    await Promise.all(parts);
    if (fua && (f & NBD_CMD_FLAG.FUA) === 0) await this.flush(signal);
  }

  #submit(
    type: number,
    flags: number,
    offset: number,
    length: number,
    data: Buffer | null,
    into: Buffer | null,
    intoOffset: number,
    signal: AbortSignal | undefined,
    preferred = -1,
  ): Promise<void> {
    if (signal?.aborted === true) {
      const r = new NbdRequest(type, flags, offset, length, data, into, intoOffset, 0, signal);
      r.abort();
      return r.promise;
    }
    const req = new NbdRequest(type, flags, offset, length, data, into, intoOffset, performance.now() + this.#timeoutMs, signal, preferred);
    req.watchAbort(this.#onAbort);
    this.#dispatch(req);
    return req.promise;
  }

  readonly #onAbort = (req: NbdRequest): void => {
    this.stats.aborted++;
    // Settled now; if it was sent, its slot stays taken until the reply comes, which is dropped.
    req.abort();
  };

  #dispatch(req: NbdRequest): void {
    if (req.settled) return;
    if (this.#closed) return req.reject(this.#closedError());
    const conn = this.#pick(req.preferred);
    if (conn === null) this.#waiting.push(req);
    else conn.send(req);
  }

  /**
   * The preferred connection when it is up; else the connection that already has a batch going out
   * this turn; else the next one that is up, round robin. Requests issued together stay together
   * (one write, one wakeup of the server) and successive batches spread over the connections;
   * sending each request to the least busy connection would cut every batch into N writes.
   */
  #pick(preferred: number): NbdConnection | null {
    const links = this.#links;
    const n = links.length;
    if (n === 1) return links[0]!.conn;
    if (preferred >= 0 && links[preferred]!.conn !== null) return links[preferred]!.conn;
    const cur = links[this.#cursor]!.conn;
    if (cur !== null && cur.batching) return cur;
    for (let i = 1; i <= n; i++) {
      const idx = (this.#cursor + i) % n;
      const c = links[idx]!.conn;
      if (c !== null) {
        this.#cursor = idx;
        return c;
      }
    }
    return null;
  }

  #onReply(conn: NbdConnection, req: NbdRequest, error: number, message: string): void {
    if (error === 0) return req.resolve();
    if (error === NBD_ESHUTDOWN) {
      // proto.md "ESHUTDOWN": the server is going away and did not carry the request out. Send it
      // again once a connection is back; this one is finished.
      this.#waiting.push(req);
      conn.destroy(new Error('the server is shutting down (ESHUTDOWN)'));
      return;
    }
    if (error === NBD_EPERM && req.type !== NBD_CMD.READ && req.type !== NBD_CMD.FLUSH) {
      return req.reject(new BackendError('ERR_BACKEND_READ_ONLY', `the NBD server refused ${req.name} (EPERM${message === '' ? '' : `: ${message}`})`));
    }
    req.reject(new NbdIoError(nbdErrnoName(error), req.name, message === '' ? `the NBD server failed it at offset ${req.offset}` : message));
  }

  #onClosed(conn: NbdConnection, outstanding: NbdRequest[], cause: Error): void {
    const link = this.#links.find((l) => l.conn === conn);
    if (link === undefined) {
      // Closed by close(): nothing will be sent again.
      for (const r of outstanding) r.reject(this.#closedError());
      return;
    }
    link.conn = null;
    if (this.#closed) {
      for (const r of outstanding) r.reject(this.#closedError());
      return;
    }
    this.#log.warn({ url: this.url, conn: link.index, outstanding: outstanding.length, err: cause.message }, 'NBD connection lost; reconnecting');
    const now = performance.now();
    for (const r of outstanding) {
      if (now >= r.deadline) this.#timeOut(r);
      else {
        this.stats.resent++;
        this.#dispatch(r);
      }
    }
    this.#linkDown(link);
  }

  #linkDown(link: Link): void {
    link.downSince = link.failures === 0 ? performance.now() : link.downSince;
    this.#scheduleReconnect(link);
  }

  #scheduleReconnect(link: Link): void {
    if (this.#closed || link.timer !== null) return;
    const min = this.#opts.reconnectMinMs ?? 50;
    const max = this.#opts.reconnectMaxMs ?? 2000;
    // Exponential backoff with jitter, so that several LUNs on one server do not reconnect in step.
    const base = Math.min(max, min * 2 ** Math.min(link.failures, 16));
    const delay = link.failures === 0 ? 0 : Math.round(base * (0.75 + Math.random() * 0.5));
    link.timer = setTimeout(() => {
      link.timer = null;
      void this.#reconnect(link);
    }, delay);
  }

  async #reconnect(link: Link): Promise<void> {
    let conn: NbdConnection;
    try {
      conn = await this.#connect();
    } catch (e) {
      if (this.#closed) return;
      link.failures++;
      // One line at the first failure and then at powers of two: an outage does not flood the log.
      if ((link.failures & (link.failures - 1)) === 0) {
        this.#log.warn({ url: this.url, conn: link.index, attempts: link.failures, err: (e as Error).message }, 'NBD reconnect failed; retrying');
      }
      this.#scheduleReconnect(link);
      return;
    }
    this.stats.reconnects++;
    link.conn = conn;
    this.#log.info({ url: this.url, conn: link.index, downMs: Math.round(performance.now() - link.downSince), attempts: link.failures + 1 }, 'NBD connection re-established');
    link.failures = 0;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const r of waiting) {
      if (!r.settled) this.stats.resent++;
      this.#dispatch(r);
    }
  }

  #timeOut(req: NbdRequest): void {
    this.stats.timedOut++;
    const how = req.sends === 0 ? 'no connection to the server came up' : req.sends === 1 ? 'no reply' : `no reply after ${req.sends} sends`;
    req.reject(new NbdIoError('ETIMEDOUT', req.name, `${how} within ${this.#timeoutMs} ms (${this.url})`));
  }

  /** Fails what has waited past its deadline; a connection holding such a request is stuck and is dropped. */
  #expire(): void {
    const now = performance.now();
    if (this.#waiting.length > 0) {
      const keep: NbdRequest[] = [];
      for (const r of this.#waiting) {
        if (r.settled) continue;
        if (now >= r.deadline) this.#timeOut(r);
        else keep.push(r);
      }
      this.#waiting = keep;
    }
    for (const l of this.#links) {
      const c = l.conn;
      if (c === null) continue;
      let stuck = false;
      c.forEachOutstanding((r) => {
        if (now >= r.deadline) {
          this.#timeOut(r);
          stuck = true;
        }
      });
      // Like the Linux NBD driver on a request timeout: the connection is torn down and rebuilt, and
      // what else it held is sent again on the new one (within each request's own deadline).
      if (stuck) c.destroy(new Error(`a request got no reply within ${this.#timeoutMs} ms`));
    }
  }
}
