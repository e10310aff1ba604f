// Logical block provisioning (SBC-3 §4.7): UNMAP (§5.28), WRITE SAME(10)/(16) (§5.45, §5.46) with
// UNMAP, ANCHOR and NDOB, GET LBA STATUS (§5.6), and long operations that leave the event loop free.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import {
  cdbRead10,
  cdbStartStopUnit,
  cdbWrite10,
  cdbGetLbaStatus,
  cdbUnmap,
  cdbWriteSame10,
  cdbWriteSame16,
  parseGetLbaStatus,
} from '../../src/scsi/cdb/index.js';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { cmd, expectSense, makeLu, pattern, type Fixture } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;
const CHUNK = 128; // blocks in one 64 KiB chunk of the memory backend

async function read(f: Fixture, lba: number, blocks: number): Promise<Buffer> {
  const r = await f.run(cdbRead10(lba, blocks));
  expect(r.status).toBe(0);
  return r.data as Buffer;
}

function unmap(f: Fixture, ranges: [number, number][], anchor = false) {
  const { cdb, data } = cdbUnmap(ranges, { anchor });
  return f.run(cdb, { dataOut: data });
}

describe('UNMAP (SBC-3 §5.28)', () => {
  test('deallocates: the blocks read back as zeros and the memory is freed', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, 2 * CHUNK), { dataOut: pattern(2 * CHUNK, 0x5a) });
    expect(f.backend.allocatedBytes).toBe(2 * 65536);
    expect((await unmap(f, [[0, CHUNK], [CHUNK, 8]])).status).toBe(0);
    expect(f.backend.allocatedBytes).toBe(65536);
    expect((await read(f, 0, CHUNK + 8)).equals(Buffer.alloc((CHUNK + 8) * 512))).toBe(true);
    expect((await read(f, CHUNK + 8, 1)).equals(pattern(1, 0x5a))).toBe(true);
  });
  test('ANCHOR leaves the blocks mapped and zeroed', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, CHUNK), { dataOut: pattern(CHUNK, 1) });
    expect((await unmap(f, [[0, CHUNK]], true)).status).toBe(0);
    expect(f.backend.allocatedBytes).toBe(65536);
    expect((await read(f, 0, CHUNK)).equals(Buffer.alloc(CHUNK * 512))).toBe(true);
  });
  test('a PARAMETER LIST LENGTH of zero, a descriptor of zero blocks and one at the end are GOOD', async () => {
    const f = makeLu({ blocks: 64 });
    const c = Buffer.from([0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect((await f.run(c)).status).toBe(0);
    expect((await unmap(f, [[10, 0], [64, 0]])).status).toBe(0);
    expect((await unmap(f, [])).status).toBe(0);
  });
  test('a parameter list shorter than its header or than announced is PARAMETER LIST LENGTH ERROR', async () => {
    const f = makeLu();
    const { cdb, data } = cdbUnmap([[0, 1]]);
    cdb.writeUInt16BE(6, 7);
    expectSense(await f.run(cdb, { dataOut: data }), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
    cdb.writeUInt16BE(24, 7);
    expectSense(await f.run(cdb, { dataOut: data.subarray(0, 16) }), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
  });
  test('a range beyond the capacity is LBA OUT OF RANGE and nothing is unmapped', async () => {
    const f = makeLu({ blocks: 256 });
    await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 7) });
    expectSense(await unmap(f, [[0, 1], [250, 7]]), IR, ASC.LBA_OUT_OF_RANGE);
    expect((await read(f, 0, 1)).equals(pattern(1, 7))).toBe(true);
  });
  test('more descriptors or blocks than the Block Limits allow are INVALID FIELD IN PARAMETER LIST', async () => {
    const f = makeLu({ limits: { maxUnmapBlockDescriptorCount: 2, maxUnmapLbaCount: 16 } });
    expectSense(await unmap(f, [[0, 1], [2, 1], [4, 1]]), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
    expectSense(await unmap(f, [[0, 10], [20, 10]]), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
  });
  test('a read-only LU refuses it with DATA PROTECT', async () => {
    expectSense(await unmap(makeLu({ readOnly: true }), [[0, 1]]), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  });
  test('an ejected medium is NOT READY, MEDIUM NOT PRESENT', async () => {
    const f = makeLu({ removable: true });
    await f.run(cdbStartStopUnit({ loej: true, start: false }));
    expectSense(await unmap(f, [[0, 1]]), SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
  });
});

describe('WRITE SAME (SBC-3 §5.45, §5.46)', () => {
  test.each([
    ['WRITE SAME(10)', cdbWriteSame10],
    ['WRITE SAME(16)', cdbWriteSame16],
  ])('%s writes its one block to every block of the range', async (_n, build) => {
    const f = makeLu();
    const block = pattern(1, 0xc3);
    const r = await f.run(build(10, 300), { dataOut: block });
    expect(r).toEqual({ status: 0, dataOutLength: 512 });
    expect((await read(f, 10, 300)).equals(pattern(300, 0xc3))).toBe(true);
    expect((await read(f, 9, 1)).equals(Buffer.alloc(512))).toBe(true);
    expect((await read(f, 310, 1)).equals(Buffer.alloc(512))).toBe(true);
  });
  test('NUMBER OF LOGICAL BLOCKS 0 writes to the end of the medium', async () => {
    const f = makeLu({ blocks: 64 });
    expect((await f.run(cdbWriteSame16(60, 0), { dataOut: pattern(1, 9) })).status).toBe(0);
    expect((await read(f, 59, 5)).equals(Buffer.concat([Buffer.alloc(512), pattern(4, 9)]))).toBe(true);
  });
  test('beyond the end, or at LBA = capacity, is LBA OUT OF RANGE', async () => {
    const f = makeLu({ blocks: 64 });
    expectSense(await f.run(cdbWriteSame16(60, 5), { dataOut: pattern(1, 1) }), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await f.run(cdbWriteSame16(64, 0), { dataOut: pattern(1, 1) }), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await f.run(cdbWriteSame10(65, 0), { dataOut: pattern(1, 1) }), IR, ASC.LBA_OUT_OF_RANGE);
  });
  test('more than MAXIMUM WRITE SAME LENGTH is INVALID FIELD IN CDB at NUMBER OF LOGICAL BLOCKS', async () => {
    const f = makeLu({ limits: { maxWriteSameLength: 16 } });
    expectSense(await f.run(cdbWriteSame16(0, 17), { dataOut: pattern(1, 1) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 10 });
    expectSense(await f.run(cdbWriteSame10(0, 17), { dataOut: pattern(1, 1) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 7 });
    // 0 means "to the end", which is longer than 16 here.
    expectSense(await f.run(cdbWriteSame16(0, 0), { dataOut: pattern(1, 1) }), IR, ASC.INVALID_FIELD_IN_CDB);
    expect((await f.run(cdbWriteSame16(0, 16), { dataOut: pattern(1, 1) })).status).toBe(0);
  });
  test('ANCHOR without UNMAP, WRPROTECT, and the obsolete LBDATA/PBDATA bits are INVALID FIELD IN CDB', async () => {
    const f = makeLu();
    expectSense(await f.run(cdbWriteSame16(0, 1, { anchor: true }), { dataOut: pattern(1, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 4 });
    expectSense(await f.run(cdbWriteSame10(0, 1, { protect: 1 }), { dataOut: pattern(1, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 7 });
    const c = cdbWriteSame10(0, 1);
    c[1] = 0x02; // LBDATA
    expectSense(await f.run(c, { dataOut: pattern(1, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 1 });
  });
  test('UNMAP deallocates the range whatever the block holds (LBPRZ: it reads back as zeros)', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, 2 * CHUNK), { dataOut: pattern(2 * CHUNK, 0xff) });
    expect((await f.run(cdbWriteSame10(0, CHUNK, { unmap: true }), { dataOut: pattern(1, 0xff) })).status).toBe(0);
    expect(f.backend.allocatedBytes).toBe(65536);
    expect((await read(f, 0, CHUNK)).equals(Buffer.alloc(CHUNK * 512))).toBe(true);
  });
  test('UNMAP with ANCHOR anchors: mapped and zero', async () => {
    const f = makeLu();
    expect((await f.run(cdbWriteSame16(0, CHUNK, { unmap: true, anchor: true }), { dataOut: pattern(1, 0) })).status).toBe(0);
    expect(f.backend.allocatedBytes).toBe(65536);
    expect((await read(f, 0, CHUNK)).equals(Buffer.alloc(CHUNK * 512))).toBe(true);
  });
  test('NDOB writes zeros without Data-Out; with UNMAP it deallocates', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, 4), { dataOut: pattern(4, 0x11) });
    expect(await f.run(cdbWriteSame16(0, 2, { ndob: true }))).toEqual({ status: 0, dataOutLength: 0 });
    expect((await read(f, 0, 4)).equals(Buffer.concat([Buffer.alloc(1024), pattern(2, 0x11)]))).toBe(true);
    expect((await f.run(cdbWriteSame16(0, CHUNK, { ndob: true, unmap: true }))).status).toBe(0);
    expect(f.backend.allocatedBytes).toBe(0);
  });
  test('no Data-Out at all writes nothing (overflow, RFC 7143 §11.4.5.1); any other size than one block is refused', async () => {
    const f = makeLu();
    expect(await f.run(cdbWriteSame16(0, 4))).toEqual({ status: 0, dataOutLength: 512 });
    expect(f.backend.allocatedBytes).toBe(0);
    expectSense(await f.run(cdbWriteSame16(0, 4), { dataOut: Buffer.alloc(256) }), IR, ASC.INVALID_FIELD_IN_CDB);
    expectSense(await f.run(cdbWriteSame10(0, 4, { unmap: true }), { dataOut: Buffer.alloc(1024) }), IR, ASC.INVALID_FIELD_IN_CDB);
  });
  test('a read-only LU refuses it with DATA PROTECT, UNMAP or not, with or without data', async () => {
    const f = makeLu({ readOnly: true });
    expectSense(await f.run(cdbWriteSame10(0, 1), { dataOut: pattern(1, 0) }), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
    expectSense(await f.run(cdbWriteSame16(0, 1, { unmap: true })), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  });
  test('without a deallocating backend UNMAP writes the block (the LU reports no thin provisioning)', async () => {
    const backend = new MemoryBackend({ blocks: 64 });
    Object.defineProperty(backend, 'unmap', { value: undefined });
    const lu = new LogicalUnit({ lun: 0, backend });
    expect((await lu.execute(cmd(cdbWriteSame10(0, 2, { unmap: true }), { dataOut: pattern(1, 3) }))).status).toBe(0);
    const r = await lu.execute(cmd(cdbRead10(0, 2)));
    expect((r.data as Buffer).equals(pattern(2, 3))).toBe(true);
  });
});

describe('long operations give the event loop a turn (SPDK #3806)', () => {
  test('a maximal WRITE SAME lets an immediate callback run before it ends', async () => {
    const f = makeLu({ blocks: 1 << 17 });
    const order: string[] = [];
    const ws = f.run(cdbWriteSame16(0, f.lu.limits.maxWriteSameLength), { dataOut: pattern(1, 1) }).then(() => order.push('write same'));
    setImmediate(() => order.push('immediate'));
    await ws;
    expect(order).toEqual(['immediate', 'write same']);
  });
  test('a large UNMAP lets an immediate callback run before it ends', async () => {
    const f = makeLu({ blocks: 1 << 18 });
    const order: string[] = [];
    const u = unmap(f, [[0, f.lu.limits.maxUnmapLbaCount]]).then(() => order.push('unmap'));
    setImmediate(() => order.push('immediate'));
    await u;
    expect(order).toEqual(['immediate', 'unmap']);
  });
  test('an aborted long WRITE SAME stops between chunks', async () => {
    const f = makeLu({ blocks: 1 << 17 });
    const ac = new AbortController();
    const ws = f.run(cdbWriteSame16(0, f.lu.limits.maxWriteSameLength), { dataOut: pattern(1, 1), signal: ac.signal });
    setImmediate(() => ac.abort());
    await expect(ws).rejects.toMatchObject({ name: 'AbortError' });
    expect(f.backend.allocatedBytes).toBeLessThan(f.lu.limits.maxWriteSameLength * 512);
  });
});

describe('GET LBA STATUS (SBC-3 §5.6)', () => {
  test('reports runs of mapped and deallocated blocks from the starting LBA', async () => {
    const f = makeLu({ blocks: 4 * CHUNK });
    await f.run(cdbWrite10(CHUNK, 1), { dataOut: pattern(1, 1) });
    const d = parseGetLbaStatus((await f.run(cdbGetLbaStatus(5, 8 + 16 * 8))).data as Buffer);
    expect(d).toEqual([
      { lba: 5, blocks: CHUNK - 5, status: 1 },
      { lba: CHUNK, blocks: CHUNK, status: 0 },
      { lba: 2 * CHUNK, blocks: 2 * CHUNK, status: 1 },
    ]);
  });
  test('the allocation length limits the descriptors, not the PARAMETER DATA LENGTH arithmetic', async () => {
    const f = makeLu({ blocks: 4 * CHUNK });
    await f.run(cdbWrite10(CHUNK, 1), { dataOut: pattern(1, 1) });
    const data = (await f.run(cdbGetLbaStatus(0, 24))).data as Buffer;
    expect(data.length).toBe(24);
    expect(data.readUInt32BE(0)).toBe(20);
    expect(parseGetLbaStatus(data)).toEqual([{ lba: 0, blocks: CHUNK, status: 1 }]);
  });
  test('a backend that cannot tell reports the rest of the medium as mapped', async () => {
    const backend = new MemoryBackend({ blocks: 1000 });
    Object.defineProperty(backend, 'extentStatus', { value: undefined });
    const lu = new LogicalUnit({ lun: 0, backend });
    const d = parseGetLbaStatus((await lu.execute(cmd(cdbGetLbaStatus(10)))).data as Buffer);
    expect(d).toEqual([{ lba: 10, blocks: 990, status: 0 }]);
  });
  test('a starting LBA at or beyond the capacity is LBA OUT OF RANGE', async () => {
    const f = makeLu({ blocks: 64 });
    expectSense(await f.run(cdbGetLbaStatus(64)), IR, ASC.LBA_OUT_OF_RANGE);
    const c = cdbGetLbaStatus(0);
    c.fill(0xff, 2, 10);
    expectSense(await f.run(c), IR, ASC.LBA_OUT_OF_RANGE);
  });
});
