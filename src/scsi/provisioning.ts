// Logical block provisioning (SBC-3 §4.7): UNMAP, WRITE SAME(10)/(16) with and without UNMAP and
// ANCHOR (and NDOB for the 16-byte form), and GET LBA STATUS. What the LU reports about them (VPD
// B0h/B2h, READ CAPACITY(16) LBPME/LBPRZ) comes from the LU's capabilities (capabilities.ts).
//
// Long operations never hold the event loop (SPDK's issue #3806: one huge WRITE SAME or UNMAP starved
// every other command): the range is processed a chunk at a time with a turn of the event loop
// between chunks (inChunks, block-io.ts), whatever the backend.

import { inChunks, lbaOutOfRange, mediumError, throwIfAborted, writeOptions } from './block-io.js';
import { readU64, truncate, writeU64 } from './cdb/fields.js';
import { command, F_MEDIUM, F_WRITE, usage10, usage16, USAGE_LBA4, USAGE_LBA8 } from './command.js';
import { ASC, OP, SAI, STATUS } from './constants.js';
import type { CommandDescriptor, LuContext } from './handler.js';
import { illegalRequest, invalidFieldInCdb, invalidFieldInParameterList } from './sense.js';
import type { ScsiCommand, ScsiResponse } from './types.js';

/** Bytes moved per step of a long WRITE SAME or UNMAP before the event loop gets a turn. */
const CHUNK_BYTES = 1 << 20;

/**
 * Writes `block` into every block of `[lba, lba + count)` a chunk at a time, yielding between
 * chunks. The caller holds the range lock.
 */
async function writeRepeated(lu: LuContext, cmd: ScsiCommand, lba: number, count: number, block: Buffer): Promise<void> {
  const bs = lu.blockSize;
  // A zero block on a backend that writes zeros without a buffer (NBD WRITE_ZEROES): one request.
  // SBC-3 §4.7.3.3: without UNMAP (and when anchoring) the blocks end up mapped, so no hole.
  if (lu.backend.writeZeroes !== undefined && block.equals(zeros(bs))) {
    try {
      return await lu.backend.writeZeroes(lba, count, { mapped: true, fua: !lu.mode.wce }, cmd.signal);
    } catch (e) {
      throw mediumError(e, 'write');
    }
  }
  const chunkBlocks = Math.max(1, Math.min(count, Math.floor(CHUNK_BYTES / bs)));
  const chunk = Buffer.allocUnsafe(chunkBlocks * bs);
  for (let i = 0; i < chunkBlocks; i++) block.copy(chunk, i * bs);
  const opts = writeOptions(lu.mode, false);
  await inChunks(count, chunkBlocks, cmd.signal, async (done, n) => {
    try {
      await lu.backend.write(lba + done, n === chunkBlocks ? chunk : chunk.subarray(0, n * bs), opts, cmd.signal);
    } catch (e) {
      throw mediumError(e, 'write');
    }
  });
}

/** Deallocates `[lba, lba + count)` a chunk at a time (the backend's unmap), yielding between chunks. */
async function deallocate(lu: LuContext, cmd: ScsiCommand, lba: number, count: number): Promise<void> {
  const unmap = lu.backend.unmap!.bind(lu.backend);
  const chunkBlocks = Math.max(1, Math.floor((8 * CHUNK_BYTES) / lu.blockSize));
  await inChunks(count, chunkBlocks, cmd.signal, async (done, n) => {
    try {
      await unmap(lba + done, n, cmd.signal);
    } catch (e) {
      throw mediumError(e, 'write');
    }
  });
}

let zeroBlock: Buffer | undefined;
function zeros(bs: number): Buffer {
  if (zeroBlock === undefined || zeroBlock.length !== bs) zeroBlock = Buffer.alloc(bs);
  return zeroBlock;
}

/**
 * Unmaps (`anchor` false) or anchors (true) a range under a shared range lock. Anchoring (SBC-3
 * §4.7.3.4: mapped, contents zero) writes zeros; deallocating uses the backend's unmap, or writes
 * zeros when it has none (the blocks then read back as zeros all the same).
 */
async function provision(lu: LuContext, cmd: ScsiCommand, lba: number, count: number, anchor: boolean): Promise<void> {
  const release = lu.rangeLock.tryAcquireShared(lba, count) ?? (await lu.rangeLock.acquireShared(lba, count, cmd.signal));
  try {
    if (!anchor && lu.backend.unmap !== undefined) await deallocate(lu, cmd, lba, count);
    else await writeRepeated(lu, cmd, lba, count, zeros(lu.blockSize));
  } finally {
    release();
  }
}

// ---------------------------------------------------------------------------------------------
// WRITE SAME

async function writeSame(lu: LuContext, cmd: ScsiCommand, lba: number, count: number, sixteen: boolean): Promise<ScsiResponse> {
  const c = cmd.cdb;
  const b1 = c[1]!;
  // WRPROTECT without protection information (SBC-3 WRITE SAME(10)).
  if ((b1 & 0xe0) !== 0) throw invalidFieldInCdb(1, 7);
  lu.checkWritable();
  const anchor = (b1 & 0x10) !== 0;
  const unmap = (b1 & 0x08) !== 0;
  const ndob = sixteen && (b1 & 0x01) !== 0;
  // SBC-3 §5.44: ANCHOR without UNMAP is an invalid field.
  if (anchor && !unmap) throw invalidFieldInCdb(1, 4);
  // SBC-3 §5.44: NUMBER OF LOGICAL BLOCKS 0 (WSNZ=0) means from LBA to the end of the medium.
  if (lba >= lu.blocks || lba + count > lu.blocks) throw lbaOutOfRange();
  const n = count === 0 ? lu.blocks - lba : count;
  if (n > lu.limits.maxWriteSameLength) throw invalidFieldInCdb(sixteen ? 10 : 7);
  let block: Buffer;
  if (ndob) {
    block = zeros(lu.blockSize);
  } else {
    const d = cmd.dataOut;
    const have = d === null ? 0 : d.length;
    // No Data-Out at all: processed "normally except" for the data that never came (RFC 7143
    // §11.4.5.1, FCP-4 option a, as for WRITE): nothing is written.
    if (have === 0) return { status: STATUS.GOOD };
    // The parameter data is exactly one logical block (SBC-3 §5.44). Any other length means the
    // initiator has the block size wrong, and repeating a wrong pattern over a range does damage:
    // refused (LIO refuses it too).
    if (have !== lu.blockSize) throw invalidFieldInCdb(sixteen ? 10 : 7);
    block = d as Buffer;
  }
  // SBC-3 §5.45/§5.46 with UNMAP=1: the blocks are deallocated (ANCHOR=1: anchored) in a thin
  // provisioned LU, whatever the Data-Out block holds; with LBPRZ=1 they then read back as zeros.
  // LIO does the same and libiscsi's WriteSame10.UnmapUntilEnd expects it (its block is not zero).
  if (unmap && lu.capabilities.lbpme) {
    await provision(lu, cmd, lba, n, anchor);
    return { status: STATUS.GOOD };
  }
  const release = lu.rangeLock.tryAcquireShared(lba, n) ?? (await lu.rangeLock.acquireShared(lba, n, cmd.signal));
  try {
    await writeRepeated(lu, cmd, lba, n, block);
  } finally {
    release();
  }
  return { status: STATUS.GOOD };
}

function writeSame10(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  return writeSame(lu, cmd, cmd.cdb.readUInt32BE(2), cmd.cdb.readUInt16BE(7), false);
}

function writeSame16(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  return writeSame(lu, cmd, readU64(cmd.cdb, 2), cmd.cdb.readUInt32BE(10), true);
}

// ---------------------------------------------------------------------------------------------
// UNMAP

/** UNMAP (SBC-3 §5.28): block descriptors validated all first, then each range deallocated. */
async function unmap(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  lu.checkWritable();
  const anchor = (cmd.cdb[1]! & 0x01) !== 0;
  const len = cmd.cdb.readUInt16BE(7);
  // SBC-3 §5.28: a PARAMETER LIST LENGTH of zero is not an error; nothing is unmapped.
  if (len === 0) return { status: STATUS.GOOD };
  const d = cmd.dataOut;
  if (len < 8 || d === null || d.length < len) throw illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
  const p = d.subarray(0, len);
  // UNMAP BLOCK DESCRIPTOR DATA LENGTH: only whole 16-byte descriptors within the list count.
  const count = Math.floor(Math.min(p.readUInt16BE(2), len - 8) / 16);
  if (count > lu.limits.maxUnmapBlockDescriptorCount) throw invalidFieldInParameterList(2);
  const ranges: [number, number][] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const off = 8 + 16 * i;
    const lba = readU64(p, off);
    const n = p.readUInt32BE(off + 8);
    if (lba + n > lu.blocks || lba > lu.blocks) throw lbaOutOfRange();
    total += n;
    if (n !== 0) ranges.push([lba, n]);
  }
  if (total > lu.limits.maxUnmapLbaCount) throw invalidFieldInParameterList(8 + 8);
  for (const [lba, n] of ranges) {
    throwIfAborted(cmd.signal);
    await provision(lu, cmd, lba, n, anchor);
  }
  return { status: STATUS.GOOD };
}

// ---------------------------------------------------------------------------------------------
// GET LBA STATUS

/** LBA status descriptors returned at most per command, whatever the allocation length. */
const MAX_LBA_STATUS_DESCRIPTORS = 64;

/** GET LBA STATUS (SBC-3 §5.6): descriptors of runs of the same provisioning status from STARTING LBA. */
async function getLbaStatus(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  const start = readU64(c, 2);
  const alloc = c.readUInt32BE(10);
  if (start >= lu.blocks) throw lbaOutOfRange();
  const want = Math.min(MAX_LBA_STATUS_DESCRIPTORS, Math.max(1, Math.floor((alloc - 8) / 16)));
  const status = lu.backend.extentStatus?.bind(lu.backend);
  const descs: Buffer[] = [];
  for (let lba = start; lba < lu.blocks && descs.length < want; ) {
    // Without extentStatus the backend cannot tell: "mapped or unknown" (SBC-4 PROVISIONING STATUS 0h).
    const rest = Math.min(lu.blocks - lba, 0xffffffff);
    const ext = status === undefined ? { mapped: true, blocks: rest } : await status(lba, rest);
    const n = Math.max(1, Math.min(ext.blocks, rest));
    const dsc = Buffer.alloc(16);
    writeU64(dsc, 0, lba);
    dsc.writeUInt32BE(n, 8);
    dsc[12] = ext.mapped ? 0x0 : 0x1; // PROVISIONING STATUS: mapped, deallocated
    descs.push(dsc);
    lba += n;
  }
  const data = Buffer.alloc(8 + 16 * descs.length);
  // PARAMETER DATA LENGTH counts the bytes after itself: 4 reserved plus the descriptors.
  data.writeUInt32BE(4 + 16 * descs.length, 0);
  descs.forEach((dsc, i) => dsc.copy(data, 8 + 16 * i));
  return { status: STATUS.GOOD, data: truncate(data, alloc) };
}

// ---------------------------------------------------------------------------------------------
// The table

// WRITE SAME byte 1: WRPROTECT, ANCHOR, UNMAP (and NDOB for the 16-byte form); the obsolete
// PBDATA/LBDATA bits are not evaluated, so a CDB setting them is refused.
/** The provisioning commands of a thin-provisioned direct-access LU. */
export const PROVISIONING_COMMANDS: readonly CommandDescriptor[] = [
  command('WRITE SAME(10)', usage10(OP.WRITE_SAME_10, 0xf8), F_MEDIUM | F_WRITE, writeSame10, {
    // NDOB does not exist in the 10-byte form: one block of Data-Out always.
    dataOut: (_c, bs) => bs,
  }),
  command('UNMAP', [OP.UNMAP, 0x01, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0], F_MEDIUM | F_WRITE, unmap, {
    dataOut: (c) => c.readUInt16BE(7),
  }),
  command('WRITE SAME(16)', usage16(OP.WRITE_SAME_16, 0xf9), F_MEDIUM | F_WRITE, writeSame16, {
    dataOut: (c, bs) => ((c[1]! & 0x01) !== 0 ? 0 : bs),
  }),
  command(
    'GET LBA STATUS',
    [OP.SERVICE_ACTION_IN_16, SAI.GET_LBA_STATUS, ...USAGE_LBA8, ...USAGE_LBA4, 0, 0],
    F_MEDIUM,
    getLbaStatus,
    { serviceAction: SAI.GET_LBA_STATUS, pr: 'read' },
  ),
];
