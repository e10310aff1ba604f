// Small helpers shared by the command modules.

import { AbortError } from '../errors.js';

/**
 * The Data-In of a command with an ALLOCATION LENGTH: SPC-4 says the device server stops
 * at the allocation length or at the end of the available data, whichever comes first.
 */
export function truncate(data: Buffer, alloc: number): Buffer {
  return data.length <= alloc ? data : data.subarray(0, alloc);
}

/** `s` in `len` bytes of ASCII, left-aligned and padded with spaces (SPC-4, ASCII data). */
export function asciiField(s: string, len: number): Buffer {
  const b = Buffer.alloc(len, 0x20);
  b.write(s.replace(/[^\x20-\x7e]/g, '?').slice(0, len), 0, 'latin1');
  return b;
}

/** Rejects with AbortError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new AbortError('SCSI command aborted', { cause: signal.reason });
}

/** Lets the event loop run I/O callbacks and timers before a long operation continues. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A 64-bit big-endian field as a number; values at or beyond 2^53 come out at or beyond 2^53. */
export function u64(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) * 0x100000000 + buf.readUInt32BE(off + 4);
}

/** Writes a number below 2^53 as a 64-bit big-endian field. */
export function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / 0x100000000), off);
  buf.writeUInt32BE(v % 0x100000000, off + 4);
}

const SLAB_SIZE = 1 << 20;
const SLAB_MAX = 64 * 1024;
let slab: Buffer = Buffer.allocUnsafeSlow(0);
let slabOffset = 0;

/**
 * An uninitialised buffer for Data-In. Up to 64 KiB it is carved from a 1 MiB slab, as Node's own
 * pool does for small buffers but for I/O sizes: Buffer.allocUnsafe(4096) is too big for Node's pool
 * and costs a fresh ArrayBuffer (measured: about 1 us, plus its garbage collection) on every 4 KiB
 * read. A slab lives until its last slice is gone.
 */
export function allocIoBuffer(n: number): Buffer {
  if (n > SLAB_MAX) return Buffer.allocUnsafe(n);
  if (slabOffset + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabOffset = 0;
  }
  const b = slab.subarray(slabOffset, slabOffset + n);
  // Keep slices 8-byte aligned, like Node's pool.
  slabOffset = (slabOffset + n + 7) & ~7;
  return b;
}
