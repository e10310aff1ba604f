// What the commands that move blocks share (sbc.ts, sbc-atomic.ts, provisioning.ts, extended-copy.ts):
// the backend write options (FUA), backend failures as sense data, the LBA range and Data-Out checks,
// miscompares, Data-In buffers, and long operations cut into chunks with turns of the event loop.

import { AbortError } from '../errors.js';
import type { WriteOptions } from '../backend/types.js';
import { ASC, SENSE_KEY } from './constants.js';
import type { LuContext, ModeState } from './handler.js';
import { CheckConditionError, illegalRequest } from './sense.js';
import type { ScsiCommand } from './types.js';

/** A write that must reach the medium before it completes. */
export const FUA: WriteOptions = Object.freeze({ fua: true });
/** A write that may sit in the backend's volatile cache. */
export const NO_FUA: WriteOptions = Object.freeze({ fua: false });

/** The write options of a write with FUA `fua`: WCE=0 in the caching page makes every write FUA (SBC-3 §6.4, Caching mode page). */
export function writeOptions(mode: ModeState, fua: boolean): WriteOptions {
  return fua || !mode.wce ? FUA : NO_FUA;
}

/** ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (SBC-3, logical block addresses). */
export function lbaOutOfRange(): CheckConditionError {
  return illegalRequest(ASC.LBA_OUT_OF_RANGE);
}

/** Whether `e` is an abort (AbortError, from a signal or a backend), which ends a command without status. */
export function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

/** The AbortError a command ends with once its signal has fired. */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError('SCSI command aborted', { cause: signal.reason });
}

/** A backend failure as sense data: MEDIUM ERROR for the medium (SPC-4 Table D.1). */
export function mediumError(e: unknown, what: 'read' | 'write'): unknown {
  if (isAbort(e) || e instanceof CheckConditionError) return e;
  const code = e instanceof Error ? (e as { code?: string }).code : undefined;
  if (code === 'ERR_BACKEND_READ_ONLY') {
    return new CheckConditionError(SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  }
  // The file system is full: SBC-3 reports a thin-provisioned LU that cannot allocate as DATA PROTECT,
  // SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h), which initiators know not to retry blindly.
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CheckConditionError(SENSE_KEY.DATA_PROTECT, ASC.SPACE_ALLOCATION_FAILED_WRITE_PROTECT, {
      message: `backend ${what} failed: no space left (${code})`,
    });
  }
  return new CheckConditionError(SENSE_KEY.MEDIUM_ERROR, what === 'read' ? ASC.UNRECOVERED_READ_ERROR : ASC.WRITE_ERROR, {
    message: `backend ${what} failed: ${e instanceof Error ? e.message : String(e)}`,
  });
}

/**
 * The blocks of Data-Out a command may act on (RFC 7143 §11.4.5.1). More than the SPDTL (EDTL >
 * SPDTL, underflow): only the SPDTL is used. Less (EDTL < SPDTL, overflow): FCP-4 option a), which
 * libiscsi's iSCSIResiduals and WriteVerify*.Residuals tests accept and SBC leaves to the transport:
 * the command is processed "normally except that data beyond" what arrived "shall not be
 * transferred", so it acts on the whole blocks received. A trailing partial block cannot be written
 * without writing bytes the initiator never sent, so that case ends in ILLEGAL REQUEST, INVALID FIELD
 * IN COMMAND INFORMATION UNIT with nothing written (FCP-4 option b), which libiscsi also accepts).
 */
export function dataOutBlocks(lu: LuContext, cmd: ScsiCommand, count: number): Buffer {
  const want = count * lu.blockSize;
  const d = cmd.dataOut;
  const have = d === null ? 0 : d.length;
  if (have >= want) return have === want ? (d as Buffer) : (d as Buffer).subarray(0, want);
  if (have % lu.blockSize !== 0) throw illegalRequest(ASC.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT);
  return have === 0 ? Buffer.alloc(0) : (d as Buffer).subarray(0, have);
}

/**
 * MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION with INFORMATION = the offset of the first byte
 * that differs (SBC-3 VERIFY(10), COMPARE AND WRITE).
 */
export function miscompare(offset: number): CheckConditionError {
  return new CheckConditionError(SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY_OPERATION, { information: offset });
}

/** The offset of the first byte where `a` and `b` differ, -1 when they do not. */
export function firstDifference(a: Buffer, b: Buffer): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Rejects with AbortError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/** Lets the event loop run I/O callbacks and timers before a long operation continues. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs `step(done, n)` over `[0, total)` in chunks of at most `chunk`, with a turn of the event loop
 * and an abort check between chunks. Long operations (VERIFY, WRITE SAME, UNMAP, EXTENDED COPY)
 * never hold the event loop: one huge command must not starve every other one, whatever the
 * backend (a memory backend's "async" call completes in a microtask and would never let I/O run).
 */
export async function inChunks(
  total: number,
  chunk: number,
  signal: AbortSignal,
  step: (done: number, n: number) => Promise<void>,
): Promise<void> {
  for (let done = 0; done < total; ) {
    if (done !== 0) {
      await yieldToLoop();
      throwIfAborted(signal);
    }
    const n = Math.min(chunk, total - done);
    await step(done, n);
    done += n;
  }
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
