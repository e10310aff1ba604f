// A block store in a file (or block device) through one FileHandle and positional I/O. Files are
// created sparse; FUA and flush use fdatasync. Node's file I/O runs on libuv's thread pool, so a
// queued syscall cannot be cancelled: an AbortSignal stops the next step, not the current one.
//
// Thin provisioning without native code: Node has no fallocate(FALLOC_FL_PUNCH_HOLE) nor
// lseek(SEEK_HOLE), so `unmap` frees space only where truncate can (a range reaching the end of the
// file); elsewhere it writes zeros, skipping every chunk that already reads as zeros so that a hole
// stays a hole. Unmapped blocks always read back as zeros (LBPRZ). Which blocks are allocated cannot
// be learnt, so there is no `extentStatus`: GET LBA STATUS reports "mapped or unknown".

import { constants as fsConstants, promises as fs, read as fsRead, readSync, write as fsWrite, writeSync, type Stats } from 'node:fs';
import { AbortError } from '../errors.js';
import { BackendError } from './errors.js';
import { JsonSidecar } from './sidecar.js';
import type { BlockBackend, SidecarStore, WriteOptions } from './types.js';

/** Options of {@link FileBackend.open}. */
export interface FileBackendOptions {
  path: string;
  /** Logical block size in bytes; 512 unless set. */
  blockSize?: number;
  /**
   * Capacity in bytes. A missing file is created sparse with this size; a shorter existing file is
   * extended (sparse); a longer one exposes only its first `size` bytes. Required for a missing file
   * and for a block device (whose size `stat` does not report).
   */
  size?: number;
  /** Open read-only: writes, unmaps and resizes are refused, and the file is opened with O_RDONLY. */
  readOnly?: boolean;
  /** The medium can be ejected (INQUIRY RMB): the LUN behaves as a drive holding this image. */
  removable?: boolean;
  /** Physical block size to report instead of the file system's block size (stat `blksize`). */
  physicalBlockSize?: number;
  /** How reads and writes reach the file; see {@link FileIoMode}. Default 'auto'. */
  io?: FileIoMode;
}

/**
 * How positional reads and writes are issued.
 * - 'async': on libuv's thread pool (fs.read/fs.write); never blocks the event loop, but each I/O
 *   pays a hand-off to a pool thread and back (measured here: the pool caps a 4 KiB random-read load
 *   near 40K IOPS, where the iSCSI path alone does 100K).
 * - 'sync': pread/pwrite on the event loop thread; a page-cache hit costs a few microseconds, a miss
 *   blocks the loop for as long as the disk takes.
 * - 'auto': synchronous while every I/O stays fast, and back on the pool for a while as soon as one
 *   is slow (a cache miss, dirty-page throttling), then synchronous again. This is the trade SPDK and
 *   io_uring's RWF_NOWAIT make: serve what is cached without a hand-off, never wait on a disk inline.
 * FUA and flushes (fdatasync) always go to the pool.
 */
export type FileIoMode = 'auto' | 'sync' | 'async';

/** An inline I/O slower than this counts as slow (a cache miss, or the thread was preempted). */
const SLOW_INLINE_NS = 200_000n;
/**
 * 'auto' goes to the pool when more than SLOW_LIMIT of the last SLOW_WINDOW inline I/Os were slow: a
 * cold cache makes most of them slow at once, while a busy machine preempting the thread now and then
 * must not send a cached load to the pool (measured here: that halves its IOPS).
 */
const SLOW_WINDOW = 256;
const SLOW_LIMIT = 8;
/** How long 'auto' stays on the pool before trying inline again. */
const POOL_COOLDOWN_MS = 1000;
/** Larger transfers go to the pool in 'auto': copying them would hold the event loop too long. */
const INLINE_MAX_BYTES = 1 << 20;

function readAt(fd: number, into: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, into, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

function writeAt(fd: number, data: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fsWrite(fd, data, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

const ZERO_CHUNK = 1 << 20;
let zeros: Buffer | undefined;

function zeroBuffer(): Buffer {
  zeros ??= Buffer.alloc(ZERO_CHUNK);
  return zeros;
}

/** Whether every byte of `b` is zero (compared a zero buffer at a time: no per-byte JS loop). */
function isZero(b: Buffer): boolean {
  const z = zeroBuffer();
  for (let off = 0; off < b.length; off += z.length) {
    const n = Math.min(z.length, b.length - off);
    if (b.compare(z, 0, n, off, off + n) !== 0) return false;
  }
  return true;
}

/**
 * The file system's preferred I/O size (stat `blksize`) when it is a power-of-two multiple of the
 * block size no larger than 64 KiB: what a write smaller than it costs a read-modify-write of.
 */
function physicalFrom(st: Stats, blockSize: number): number | undefined {
  const p = st.blksize;
  if (!Number.isInteger(p) || p <= blockSize || p > 65536 || (p & (p - 1)) !== 0) return undefined;
  return p;
}

function abortIf(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortError('backend I/O aborted', { cause: signal.reason });
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await fs.stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Blocks stored in a file. */
export class FileBackend implements BlockBackend {
  readonly kind = 'file';
  readonly path: string;
  readonly blockSize: number;
  readonly readOnly: boolean;
  readonly removable: boolean;
  readonly physicalBlockSize: number | undefined;
  #blocks: number;
  readonly #fh: fs.FileHandle;
  readonly #io: FileIoMode;
  #poolUntil = 0;
  #windowOps = 0;
  #windowSlow = 0;
  /** Whether the file ends exactly at the capacity: then an unmap reaching the end can punch it. */
  #fileEndsAtCapacity: boolean;
  #closed = false;
  #closing: Promise<void> | null = null;

  private constructor(
    path: string,
    fh: fs.FileHandle,
    blockSize: number,
    blocks: number,
    flags: { readOnly: boolean; removable: boolean; physicalBlockSize: number | undefined; io: FileIoMode },
    endsAtCapacity: boolean,
  ) {
    this.path = path;
    this.#fh = fh;
    this.#io = flags.io;
    this.blockSize = blockSize;
    this.#blocks = blocks;
    this.readOnly = flags.readOnly;
    this.removable = flags.removable;
    this.physicalBlockSize = flags.physicalBlockSize;
    this.#fileEndsAtCapacity = endsAtCapacity;
  }

  /** Opens (or creates, sparse) the backing file. */
  static async open(opts: FileBackendOptions): Promise<FileBackend> {
    const bs = opts.blockSize ?? 512;
    if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0) {
      throw new RangeError(`block size ${bs} is not a power of two of at least 512`);
    }
    const readOnly = opts.readOnly === true;
    if (opts.size !== undefined && (!Number.isSafeInteger(opts.size) || opts.size <= 0 || opts.size % bs !== 0)) {
      throw new BackendError('ERR_BACKEND_SIZE', `size ${opts.size} is not a positive multiple of the block size ${bs}`);
    }
    const st = await statOrNull(opts.path);
    if (st === null) {
      if (opts.size === undefined) {
        throw new BackendError('ERR_BACKEND_NOT_FOUND', `${opts.path} does not exist and no size was given to create it`);
      }
      if (readOnly) throw new BackendError('ERR_BACKEND_NOT_FOUND', `${opts.path} does not exist and a read-only LUN cannot create it`);
      // O_EXCL: never truncate a file someone created in between.
      const fh = await fs.open(opts.path, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
      let created: Stats;
      try {
        await fh.truncate(opts.size); // a sparse file: no block is allocated until written
        created = await fh.stat();
      } catch (e) {
        await fh.close();
        throw e;
      }
      const flags = { readOnly: false, removable: opts.removable === true, physicalBlockSize: opts.physicalBlockSize ?? physicalFrom(created, bs), io: opts.io ?? 'auto' };
      return new FileBackend(opts.path, fh, bs, opts.size / bs, flags, true);
    }
    const isDevice = st.isBlockDevice();
    if (!st.isFile() && !isDevice) throw new BackendError('ERR_BACKEND_NOT_A_FILE', `${opts.path} is not a regular file or block device`);
    let size = opts.size;
    if (size === undefined) {
      if (isDevice) throw new BackendError('ERR_BACKEND_SIZE', `${opts.path} is a block device: give its size`);
      if (st.size === 0 || st.size % bs !== 0) {
        throw new BackendError('ERR_BACKEND_SIZE', `${opts.path} holds ${st.size} bytes, not a positive multiple of the block size ${bs}`);
      }
      size = st.size;
    }
    const fh = await fs.open(opts.path, readOnly ? fsConstants.O_RDONLY : fsConstants.O_RDWR);
    let fileSize = st.size;
    if (!isDevice && !readOnly && fileSize < size) {
      try {
        await fh.truncate(size);
      } catch (e) {
        await fh.close();
        throw e;
      }
      fileSize = size;
    }
    const flags = { readOnly, removable: opts.removable === true, physicalBlockSize: opts.physicalBlockSize ?? physicalFrom(st, bs), io: opts.io ?? 'auto' };
    return new FileBackend(opts.path, fh, bs, size / bs, flags, !isDevice && fileSize === size);
  }

  get blocks(): number {
    return this.#blocks;
  }

  #check(lba: number, count: number, signal: AbortSignal | undefined): void {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', `${this.path} is closed`);
    abortIf(signal);
    if (!Number.isInteger(lba) || !Number.isInteger(count) || lba < 0 || count < 0 || lba + count > this.#blocks) {
      throw new BackendError('ERR_BACKEND_RANGE', `blocks ${lba}+${count} exceed the capacity of ${this.#blocks}`);
    }
  }

  #checkWritable(): void {
    if (this.readOnly) throw new BackendError('ERR_BACKEND_READ_ONLY', `${this.path} is open read-only`);
  }

  /** Whether this I/O of `len` bytes goes inline (see {@link FileIoMode}). */
  #inline(len: number): boolean {
    if (this.#io === 'sync') return true;
    if (this.#io === 'async' || len > INLINE_MAX_BYTES) return false;
    return Date.now() >= this.#poolUntil;
  }

  #timed(t0: bigint): void {
    if (this.#io !== 'auto') return;
    if (++this.#windowOps >= SLOW_WINDOW) {
      this.#windowOps = 0;
      this.#windowSlow = 0;
    }
    if (process.hrtime.bigint() - t0 > SLOW_INLINE_NS) {
      this.slowInline++;
      if (++this.#windowSlow > SLOW_LIMIT) {
        this.#poolUntil = Date.now() + POOL_COOLDOWN_MS;
        this.#windowOps = 0;
        this.#windowSlow = 0;
      }
    }
  }

  /** I/Os done inline, on the pool, and inline ones that were slow (each sends 'auto' to the pool). */
  inlineIo = 0;
  poolIo = 0;
  slowInline = 0;

  async read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void> {
    this.#check(lba, count, signal);
    const len = count * this.blockSize;
    if (into.length < len) throw new BackendError('ERR_BACKEND_RANGE', `read buffer of ${into.length} bytes is shorter than ${len}`);
    let off = 0;
    const pos = lba * this.blockSize;
    const fd = this.#fh.fd;
    if (this.#inline(len)) {
      this.inlineIo++;
      const t0 = process.hrtime.bigint();
      while (off < len) {
        const n = readSync(fd, into, off, len - off, pos + off);
        if (n === 0) {
          into.fill(0, off, len);
          break;
        }
        off += n;
      }
      this.#timed(t0);
      return;
    }
    this.poolIo++;
    while (off < len) {
      const bytesRead = await readAt(fd, into, off, len - off, pos + off);
      if (bytesRead === 0) {
        // Past the end of a shorter (read-only) file: the missing blocks read as zeros.
        into.fill(0, off, len);
        break;
      }
      off += bytesRead;
    }
  }

  async write(lba: number, data: Buffer, opts?: WriteOptions, signal?: AbortSignal): Promise<void> {
    if (data.length % this.blockSize !== 0) {
      throw new BackendError('ERR_BACKEND_RANGE', `write of ${data.length} bytes is not a whole number of blocks`);
    }
    this.#check(lba, data.length / this.blockSize, signal);
    this.#checkWritable();
    const pos = lba * this.blockSize;
    let off = 0;
    const fd = this.#fh.fd;
    if (this.#inline(data.length)) {
      this.inlineIo++;
      const t0 = process.hrtime.bigint();
      while (off < data.length) off += writeSync(fd, data, off, data.length - off, pos + off);
      this.#timed(t0);
    } else {
      this.poolIo++;
      while (off < data.length) off += await writeAt(fd, data, off, data.length - off, pos + off);
    }
    // FUA (SBC-3 WRITE(10)): the data must be on the medium before the write completes.
    if (opts?.fua === true) await this.#fh.datasync();
  }

  async flush(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', `${this.path} is closed`);
    abortIf(signal);
    if (!this.readOnly) await this.#fh.datasync();
  }

  /**
   * Deallocates blocks so they read back as zeros. Pure Node has no fallocate(PUNCH_HOLE): a range
   * that reaches the end of the file is punched by truncating the file down and back up (the tail
   * becomes a hole); any other range is read a chunk at a time and every chunk that is not already
   * zero is overwritten with zeros, so holes (which read as zeros without touching the disk) are
   * never filled in. Every chunk is an await, so a long range never holds the event loop.
   */
  async unmap(lba: number, count: number, signal?: AbortSignal): Promise<void> {
    this.#check(lba, count, signal);
    this.#checkWritable();
    if (count === 0) return;
    const bs = this.blockSize;
    if (lba + count === this.#blocks && this.#fileEndsAtCapacity) {
      await this.#fh.truncate(lba * bs);
      await this.#fh.truncate(this.#blocks * bs);
      return;
    }
    const z = zeroBuffer();
    const probe = Buffer.allocUnsafe(z.length);
    let pos = lba * bs;
    const end = (lba + count) * bs;
    while (pos < end) {
      abortIf(signal);
      const n = Math.min(z.length, end - pos);
      const view = n === probe.length ? probe : probe.subarray(0, n);
      const { bytesRead } = await this.#fh.read(view, 0, n, pos);
      // Past the end of the file counts as zeros, like a read does.
      if (bytesRead < n) view.fill(0, bytesRead);
      if (!isZero(view)) {
        let off = 0;
        while (off < n) {
          const { bytesWritten } = await this.#fh.write(z, off, n - off, pos + off);
          off += bytesWritten;
        }
      }
      pos += n;
    }
  }

  /** `PATH.NAME.json` beside the file (e.g. the APTPL reservations in `PATH.pr.json`). */
  sidecar(name: string): SidecarStore {
    if (!/^[a-z0-9-]+$/i.test(name)) throw new RangeError(`sidecar name "${name}" must be letters, digits and dashes`);
    return new JsonSidecar(`${this.path}.${name}.json`);
  }

  /** Grows (sparse) or shrinks the file to `blocks` blocks. */
  async resize(blocks: number): Promise<void> {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', `${this.path} is closed`);
    this.#checkWritable();
    if (!Number.isSafeInteger(blocks) || blocks < 1 || !Number.isSafeInteger(blocks * this.blockSize)) {
      throw new RangeError(`cannot resize to ${blocks} blocks`);
    }
    await this.#fh.truncate(blocks * this.blockSize);
    this.#blocks = blocks;
    this.#fileEndsAtCapacity = true;
  }

  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true;
      this.#closing = this.#fh.close();
    }
    return this.#closing;
  }
}
