// Block commands that must not interleave with other writes to their blocks: COMPARE AND WRITE
// (SBC-3 §5.2), ORWRITE(16) (SBC-3 §5.9) and WRITE ATOMIC(16) (SBC-4 §5.48). Each holds an exclusive
// range lock (range-lock.ts) from its first read to its last write; every other command that
// modifies blocks takes a shared lock on them, so none of them can slip in between.
//
// Atomicity is against other commands. Against a power loss it is as strong as the backend's one
// write call: memory loses everything anyway; a file may keep part of a multi-block write (the file
// system gives no larger guarantee to a pure Node process), which is why MAXIMUM ATOMIC TRANSFER
// LENGTH is kept to `limits.maxAtomicTransferLength`.

import { dataOutBlocks, firstDifference, lbaOutOfRange, mediumError, miscompare, writeOptions } from './block-io.js';
import { readU64 } from './cdb/fields.js';
import { command, F_MEDIUM, F_WRITE, usage16, USAGE_LBA8 } from './command.js';
import { ASC, OP, STATUS } from './constants.js';
import type { CommandDescriptor, LuContext } from './handler.js';
import { illegalRequest, invalidFieldInCdb } from './sense.js';
import type { ScsiCommand, ScsiResponse } from './types.js';

async function readBlocks(lu: LuContext, cmd: ScsiCommand, lba: number, count: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(count * lu.blockSize);
  try {
    await lu.backend.read(lba, count, buf, cmd.signal);
  } catch (e) {
    throw mediumError(e, 'read');
  }
  return buf;
}

async function writeBlocks(lu: LuContext, cmd: ScsiCommand, lba: number, data: Buffer, fua: boolean): Promise<void> {
  try {
    await lu.backend.write(lba, data, writeOptions(lu.mode, fua), cmd.signal);
  } catch (e) {
    throw mediumError(e, 'write');
  }
}

/** Runs `body` holding `[lba, lba + count)` exclusively. */
async function exclusively<T>(lu: LuContext, cmd: ScsiCommand, lba: number, count: number, body: () => Promise<T>): Promise<T> {
  const release = lu.rangeLock.tryAcquire(lba, count) ?? (await lu.rangeLock.acquire(lba, count, cmd.signal));
  try {
    return await body();
  } finally {
    release();
  }
}

/**
 * COMPARE AND WRITE (SBC-3 §5.2): the Data-Out is NUMBER OF LOGICAL BLOCKS of verify data followed
 * by as many of write data. If the medium equals the verify data the write data replaces it; if not,
 * MISCOMPARE with the offset of the first differing byte in INFORMATION, and nothing is written.
 */
async function compareAndWrite(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7); // WRPROTECT
  lu.checkWritable();
  const lba = readU64(c, 2);
  const nlb = c[13]!;
  if (nlb > lu.limits.maxCompareAndWriteLength) throw invalidFieldInCdb(13);
  if (lba + nlb > lu.blocks) throw lbaOutOfRange();
  const bs = lu.blockSize;
  const have = cmd.dataOut === null ? 0 : cmd.dataOut.length;
  // Both halves must arrive whole: comparing or writing a part would not be the operation asked for.
  // A mismatch (including data sent for NUMBER OF LOGICAL BLOCKS 0) means the CDB is not what the
  // initiator meant to send (libiscsi's CompareAndWrite.InvalidDataOutSize; LIO refuses it too).
  if (have !== 2 * nlb * bs) throw invalidFieldInCdb(13);
  if (nlb === 0) return { status: STATUS.GOOD };
  const d = cmd.dataOut as Buffer;
  const verify = d.subarray(0, nlb * bs);
  const write = d.subarray(nlb * bs, 2 * nlb * bs);
  await exclusively(lu, cmd, lba, nlb, async () => {
    const current = await readBlocks(lu, cmd, lba, nlb);
    if (!current.equals(verify)) throw miscompare(firstDifference(current, verify));
    await writeBlocks(lu, cmd, lba, write, (c[1]! & 0x08) !== 0);
  });
  return { status: STATUS.GOOD };
}

/** ORWRITE(16) (SBC-3 §5.9): each block becomes the bitwise OR of itself and the Data-Out. */
async function orWrite16(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7); // ORPROTECT
  lu.checkWritable();
  const lba = readU64(c, 2);
  const count = c.readUInt32BE(10);
  if (count > lu.limits.maxTransferLength) throw invalidFieldInCdb(10);
  if (lba + count > lu.blocks) throw lbaOutOfRange();
  if (count === 0) return { status: STATUS.GOOD };
  const data = dataOutBlocks(lu, cmd, count);
  const blocks = data.length / lu.blockSize;
  if (blocks === 0) return { status: STATUS.GOOD };
  await exclusively(lu, cmd, lba, blocks, async () => {
    const current = await readBlocks(lu, cmd, lba, blocks);
    for (let i = 0; i < current.length; i++) current[i]! |= data[i]!;
    await writeBlocks(lu, cmd, lba, current, (c[1]! & 0x08) !== 0);
  });
  return { status: STATUS.GOOD };
}

/**
 * WRITE ATOMIC(16) (SBC-4 §5.48): all the blocks or none. No ATOMIC BOUNDARY is offered (MAXIMUM
 * ATOMIC BOUNDARY SIZE 0), nor alignment or granularity constraints.
 */
async function writeAtomic16(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7); // WRPROTECT
  lu.checkWritable();
  const lba = readU64(c, 2);
  if (c.readUInt16BE(10) !== 0) throw invalidFieldInCdb(10); // ATOMIC BOUNDARY
  const count = c.readUInt16BE(12);
  if (lba + count > lu.blocks) throw lbaOutOfRange();
  if (count > lu.limits.maxAtomicTransferLength) throw invalidFieldInCdb(12);
  if (count === 0) return { status: STATUS.GOOD };
  const d = cmd.dataOut;
  // Writing the blocks that arrived and not the rest would break the all-or-nothing promise.
  if (d === null || d.length < count * lu.blockSize) throw illegalRequest(ASC.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT);
  const data = d.length === count * lu.blockSize ? d : d.subarray(0, count * lu.blockSize);
  await exclusively(lu, cmd, lba, count, () => writeBlocks(lu, cmd, lba, data, (c[1]! & 0x08) !== 0));
  return { status: STATUS.GOOD };
}

/** COMPARE AND WRITE, ORWRITE(16) and WRITE ATOMIC(16). */
export const ATOMIC_COMMANDS: readonly CommandDescriptor[] = [
  // Byte 1: WRPROTECT/ORPROTECT, DPO, FUA, FUA_NV (obsolete, accepted: libiscsi may set it).
  command('COMPARE AND WRITE', [OP.COMPARE_AND_WRITE, 0xfa, ...USAGE_LBA8, 0, 0, 0, 0xff, 0x1f, 0], F_MEDIUM | F_WRITE, compareAndWrite, {
    dataOut: (c, bs) => 2 * c[13]! * bs,
  }),
  command('ORWRITE(16)', usage16(OP.ORWRITE_16, 0xfa), F_MEDIUM | F_WRITE, orWrite16, {
    dataOut: (c, bs) => c.readUInt32BE(10) * bs,
  }),
  // WRITE ATOMIC(16): bytes 10..13 are ATOMIC BOUNDARY and TRANSFER LENGTH, where the READ(16) layout has TRANSFER LENGTH.
  command('WRITE ATOMIC(16)', usage16(OP.WRITE_ATOMIC_16, 0xf8), F_MEDIUM | F_WRITE, writeAtomic16, {
    dataOut: (c, bs) => c.readUInt16BE(12) * bs,
  }),
];
