// VERIFY (SBC-3 §5.27-5.29, BYTCHK per SBC-4 §5.29) and WRITE AND VERIFY (SBC-3 §5.35-5.37).
import { describe, expect, test, vi } from 'vitest';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import {
  cdbRead10,
  cdbVerify10,
  cdbVerify12,
  cdbVerify16,
  cdbWrite10,
  cdbWriteAndVerify10,
  cdbWriteAndVerify12,
  cdbWriteAndVerify16,
} from '../../src/scsi/cdb/index.js';
import { expectSense, makeLu, pattern } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

describe('VERIFY', () => {
  test('BYTCHK=1 with matching data is GOOD', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(5, 4), { dataOut: pattern(4, 0x33) });
    for (const cdb of [cdbVerify10(5, 4, { bytchk: 1 }), cdbVerify12(5, 4, { bytchk: 1 }), cdbVerify16(5, 4, { bytchk: 1 })]) {
      expect(await f.run(cdb, { dataOut: pattern(4, 0x33) })).toMatchObject({ status: 0, dataOutLength: 2048 });
    }
  });
  test('BYTCHK=1 with different data is MISCOMPARE with the byte offset in INFORMATION', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(5, 4), { dataOut: pattern(4, 0x33) });
    const data = pattern(4, 0x33);
    data[1234] ^= 0x58;
    const s = expectSense(await f.run(cdbVerify10(5, 4, { bytchk: 1 }), { dataOut: data }), SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY_OPERATION);
    expect(s.information).toBe(1234);
  });
  test('the miscompare offset counts from the start of the Data-Out across chunks', async () => {
    const f = makeLu({ limits: { verifyChunkBlocks: 2 } });
    const data = pattern(8, 0);
    data[7 * 512 + 9] = 1;
    const s = expectSense(await f.run(cdbVerify16(0, 8, { bytchk: 1 }), { dataOut: data }), SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY_OPERATION);
    expect(s.information).toBe(7 * 512 + 9);
  });
  test('BYTCHK=0 verifies the medium only and ignores data', async () => {
    const f = makeLu();
    const r = await f.run(cdbVerify10(0, 8), { dataOut: pattern(8, 0xee) });
    expect(r).toMatchObject({ status: 0, dataOutLength: 0 });
  });
  test('BYTCHK=3 compares one block with every block of the range', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, 3), { dataOut: pattern(3, 0x44) });
    expect(await f.run(cdbVerify10(0, 3, { bytchk: 3 }), { dataOut: pattern(1, 0x44) })).toMatchObject({ status: 0, dataOutLength: 512 });
  });
  test('BYTCHK=3 reports the offset of the first block that differs', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, 3), { dataOut: pattern(3, 0x44) });
    await f.run(cdbWrite10(2, 1), { dataOut: pattern(1, 0x45) });
    const s = expectSense(await f.run(cdbVerify10(0, 3, { bytchk: 3 }), { dataOut: pattern(1, 0x44) }), SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY_OPERATION);
    expect(s.information).toBe(1024);
  });
  test('BYTCHK=2 is reserved: INVALID FIELD IN CDB at byte 1 bit 2', async () => {
    const f = makeLu();
    expectSense(await f.run(cdbVerify10(0, 1, { bytchk: 2 })), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 2 });
  });
  test('non-zero VRPROTECT is INVALID FIELD IN CDB at byte 1 bit 7', async () => {
    const f = makeLu();
    expectSense(await f.run(cdbVerify10(0, 1, { protect: 1, bytchk: 1 }), { dataOut: pattern(1, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, {
      cd: true,
      field: 1,
      bit: 7,
    });
  });
  test('beyond the end is LBA OUT OF RANGE', async () => {
    const f = makeLu({ blocks: 64 });
    expectSense(await f.run(cdbVerify10(63, 2)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await f.run(cdbVerify12(65, 0)), IR, ASC.LBA_OUT_OF_RANGE);
  });
  test('DPO is accepted', async () => {
    const f = makeLu();
    expect((await f.run(cdbVerify10(0, 1, { dpo: true, bytchk: 1 }), { dataOut: pattern(1, 0) })).status).toBe(0);
  });
  test('BYTCHK=0 over a range far beyond MAXIMUM TRANSFER LENGTH is allowed', async () => {
    const f = makeLu({ limits: { maxTransferLength: 4 } });
    expect((await f.run(cdbVerify10(0, 2048))).status).toBe(0);
  });
  test('a long verify yields to the event loop between chunks', async () => {
    const f = makeLu({ limits: { verifyChunkBlocks: 1 } });
    const p = f.run(cdbVerify10(0, 64));
    let ranDuringVerify = false;
    setImmediate(() => (ranDuringVerify = f.lu.inFlight === 1));
    await p;
    expect(ranDuringVerify).toBe(true);
  });
  test('an abort between chunks ends the verify with AbortError', async () => {
    const f = makeLu({ limits: { verifyChunkBlocks: 1 } });
    const ac = new AbortController();
    const read = vi.spyOn(f.backend, 'read');
    const p = f.run(cdbVerify10(0, 1000), { signal: ac.signal });
    setImmediate(() => ac.abort());
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(read.mock.calls.length).toBeLessThan(1000);
  });
});

describe('WRITE AND VERIFY', () => {
  test('writes the data with FUA and succeeds', async () => {
    const f = makeLu();
    const spy = vi.spyOn(f.backend, 'write');
    for (const cdb of [cdbWriteAndVerify10(1, 2, { bytchk: 1 }), cdbWriteAndVerify12(1, 2), cdbWriteAndVerify16(1, 2, { bytchk: 1 })]) {
      expect(await f.run(cdb, { dataOut: pattern(2, 0x21) })).toMatchObject({ status: 0, dataOutLength: 1024 });
    }
    expect(spy.mock.calls.every((c) => c[2]?.fua === true)).toBe(true);
    expect((await f.run(cdbRead10(1, 2))).data).toEqual(pattern(2, 0x21));
  });
  test('a read-back that differs is MISCOMPARE', async () => {
    const f = makeLu();
    vi.spyOn(f.backend, 'write').mockResolvedValue(undefined);
    expectSense(await f.run(cdbWriteAndVerify10(0, 1, { bytchk: 1 }), { dataOut: pattern(1, 9) }), SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY_OPERATION);
  });
  test('on a read-only LU is DATA PROTECT', async () => {
    const f = makeLu({ readOnly: true });
    expectSense(await f.run(cdbWriteAndVerify10(0, 1, { bytchk: 1 }), { dataOut: pattern(1, 9) }), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  });
  test('BYTCHK above 1 is outside the CDB usage data', async () => {
    const f = makeLu();
    expectSense(await f.run(cdbWriteAndVerify10(0, 1, { bytchk: 2 }), { dataOut: pattern(1, 9) }), IR, ASC.INVALID_FIELD_IN_CDB, {
      cd: true,
      field: 1,
      bit: 2,
    });
  });
  test('two blocks asked, one sent: writes the first block only', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, 2), { dataOut: pattern(2, 0x61) });
    expect((await f.run(cdbWriteAndVerify10(0, 2, { bytchk: 1 }), { dataOut: pattern(1, 0x62) })).status).toBe(0);
    expect((await f.run(cdbRead10(0, 2))).data).toEqual(Buffer.concat([pattern(1, 0x62), pattern(1, 0x61)]));
  });
  test('beyond the end is LBA OUT OF RANGE', async () => {
    const f = makeLu({ blocks: 10 });
    expectSense(await f.run(cdbWriteAndVerify16(10, 1), { dataOut: pattern(1, 0) }), IR, ASC.LBA_OUT_OF_RANGE);
  });
});
