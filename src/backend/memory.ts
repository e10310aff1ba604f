// A sparse in-memory block store: chunks are allocated on first write, and ranges never written
// (or unmapped) read back as zeros, so a "1T" memory LUN costs only what is written to it.

import { AbortError } from '../errors.js';
import { BackendError } from './errors.js';
import type { BlockBackend, ExtentStatus, WriteOptions } from './types.js';

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /** Capacity in logical blocks. */
  blocks: number;
  /** Logical block size in bytes; 512 unless set. */
  blockSize?: number;
  /** Refuse writes, unmaps and resizes. */
  readOnly?: boolean;
  /** Allocation unit in bytes, a multiple of the block size; 64 KiB unless set. */
  chunkBytes?: number;
  /** The medium can be ejected (INQUIRY RMB). */
  removable?: boolean;
  /** Physical block size to report (a power-of-two multiple of the block size); none unless set. */
  physicalBlockSize?: number;
}

function checkGeometry(blocks: number, blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
    throw new RangeError(`block size ${blockSize} is not a power of two of at least 512`);
  }
  if (!Number.isSafeInteger(blocks) || blocks < 1 || !Number.isSafeInteger(blocks * blockSize)) {
    throw new RangeError(`capacity of ${blocks} blocks of ${blockSize} bytes is not addressable`);
  }
}

/** A thin-provisioned block store in memory (tests, scratch LUNs). */
export class MemoryBackend implements BlockBackend {
  readonly kind = 'memory';
  readonly blockSize: number;
  readonly readOnly: boolean;
  readonly removable: boolean;
  readonly physicalBlockSize: number | undefined;
  #blocks: number;
  readonly #chunkBytes: number;
  readonly #chunks = new Map<number, Buffer>();
  #closed = false;

  constructor(opts: MemoryBackendOptions) {
    const bs = opts.blockSize ?? 512;
    checkGeometry(opts.blocks, bs);
    const chunk = opts.chunkBytes ?? 64 * 1024;
    if (!Number.isInteger(chunk) || chunk < bs || chunk % bs !== 0) {
      throw new RangeError(`chunk size ${chunk} is not a positive multiple of the block size ${bs}`);
    }
    this.blockSize = bs;
    this.#blocks = opts.blocks;
    this.readOnly = opts.readOnly === true;
    this.removable = opts.removable === true;
    this.physicalBlockSize = opts.physicalBlockSize;
    this.#chunkBytes = chunk;
  }

  get blocks(): number {
    return this.#blocks;
  }

  /** Bytes of memory held by written chunks. */
  get allocatedBytes(): number {
    return this.#chunks.size * this.#chunkBytes;
  }

  #check(lba: number, count: number, signal: AbortSignal | undefined): void {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', 'memory backend is closed');
    if (signal?.aborted === true) throw new AbortError('backend I/O aborted', { cause: signal.reason });
    if (!Number.isInteger(lba) || !Number.isInteger(count) || lba < 0 || count < 0 || lba + count > this.#blocks) {
      throw new BackendError('ERR_BACKEND_RANGE', `blocks ${lba}+${count} exceed the capacity of ${this.#blocks}`);
    }
  }

  async read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void> {
    this.#check(lba, count, signal);
    const len = count * this.blockSize;
    if (into.length < len) throw new BackendError('ERR_BACKEND_RANGE', `read buffer of ${into.length} bytes is shorter than ${len}`);
    this.#copy(lba * this.blockSize, into, len, false);
  }

  async write(lba: number, data: Buffer, _opts?: WriteOptions, signal?: AbortSignal): Promise<void> {
    if (data.length % this.blockSize !== 0) {
      throw new BackendError('ERR_BACKEND_RANGE', `write of ${data.length} bytes is not a whole number of blocks`);
    }
    this.#check(lba, data.length / this.blockSize, signal);
    if (this.readOnly) throw new BackendError('ERR_BACKEND_READ_ONLY', 'memory backend is read-only');
    this.#copy(lba * this.blockSize, data, data.length, true);
  }

  /**
   * Copies `len` bytes between the medium at byte `pos` and `buf`, chunk by chunk: onto the medium
   * (`write`, allocating the chunks it touches) or into `buf` (unallocated chunks read as zeros).
   */
  #copy(pos: number, buf: Buffer, len: number, write: boolean): void {
    const cb = this.#chunkBytes;
    const end = pos + len;
    let off = 0;
    while (pos < end) {
      const idx = Math.floor(pos / cb);
      const inChunk = pos - idx * cb;
      const n = Math.min(cb - inChunk, end - pos);
      let chunk = this.#chunks.get(idx);
      if (write) {
        if (chunk === undefined) {
          chunk = Buffer.alloc(cb);
          this.#chunks.set(idx, chunk);
        }
        buf.copy(chunk, inChunk, off, off + n);
      } else if (chunk === undefined) {
        buf.fill(0, off, off + n);
      } else {
        chunk.copy(buf, off, inChunk, inChunk + n);
      }
      pos += n;
      off += n;
    }
  }

  async flush(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', 'memory backend is closed');
    if (signal?.aborted === true) throw new AbortError('backend flush aborted', { cause: signal.reason });
  }

  /** Frees whole chunks in the range and zeroes the partial ones at its edges. */
  async unmap(lba: number, count: number, signal?: AbortSignal): Promise<void> {
    this.#check(lba, count, signal);
    if (this.readOnly) throw new BackendError('ERR_BACKEND_READ_ONLY', 'memory backend is read-only');
    this.#deallocate(lba * this.blockSize, (lba + count) * this.blockSize);
  }

  #deallocate(pos: number, end: number): void {
    const cb = this.#chunkBytes;
    while (pos < end) {
      const idx = Math.floor(pos / cb);
      const inChunk = pos - idx * cb;
      const n = Math.min(cb - inChunk, end - pos);
      if (n === cb) this.#chunks.delete(idx);
      else this.#chunks.get(idx)?.fill(0, inChunk, inChunk + n);
      pos += n;
    }
  }

  /** True when every block of the range lies in an allocated chunk. */
  async isMapped(lba: number, count: number): Promise<boolean> {
    this.#check(lba, count, undefined);
    const cb = this.#chunkBytes;
    const first = Math.floor((lba * this.blockSize) / cb);
    const last = Math.floor(((lba + count) * this.blockSize - 1) / cb);
    for (let i = first; i <= last; i++) if (!this.#chunks.has(i)) return false;
    return true;
  }

  /**
   * The status of the chunk holding `lba` and how far the same status runs, chunk by chunk, within
   * `maxBlocks` (a written chunk is mapped; an unwritten or freed one is deallocated).
   */
  async extentStatus(lba: number, maxBlocks: number): Promise<ExtentStatus> {
    this.#check(lba, 1, undefined);
    const bs = this.blockSize;
    const cb = this.#chunkBytes;
    const limit = Math.min(this.#blocks, lba + Math.max(1, maxBlocks));
    let idx = Math.floor((lba * bs) / cb);
    const mapped = this.#chunks.has(idx);
    let end = lba;
    while (end < limit) {
      const chunkEnd = Math.min(limit, Math.floor(((idx + 1) * cb) / bs));
      end = chunkEnd;
      idx++;
      if (end < limit && this.#chunks.has(idx) !== mapped) break;
    }
    return { mapped, blocks: end - lba };
  }

  /** Grows (new blocks read as zeros) or shrinks (blocks beyond the end are dropped). */
  async resize(blocks: number): Promise<void> {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', 'memory backend is closed');
    if (this.readOnly) throw new BackendError('ERR_BACKEND_READ_ONLY', 'memory backend is read-only');
    checkGeometry(blocks, this.blockSize);
    if (blocks < this.#blocks) {
      const cut = blocks * this.blockSize;
      const lastChunkEnd = Math.ceil((this.#blocks * this.blockSize) / this.#chunkBytes) * this.#chunkBytes;
      this.#deallocate(cut, lastChunkEnd);
    }
    this.#blocks = blocks;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#chunks.clear();
  }
}
