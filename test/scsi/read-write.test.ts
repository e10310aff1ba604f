// READ and WRITE (SBC-3 §5.10-5.13, §5.31-5.34): the hot path, its range checks and Data-Out rules.
import { describe, expect, test, vi } from 'vitest';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import {
  cdbModeSelect6,
  cdbRead10,
  cdbRead12,
  cdbRead16,
  cdbRead6,
  cdbWrite10,
  cdbWrite12,
  cdbWrite16,
  cdbWrite6,
} from '../../src/scsi/cdb/index.js';
import { expectSense, makeLu, pattern } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

describe('READ', () => {
  test('returns zeros for never-written blocks', async () => {
    const f = makeLu();
    const r = await f.run(cdbRead10(0, 2));
    expect(r.status).toBe(0);
    expect(r.data).toEqual(Buffer.alloc(1024));
  });
  test('returns what WRITE stored, for every CDB size', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(10, 2), { dataOut: pattern(2, 0x5a) });
    for (const cdb of [cdbRead6(10, 2), cdbRead10(10, 2), cdbRead12(10, 2), cdbRead16(10, 2)]) {
      const r = await f.run(cdb);
      expect(r.data).toEqual(pattern(2, 0x5a));
    }
  });
  test('READ(6) with TRANSFER LENGTH 0 reads 256 blocks (SBC-3 §5.10)', async () => {
    const f = makeLu();
    const cdb = cdbRead6(0, 1);
    cdb[4] = 0;
    expect((await f.run(cdb)).data?.length).toBe(256 * 512);
  });
  test('READ(10) of 0 blocks transfers nothing and succeeds', async () => {
    const f = makeLu();
    const r = await f.run(cdbRead10(0, 0));
    expect(r).toEqual({ status: 0 });
  });
  test('reading the last block succeeds', async () => {
    const f = makeLu({ blocks: 100 });
    expect((await f.run(cdbRead16(99, 1))).status).toBe(0);
  });
  test('reading past the end is LBA OUT OF RANGE', async () => {
    const f = makeLu({ blocks: 100 });
    expectSense(await f.run(cdbRead10(99, 2)), IR, ASC.LBA_OUT_OF_RANGE);
  });
  test('0 blocks beyond the end is LBA OUT OF RANGE', async () => {
    const f = makeLu({ blocks: 100 });
    expectSense(await f.run(cdbRead10(101, 0)), IR, ASC.LBA_OUT_OF_RANGE);
  });
  test('an LBA of 2^64-1 is LBA OUT OF RANGE, not a wrapped number', async () => {
    const f = makeLu();
    const cdb = cdbRead16(0, 1);
    cdb.fill(0xff, 2, 10);
    expectSense(await f.run(cdb), IR, ASC.LBA_OUT_OF_RANGE);
  });
  test('READ(6) beyond the end is LBA OUT OF RANGE', async () => {
    const f = makeLu({ blocks: 100 });
    expectSense(await f.run(cdbRead6(0x1fffff, 1)), IR, ASC.LBA_OUT_OF_RANGE);
  });
  test('non-zero RDPROTECT is INVALID FIELD IN CDB at byte 1 bit 7', async () => {
    const f = makeLu();
    for (const cdb of [cdbRead10(0, 1, { protect: 1 }), cdbRead12(0, 1, { protect: 7 }), cdbRead16(0, 1, { protect: 3 })]) {
      expectSense(await f.run(cdb), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 7 });
    }
  });
  test('DPO and FUA are accepted', async () => {
    const f = makeLu();
    expect((await f.run(cdbRead10(0, 1, { dpo: true, fua: true }))).status).toBe(0);
  });
  test('a transfer beyond MAXIMUM TRANSFER LENGTH is INVALID FIELD IN CDB at the length', async () => {
    const f = makeLu({ limits: { maxTransferLength: 8 } });
    expectSense(await f.run(cdbRead10(0, 9)), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 7 });
    expectSense(await f.run(cdbRead16(0, 9)), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 10 });
  });
  test('a backend read failure is MEDIUM ERROR, UNRECOVERED READ ERROR', async () => {
    const f = makeLu();
    vi.spyOn(f.backend, 'read').mockRejectedValue(new Error('EIO'));
    expectSense(await f.run(cdbRead10(0, 1)), SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR);
  });
  test('reports no Data-Out length', async () => {
    const f = makeLu();
    expect((await f.run(cdbRead10(0, 1))).dataOutLength).toBeUndefined();
  });
});

describe('WRITE', () => {
  test('WRITE(6) with TRANSFER LENGTH 0 writes 256 blocks', async () => {
    const f = makeLu();
    const cdb = cdbWrite6(0, 1);
    cdb[4] = 0;
    const r = await f.run(cdb, { dataOut: pattern(256, 1) });
    expect(r).toMatchObject({ status: 0, dataOutLength: 256 * 512 });
    expect((await f.run(cdbRead10(255, 1))).data).toEqual(pattern(1, 1));
  });
  test('WRITE(12) and WRITE(16) store their data', async () => {
    const f = makeLu();
    await f.run(cdbWrite12(3, 1), { dataOut: pattern(1, 0x12) });
    await f.run(cdbWrite16(4, 1), { dataOut: pattern(1, 0x16) });
    expect((await f.run(cdbRead10(3, 2))).data).toEqual(Buffer.concat([pattern(1, 0x12), pattern(1, 0x16)]));
  });
  test('FUA is passed to the backend', async () => {
    const f = makeLu();
    const spy = vi.spyOn(f.backend, 'write');
    await f.run(cdbWrite10(0, 1, { fua: true }), { dataOut: pattern(1, 1) });
    await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 1) });
    expect(spy.mock.calls.map((c) => c[2]?.fua)).toEqual([true, false]);
  });
  test('with WCE cleared every write is FUA (SBC-3 §6.4.5)', async () => {
    const f = makeLu({ writeCache: false });
    const spy = vi.spyOn(f.backend, 'write');
    await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 1) });
    expect(spy.mock.calls[0]?.[2]?.fua).toBe(true);
  });
  test('reports the SPDTL as dataOutLength', async () => {
    const f = makeLu();
    expect((await f.run(cdbWrite10(0, 3), { dataOut: pattern(3, 1) })).dataOutLength).toBe(1536);
  });
  test('writing past the end is LBA OUT OF RANGE and writes nothing', async () => {
    const f = makeLu({ blocks: 100 });
    const spy = vi.spyOn(f.backend, 'write');
    expectSense(await f.run(cdbWrite10(99, 2), { dataOut: pattern(2, 1) }), IR, ASC.LBA_OUT_OF_RANGE);
    expect(spy).not.toHaveBeenCalled();
  });
  test('non-zero WRPROTECT is INVALID FIELD IN CDB at byte 1 bit 7', async () => {
    const f = makeLu();
    expectSense(await f.run(cdbWrite10(0, 1, { protect: 2 }), { dataOut: pattern(1, 1) }), IR, ASC.INVALID_FIELD_IN_CDB, {
      cd: true,
      field: 1,
      bit: 7,
    });
  });
  test('FUA_NV is accepted (SBC-3 §5.32)', async () => {
    const f = makeLu();
    const cdb = cdbWrite10(0, 1);
    cdb[1] = 0x02;
    expect((await f.run(cdb, { dataOut: pattern(1, 1) })).status).toBe(0);
  });
  test('a write of 0 blocks succeeds without touching the backend', async () => {
    const f = makeLu();
    const spy = vi.spyOn(f.backend, 'write');
    expect((await f.run(cdbWrite10(0, 0))).status).toBe(0);
    expect(spy).not.toHaveBeenCalled();
  });
  test('a backend write failure is MEDIUM ERROR, WRITE ERROR', async () => {
    const f = makeLu();
    vi.spyOn(f.backend, 'write').mockRejectedValue(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
    expectSense(await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 1) }), SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
  });
  test('a full file system is DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT', async () => {
    const f = makeLu();
    vi.spyOn(f.backend, 'write').mockRejectedValue(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    expectSense(await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 1) }), SENSE_KEY.DATA_PROTECT, ASC.SPACE_ALLOCATION_FAILED_WRITE_PROTECT);
  });
});

describe('Data-Out shorter or longer than the CDB asks (RFC 7143 §11.4.5.1)', () => {
  test('extra Data-Out beyond the SPDTL is ignored', async () => {
    const f = makeLu();
    const r = await f.run(cdbWrite10(0, 1), { dataOut: pattern(2, 0x77) });
    expect(r).toMatchObject({ status: 0, dataOutLength: 512 });
    expect((await f.run(cdbRead10(0, 2))).data).toEqual(Buffer.concat([pattern(1, 0x77), pattern(1, 0)]));
  });
  test('short Data-Out of whole blocks writes only those blocks', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, 2), { dataOut: pattern(2, 0x61) });
    const r = await f.run(cdbWrite10(0, 2), { dataOut: pattern(1, 0x62) });
    expect(r).toMatchObject({ status: 0, dataOutLength: 1024 });
    expect((await f.run(cdbRead10(0, 2))).data).toEqual(Buffer.concat([pattern(1, 0x62), pattern(1, 0x61)]));
  });
  test('no Data-Out at all writes nothing and succeeds', async () => {
    const f = makeLu();
    const spy = vi.spyOn(f.backend, 'write');
    expect(await f.run(cdbWrite10(0, 1))).toMatchObject({ status: 0, dataOutLength: 512 });
    expect(spy).not.toHaveBeenCalled();
  });
  test('a partial block is INVALID FIELD IN COMMAND INFORMATION UNIT with nothing written', async () => {
    const f = makeLu();
    const spy = vi.spyOn(f.backend, 'write');
    const r = await f.run(cdbWrite10(0, 1), { dataOut: Buffer.alloc(200, 1) });
    expectSense(r, IR, ASC.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT);
    expect(r.dataOutLength).toBe(512);
    expect(spy).not.toHaveBeenCalled();
  });
});

describe('write protection', () => {
  test('a read-only LU refuses WRITE with DATA PROTECT, WRITE PROTECTED', async () => {
    const f = makeLu({ readOnly: true });
    for (const cdb of [cdbWrite6(0, 1), cdbWrite10(0, 1), cdbWrite12(0, 1), cdbWrite16(0, 1)]) {
      expectSense(await f.run(cdb, { dataOut: pattern(1, 1) }), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
    }
  });
  test('a read-only backend makes the LU read-only', async () => {
    const f = makeLu({ backendReadOnly: true });
    expect(f.lu.readOnly).toBe(true);
    expectSense(await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 1) }), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  });
  test('a read-only LU still reads', async () => {
    const f = makeLu({ readOnly: true });
    expect((await f.run(cdbRead10(0, 1))).status).toBe(0);
  });
  test('SWP in the control page refuses writes with SOFTWARE WRITE PROTECTED', async () => {
    const f = makeLu();
    const page = Buffer.from([0, 0, 0, 0, 0x0a, 0x0a, 0x02, 0x10, 0x08, 0, 0, 0, 0, 0, 0, 0]);
    expect((await f.run(cdbModeSelect6(page.length), { dataOut: page })).status).toBe(0);
    expectSense(await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 1) }), SENSE_KEY.DATA_PROTECT, ASC.LU_SOFTWARE_WRITE_PROTECTED);
  });
});
