// SBC-3 block commands: READ, WRITE, WRITE AND VERIFY, VERIFY, SYNCHRONIZE CACHE, PRE-FETCH,
// READ CAPACITY, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, READ DEFECT DATA.
// READ and WRITE are the hot path: each handler decodes its CDB inline, allocates the data buffer
// and nothing else, and awaits the backend once.

import {
  allocIoBuffer,
  dataOutBlocks,
  firstDifference,
  FUA,
  inChunks,
  lbaOutOfRange,
  mediumError,
  miscompare,
  writeOptions,
} from './block-io.js';
import { readU64, truncate, writeU64 } from './cdb/fields.js';
import { command, F_MEDIUM, F_WRITE, usage10, usage12, usage16, USAGE_LBA4, USAGE_LBA8 } from './command.js';
import { OP, SAI, STATUS } from './constants.js';
import type { CommandDescriptor, CommandHandler, LuContext, NexusState } from './handler.js';
import type { PrAccess } from './persistent-reservations.js';
import { invalidFieldInCdb } from './sense.js';
import type { ScsiCommand, ScsiResponse } from './types.js';

// ---------------------------------------------------------------------------------------------
// READ

async function doRead(lu: LuContext, cmd: ScsiCommand, lba: number, count: number, tlByte: number): Promise<ScsiResponse> {
  // SBC-3 §6.5, Block Limits VPD page: a transfer longer than MAXIMUM TRANSFER LENGTH is an invalid field.
  if (count > lu.limits.maxTransferLength) throw invalidFieldInCdb(tlByte);
  // SBC-3, logical block addresses: the LBA plus the transfer length must stay within the capacity.
  if (lba + count > lu.blocks) throw lbaOutOfRange();
  if (count === 0) return { status: STATUS.GOOD };
  const data = allocIoBuffer(count * lu.blockSize);
  try {
    await lu.backend.read(lba, count, data, cmd.signal);
  } catch (e) {
    throw mediumError(e, 'read');
  }
  return { status: STATUS.GOOD, data };
}

function read6(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  // SBC-3 READ(6): 21-bit LBA; TRANSFER LENGTH 0 means 256 blocks.
  return doRead(lu, cmd, ((c[1]! & 0x1f) << 16) | c.readUInt16BE(2), c[4]! === 0 ? 256 : c[4]!, 4);
}

function read10(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  // RDPROTECT without protection information (SBC-3 READ(10)) is an invalid field.
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7);
  return doRead(lu, cmd, c.readUInt32BE(2), c.readUInt16BE(7), 7);
}

function read12(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7);
  return doRead(lu, cmd, c.readUInt32BE(2), c.readUInt32BE(6), 6);
}

function read16(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7);
  return doRead(lu, cmd, readU64(c, 2), c.readUInt32BE(10), 10);
}

// ---------------------------------------------------------------------------------------------
// WRITE

async function doWrite(
  lu: LuContext,
  cmd: ScsiCommand,
  lba: number,
  count: number,
  fua: boolean,
  tlByte: number,
): Promise<ScsiResponse> {
  lu.checkWritable();
  if (count > lu.limits.maxTransferLength) throw invalidFieldInCdb(tlByte);
  if (lba + count > lu.blocks) throw lbaOutOfRange();
  if (count === 0) return { status: STATUS.GOOD };
  const data = dataOutBlocks(lu, cmd, count);
  if (data.length !== 0) {
    const blocks = data.length / lu.blockSize;
    // A shared range lock: writes never wait for each other, only for a COMPARE AND WRITE, ORWRITE
    // or WRITE ATOMIC holding these blocks (range-lock.ts).
    const release = lu.rangeLock.tryAcquireShared(lba, blocks) ?? (await lu.rangeLock.acquireShared(lba, blocks, cmd.signal));
    try {
      await lu.backend.write(lba, data, writeOptions(lu.mode, fua), cmd.signal);
    } catch (e) {
      throw mediumError(e, 'write');
    } finally {
      release();
    }
  }
  return { status: STATUS.GOOD };
}

function write6(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  return doWrite(lu, cmd, ((c[1]! & 0x1f) << 16) | c.readUInt16BE(2), c[4]! === 0 ? 256 : c[4]!, false, 4);
}

function write10(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  // WRPROTECT without protection information (SBC-3 WRITE(10)).
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7);
  return doWrite(lu, cmd, c.readUInt32BE(2), c.readUInt16BE(7), (c[1]! & 0x08) !== 0, 7);
}

function write12(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7);
  return doWrite(lu, cmd, c.readUInt32BE(2), c.readUInt32BE(6), (c[1]! & 0x08) !== 0, 6);
}

function write16(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7);
  return doWrite(lu, cmd, readU64(c, 2), c.readUInt32BE(10), (c[1]! & 0x08) !== 0, 10);
}

// ---------------------------------------------------------------------------------------------
// VERIFY and WRITE AND VERIFY

/**
 * Reads `[lba, lba + count)` in chunks, each compared with `expect(chunkStart, blocks)` when given,
 * yielding to the event loop between chunks so a long verify never starves other I/O.
 */
async function verifyRange(
  lu: LuContext,
  cmd: ScsiCommand,
  lba: number,
  count: number,
  expect: ((block: number, blocks: number) => Buffer) | null,
): Promise<void> {
  const chunk = Math.max(1, lu.limits.verifyChunkBlocks);
  const buf = Buffer.allocUnsafe(Math.min(count, chunk) * lu.blockSize);
  await inChunks(count, chunk, cmd.signal, async (done, n) => {
    const view = n * lu.blockSize === buf.length ? buf : buf.subarray(0, n * lu.blockSize);
    try {
      await lu.backend.read(lba + done, n, view, cmd.signal);
    } catch (e) {
      throw mediumError(e, 'read');
    }
    if (expect !== null) {
      const want = expect(done, n);
      if (!view.equals(want)) {
        const at = firstDifference(view, want);
        throw miscompare(done * lu.blockSize + at);
      }
    }
  });
}

async function doVerify(lu: LuContext, cmd: ScsiCommand, lba: number, count: number, tlByte: number): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7); // VRPROTECT
  const bytchk = (c[1]! >> 1) & 0x03;
  // SBC-4 VERIFY(10): BYTCHK 10b is reserved.
  if (bytchk === 2) throw invalidFieldInCdb(1, 2);
  // Only a byte-by-byte compare of every block transfers VERIFICATION LENGTH blocks of data.
  if (bytchk === 1 && count > lu.limits.maxTransferLength) throw invalidFieldInCdb(tlByte);
  if (lba + count > lu.blocks) throw lbaOutOfRange();
  if (count === 0) return { status: STATUS.GOOD };
  const bs = lu.blockSize;
  if (bytchk === 0) {
    // Medium verification only: read every block back (errors become MEDIUM ERROR).
    await verifyRange(lu, cmd, lba, count, null);
  } else if (bytchk === 1) {
    const data = dataOutBlocks(lu, cmd, count);
    const blocks = data.length / bs;
    if (blocks !== 0) await verifyRange(lu, cmd, lba, blocks, (b, n) => data.subarray(b * bs, (b + n) * bs));
  } else {
    // BYTCHK 11b (SBC-4 VERIFY(10)): one block of Data-Out compared with every block of the range.
    const one = dataOutBlocks(lu, cmd, 1);
    if (one.length !== 0) {
      let pattern: Buffer | null = null;
      await verifyRange(lu, cmd, lba, count, (_b, n) => {
        if (pattern === null || pattern.length < n * bs) {
          pattern = Buffer.allocUnsafe(n * bs);
          for (let i = 0; i < n; i++) one.copy(pattern, i * bs);
        }
        return pattern.length === n * bs ? pattern : pattern.subarray(0, n * bs);
      });
    }
  }
  return { status: STATUS.GOOD };
}

/** A block command on `count` blocks from `lba`; `tlByte` is where its transfer length field starts. */
type RangeCommand = (lu: LuContext, cmd: ScsiCommand, lba: number, count: number, tlByte: number) => Promise<ScsiResponse>;

/**
 * The handlers of the 10-, 12- and 16-byte forms of a block command, each decoding the LBA and
 * transfer length of its layout (SBC-3 READ(10), READ(12), READ(16)). READ and WRITE decode inline.
 */
function byLayout(run: RangeCommand): [CommandHandler, CommandHandler, CommandHandler] {
  return [
    (lu, cmd) => run(lu, cmd, cmd.cdb.readUInt32BE(2), cmd.cdb.readUInt16BE(7), 7),
    (lu, cmd) => run(lu, cmd, cmd.cdb.readUInt32BE(2), cmd.cdb.readUInt32BE(6), 6),
    (lu, cmd) => run(lu, cmd, readU64(cmd.cdb, 2), cmd.cdb.readUInt32BE(10), 10),
  ];
}

const [verify10, verify12, verify16] = byLayout(doVerify);

function verifyDataOut(cdb: Buffer, bs: number, count: number): number {
  const bytchk = (cdb[1]! >> 1) & 0x03;
  if (bytchk === 1) return count * bs;
  if (bytchk === 3) return count === 0 ? 0 : bs;
  return 0;
}

async function doWriteAndVerify(
  lu: LuContext,
  cmd: ScsiCommand,
  lba: number,
  count: number,
  tlByte: number,
): Promise<ScsiResponse> {
  const c = cmd.cdb;
  if ((c[1]! & 0xe0) !== 0) throw invalidFieldInCdb(1, 7); // WRPROTECT
  const bytchk = (c[1]! >> 1) & 0x01;
  lu.checkWritable();
  if (count > lu.limits.maxTransferLength) throw invalidFieldInCdb(tlByte);
  if (lba + count > lu.blocks) throw lbaOutOfRange();
  if (count === 0) return { status: STATUS.GOOD };
  const data = dataOutBlocks(lu, cmd, count);
  const blocks = data.length / lu.blockSize;
  if (blocks === 0) return { status: STATUS.GOOD };
  const release = lu.rangeLock.tryAcquireShared(lba, blocks) ?? (await lu.rangeLock.acquireShared(lba, blocks, cmd.signal));
  try {
    try {
      // The verification is of the medium, so the write must reach it (SBC-3 WRITE AND VERIFY(10)).
      await lu.backend.write(lba, data, FUA, cmd.signal);
    } catch (e) {
      throw mediumError(e, 'write');
    }
    const bs = lu.blockSize;
    // BYTCHK=0: verify the medium by reading it back; BYTCHK=1: and compare with what was sent.
    await verifyRange(lu, cmd, lba, blocks, bytchk === 1 ? (b, n) => data.subarray(b * bs, (b + n) * bs) : null);
  } finally {
    release();
  }
  return { status: STATUS.GOOD };
}

const [writeAndVerify10, writeAndVerify12, writeAndVerify16] = byLayout(doWriteAndVerify);

// ---------------------------------------------------------------------------------------------
// SYNCHRONIZE CACHE, PRE-FETCH

async function doSynchronizeCache(lu: LuContext, cmd: ScsiCommand, lba: number, count: number): Promise<ScsiResponse> {
  // SBC-3 SYNCHRONIZE CACHE(10): NUMBER OF LOGICAL BLOCKS 0 means from LBA to the end of the medium.
  if (lba + count > lu.blocks || lba > lu.blocks) throw lbaOutOfRange();
  // IMMED=1 is accepted; the flush still completes before status, which IMMED permits but does not
  // require, and keeps "GOOD" meaning "durable".
  try {
    await lu.backend.flush(cmd.signal);
  } catch (e) {
    throw mediumError(e, 'write');
  }
  return { status: STATUS.GOOD };
}

function synchronizeCache10(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  return doSynchronizeCache(lu, cmd, cmd.cdb.readUInt32BE(2), cmd.cdb.readUInt16BE(7));
}
function synchronizeCache16(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  return doSynchronizeCache(lu, cmd, readU64(cmd.cdb, 2), cmd.cdb.readUInt32BE(10));
}

function doPrefetch(lu: LuContext, lba: number, count: number): ScsiResponse {
  if (lba + count > lu.blocks || lba > lu.blocks) throw lbaOutOfRange();
  const n = count === 0 ? lu.blocks - lba : count;
  // SBC-3 PRE-FETCH(10): CONDITION MET when the blocks fit in the cache, GOOD when they do not. Memory is its
  // own cache and files have the OS page cache, so nothing is moved; the nominal cache is
  // `limits.prefetchBlocks`.
  return { status: n <= lu.limits.prefetchBlocks ? STATUS.CONDITION_MET : STATUS.GOOD };
}

function prefetch10(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  return doPrefetch(lu, cmd.cdb.readUInt32BE(2), cmd.cdb.readUInt16BE(7));
}
function prefetch16(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  return doPrefetch(lu, readU64(cmd.cdb, 2), cmd.cdb.readUInt32BE(10));
}

// ---------------------------------------------------------------------------------------------
// READ CAPACITY

/** READ CAPACITY(10) (SBC-3 §5.15). */
function readCapacity10(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const pmi = (cmd.cdb[8]! & 0x01) !== 0;
  // SBC-3 READ CAPACITY(10): a LOGICAL BLOCK ADDRESS other than zero needs PMI=1.
  if (!pmi && cmd.cdb.readUInt32BE(2) !== 0) throw invalidFieldInCdb(2);
  const data = Buffer.alloc(8);
  // Capacities beyond 2^32 blocks report FFFFFFFFh: use READ CAPACITY(16) (SBC-3 READ CAPACITY(10)).
  data.writeUInt32BE(Math.min(lu.blocks - 1, 0xffffffff), 0);
  data.writeUInt32BE(lu.blockSize, 4);
  return { status: STATUS.GOOD, data };
}

/** READ CAPACITY(16) (SBC-3 §5.16). */
function readCapacity16(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const c = cmd.cdb;
  const pmi = (c[14]! & 0x01) !== 0;
  if (!pmi && (c.readUInt32BE(2) !== 0 || c.readUInt32BE(6) !== 0)) throw invalidFieldInCdb(2);
  const alloc = c.readUInt32BE(10);
  const data = Buffer.alloc(32);
  writeU64(data, 0, lu.blocks - 1);
  data.writeUInt32BE(lu.blockSize, 8);
  // Byte 12: no protection information. Byte 13: LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
  data[13] = lu.lbppbe & 0x0f;
  // Byte 14: LBPME and LBPRZ, as the provisioning VPD page (SBC-3 READ CAPACITY(16)); lowest aligned LBA 0.
  const cap = lu.capabilities;
  data[14] = (cap.lbpme ? 0x80 : 0) | (cap.lbpme && cap.lbprz ? 0x40 : 0);
  return { status: STATUS.GOOD, data: truncate(data, alloc) };
}

// ---------------------------------------------------------------------------------------------
// START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL

/**
 * START STOP UNIT (SBC-3 §5.25). POWER CONDITION other than 0 makes START and LOEJ ignored (there
 * is no power management to change). LOEJ loads or ejects a removable medium unless removal is
 * prevented; on a non-removable medium it is accepted and has no effect, as tgt does (SBC-3 gives
 * no error for it). START without LOEJ changes nothing observable: the medium is always spinning.
 */
async function startStopUnit(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const b4 = cmd.cdb[4]!;
  if (b4 >> 4 !== 0) return { status: STATUS.GOOD };
  const loej = (b4 & 0x02) !== 0;
  const start = (b4 & 0x01) !== 0;
  const noFlush = (b4 & 0x04) !== 0;
  if (!start && !noFlush && lu.mediumPresent) {
    try {
      await lu.backend.flush(cmd.signal);
    } catch (e) {
      throw mediumError(e, 'write');
    }
  }
  // SBC-3 PREVENT ALLOW MEDIUM REMOVAL: while any I_T nexus prevents removal, neither eject nor load is allowed.
  if (loej) await lu.loadMedium(start);
  return { status: STATUS.GOOD };
}

const GOOD: () => ScsiResponse = () => ({ status: STATUS.GOOD });

/** PREVENT ALLOW MEDIUM REMOVAL (SBC-3): per I_T nexus; 10b and 11b are obsolete. */
function preventAllow(lu: LuContext, cmd: ScsiCommand, nexus: NexusState): Promise<ScsiResponse> | ScsiResponse {
  const prevent = cmd.cdb[4]! & 0x03;
  if (prevent > 1) throw invalidFieldInCdb(4, 1);
  const shared = lu.removable ? lu.setPrevent(nexus, prevent === 1) : undefined;
  return shared === undefined ? GOOD() : shared.then(GOOD);
}

// ---------------------------------------------------------------------------------------------
// READ DEFECT DATA

/**
 * READ DEFECT DATA(10) (SBC-3): a virtual medium has no defects, so both lists are valid
 * and empty in whatever format was asked for.
 */
function readDefectData10(_lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const b2 = cmd.cdb[2]!;
  const alloc = cmd.cdb.readUInt16BE(7);
  const data = Buffer.alloc(4);
  data[1] = b2 & 0x1f; // PLISTV = REQ_PLIST, GLISTV = REQ_GLIST, DEFECT LIST FORMAT echoed
  return { status: STATUS.GOOD, data: truncate(data, alloc) };
}

/** READ DEFECT DATA(12) (SBC-3): 8-byte header, GENERATION CODE 0, empty list. */
function readDefectData12(_lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const b1 = cmd.cdb[1]!;
  const alloc = cmd.cdb.readUInt32BE(6);
  const data = Buffer.alloc(8);
  data[1] = b1 & 0x1f;
  return { status: STATUS.GOOD, data: truncate(data, alloc) };
}

// ---------------------------------------------------------------------------------------------
// The table

const rw6Out = (c: Buffer, bs: number): number => (c[4]! === 0 ? 256 : c[4]!) * bs;
const rw10Out = (c: Buffer, bs: number): number => c.readUInt16BE(7) * bs;
const rw12Out = (c: Buffer, bs: number): number => c.readUInt32BE(6) * bs;
const rw16Out = (c: Buffer, bs: number): number => c.readUInt32BE(10) * bs;
const v10Out = (c: Buffer, bs: number): number => verifyDataOut(c, bs, c.readUInt16BE(7));
const v12Out = (c: Buffer, bs: number): number => verifyDataOut(c, bs, c.readUInt32BE(6));
const v16Out = (c: Buffer, bs: number): number => verifyDataOut(c, bs, c.readUInt32BE(10));

// Byte 1 of READ: RDPROTECT, DPO, FUA, RARC, FUA_NV; of WRITE: WRPROTECT, DPO, FUA, FUA_NV.
// RDPROTECT/WRPROTECT are evaluated (and refused when non-zero), as LIO reports them.
const READ_B1 = 0xfe;
const WRITE_B1 = 0xfa;
// VERIFY: VRPROTECT, DPO, BYTCHK (2 bits, SBC-4); WRITE AND VERIFY: WRPROTECT, DPO, BYTCHK (1 bit).
const VERIFY_B1 = 0xf6;
const WAV_B1 = 0xf2;
// PRE-FETCH: IMMED. SYNCHRONIZE CACHE: IMMED and SYNC_NV (bit 2, obsolete in SBC-4), accepted because
// libiscsi still sets it.
const PREFETCH_B1 = 0x02;
const SYNC_B1 = 0x06;

/** START STOP UNIT with START=1 and POWER CONDITION 0 passes a persistent reservation; the rest conflict (SBC-3 §4.17). */
const startStopPr = (cdb: Buffer): PrAccess => ((cdb[4]! & 0xf1) === 0x01 ? 'allowed' : 'write');
/** PREVENT ALLOW MEDIUM REMOVAL with PREVENT 00b passes a persistent reservation (SBC-3 §4.17). */
const preventPr = (cdb: Buffer): PrAccess => ((cdb[4]! & 0x03) === 0 ? 'allowed' : 'write');
// SYNCHRONIZE CACHE changes no block, so it passes Write Exclusive reservations like a read (LIO does the same).
const READ = { pr: 'read' as const };
const MEDIUM_WRITE = F_MEDIUM | F_WRITE;

/** The SBC command set of a direct-access logical unit (besides provisioning.ts and sbc-atomic.ts). */
export const SBC_COMMANDS: readonly CommandDescriptor[] = [
  command('READ(6)', [OP.READ_6, 0x1f, 0xff, 0xff, 0xff, 0], F_MEDIUM, read6, READ),
  command('WRITE(6)', [OP.WRITE_6, 0x1f, 0xff, 0xff, 0xff, 0], MEDIUM_WRITE, write6, { dataOut: rw6Out }),
  command('START STOP UNIT', [OP.START_STOP_UNIT, 0x01, 0, 0x0f, 0xf7, 0], 0, startStopUnit, { pr: startStopPr }),
  command('PREVENT ALLOW MEDIUM REMOVAL', [OP.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0x03, 0], 0, preventAllow, { pr: preventPr }),
  command('READ CAPACITY(10)', [OP.READ_CAPACITY_10, 0, ...USAGE_LBA4, 0, 0, 0x01, 0], F_MEDIUM, readCapacity10, { pr: 'allowed' }),
  command('READ(10)', usage10(OP.READ_10, READ_B1), F_MEDIUM, read10, READ),
  command('WRITE(10)', usage10(OP.WRITE_10, WRITE_B1), MEDIUM_WRITE, write10, { dataOut: rw10Out }),
  command('WRITE AND VERIFY(10)', usage10(OP.WRITE_AND_VERIFY_10, WAV_B1), MEDIUM_WRITE, writeAndVerify10, { dataOut: rw10Out }),
  command('VERIFY(10)', usage10(OP.VERIFY_10, VERIFY_B1), F_MEDIUM, verify10, { dataOut: v10Out, pr: 'read' }),
  command('PRE-FETCH(10)', usage10(OP.PRE_FETCH_10, PREFETCH_B1), F_MEDIUM, prefetch10, READ),
  command('SYNCHRONIZE CACHE(10)', usage10(OP.SYNCHRONIZE_CACHE_10, SYNC_B1), F_MEDIUM, synchronizeCache10, READ),
  command('READ DEFECT DATA(10)', [OP.READ_DEFECT_DATA_10, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0], F_MEDIUM, readDefectData10, READ),
  command('READ(16)', usage16(OP.READ_16, READ_B1), F_MEDIUM, read16, READ),
  command('WRITE(16)', usage16(OP.WRITE_16, WRITE_B1), MEDIUM_WRITE, write16, { dataOut: rw16Out }),
  command('WRITE AND VERIFY(16)', usage16(OP.WRITE_AND_VERIFY_16, WAV_B1), MEDIUM_WRITE, writeAndVerify16, { dataOut: rw16Out }),
  command('VERIFY(16)', usage16(OP.VERIFY_16, VERIFY_B1), F_MEDIUM, verify16, { dataOut: v16Out, pr: 'read' }),
  command('PRE-FETCH(16)', usage16(OP.PRE_FETCH_16, PREFETCH_B1), F_MEDIUM, prefetch16, READ),
  command('SYNCHRONIZE CACHE(16)', usage16(OP.SYNCHRONIZE_CACHE_16, SYNC_B1), F_MEDIUM, synchronizeCache16, READ),
  command(
    'READ CAPACITY(16)',
    [OP.SERVICE_ACTION_IN_16, SAI.READ_CAPACITY_16, ...USAGE_LBA8, ...USAGE_LBA4, 0x01, 0],
    F_MEDIUM,
    readCapacity16,
    { serviceAction: SAI.READ_CAPACITY_16, pr: 'allowed' },
  ),
  command('READ(12)', usage12(OP.READ_12, READ_B1), F_MEDIUM, read12, READ),
  command('WRITE(12)', usage12(OP.WRITE_12, WRITE_B1), MEDIUM_WRITE, write12, { dataOut: rw12Out }),
  command('WRITE AND VERIFY(12)', usage12(OP.WRITE_AND_VERIFY_12, WAV_B1), MEDIUM_WRITE, writeAndVerify12, { dataOut: rw12Out }),
  command('VERIFY(12)', usage12(OP.VERIFY_12, VERIFY_B1), F_MEDIUM, verify12, { dataOut: v12Out, pr: 'read' }),
  command('READ DEFECT DATA(12)', [OP.READ_DEFECT_DATA_12, 0x1f, ...USAGE_LBA4, ...USAGE_LBA4, 0, 0], F_MEDIUM, readDefectData12, READ),
];
