// The SCSI side of Session's block commands: which CDB a read or a write takes (the 10-byte one while
// the LBA and the length fit it, the 16-byte one beyond), READ CAPACITY's answers as a Capacity, and
// parameter data the target got wrong reported as the target's fault, not as a parser's RangeError.

import { IscsiProtocolError } from '../errors.js';
import { cdbRead10, cdbRead16, cdbWrite10, cdbWrite16, parseReadCapacity10, parseReadCapacity16 } from '../scsi/cdb/index.js';
import type { Capacity } from './options.js';

/** SBC-3 READ(10)/WRITE(10): a 32-bit LBA and a 16-bit TRANSFER LENGTH. */
const LBA10_LIMIT = 0x100000000;
const BLOCKS10_MAX = 0xffff;
/** Largest logical block size believed from READ CAPACITY (SBC-3 allows 32 bits; disks use 512..64 KiB). */
const MAX_BLOCK_SIZE = 1 << 20;

/** The READ or WRITE CDB for `blocks` blocks at `lba`: (10) where it fits, (16) otherwise. */
export function blockIoCdb(write: boolean, lba: number, blocks: number, fua: boolean): Buffer {
  const rw = { fua };
  const fits10 = lba + blocks <= LBA10_LIMIT && blocks <= BLOCKS10_MAX;
  if (write) return fits10 ? cdbWrite10(lba, blocks, rw) : cdbWrite16(lba, blocks, rw);
  return fits10 ? cdbRead10(lba, blocks, rw) : cdbRead16(lba, blocks, rw);
}

/** Refuses an LBA or a block count no READ or WRITE can carry. @throws RangeError */
export function checkRange(lba: number, blocks: number): void {
  if (!Number.isSafeInteger(lba) || lba < 0) throw new RangeError(`LBA ${lba} is not a non-negative integer`);
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > 0xffffffff) throw new RangeError(`block count ${blocks} must be an integer from 1 to 2^32-1`);
}

/**
 * Parses data the target returned: data too short or out of range for its format is the target's fault,
 * reported as a typed IscsiProtocolError (ERR_TARGET_DATA), not as the parser's RangeError.
 */
export function targetData<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new IscsiProtocolError('ERR_TARGET_DATA', `the target returned malformed data: ${e.message}`, { rule: 'SPC-4/SBC-3 parameter data', action: 'reject', cause: e });
  }
}

/** The capacity READ CAPACITY(16) parameter data gives. @throws IscsiProtocolError */
export function capacityFrom16(data: Buffer): Capacity {
  const c = targetData(() => parseReadCapacity16(data));
  return checkBlockSize({ blocks: c.blocks, blockSize: c.blockLength, lastLba: c.lastLba, bytes: c.blocks * c.blockLength, thinProvisioning: c.lbpme, logicalPerPhysicalExponent: c.lbppbe });
}

/** The capacity READ CAPACITY(10) parameter data gives. @throws IscsiProtocolError */
export function capacityFrom10(data: Buffer): Capacity {
  const c = targetData(() => parseReadCapacity10(data));
  const blocks = c.blocks ?? c.lastLba + 1;
  return checkBlockSize({ blocks, blockSize: c.blockLength, lastLba: c.lastLba, bytes: blocks * c.blockLength, thinProvisioning: undefined, logicalPerPhysicalExponent: 0 });
}

function checkBlockSize(cap: Capacity): Capacity {
  // A block size beyond 1 MiB is no disk's: taken as given, a hostile or broken target's answer would
  // size every later read buffer.
  if (!Number.isInteger(cap.blockSize) || cap.blockSize < 1 || cap.blockSize > MAX_BLOCK_SIZE) {
    throw new IscsiProtocolError('ERR_BLOCK_SIZE', `the LU reports a block size of ${cap.blockSize}`, { rule: 'SBC-3 READ CAPACITY', action: 'reject' });
  }
  return cap;
}
