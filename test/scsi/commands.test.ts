// The smaller commands: TEST UNIT READY, REQUEST SENSE, START STOP UNIT, PREVENT ALLOW MEDIUM
// REMOVAL, SYNCHRONIZE CACHE, PRE-FETCH, READ DEFECT DATA, RESERVE(6)/RELEASE(6).
import { describe, expect, test, vi } from 'vitest';
import { ASC, SENSE_KEY, STATUS } from '../../src/scsi/constants.js';
import {
  cdbInquiry,
  cdbModeSense6,
  cdbPrefetch10,
  cdbPrefetch16,
  cdbPreventAllow,
  cdbRead10,
  cdbReadCapacity10,
  cdbReadDefectData10,
  cdbReadDefectData12,
  cdbRelease6,
  cdbReportLuns,
  cdbRequestSense,
  cdbReserve6,
  cdbStartStopUnit,
  cdbSynchronizeCache10,
  cdbSynchronizeCache16,
  cdbTestUnitReady,
  cdbWrite10,
} from '../../src/scsi/cdb/index.js';
import { parseSense } from '../../src/scsi/sense.js';
import { expectSense, makeLu, nexus, pattern } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

describe('TEST UNIT READY (SPC-4 §6.47)', () => {
  test('is GOOD on a ready LU', async () => {
    expect(await makeLu().run(cdbTestUnitReady())).toEqual({ status: 0 });
  });
});

describe('REQUEST SENSE (SPC-4 §6.39)', () => {
  test('without a pending condition returns NO SENSE in fixed format', async () => {
    const r = await makeLu().run(cdbRequestSense());
    expect(r.status).toBe(0);
    expect(r.data?.length).toBe(18);
    expect(parseSense(r.data as Buffer)).toMatchObject({ format: 'fixed', senseKey: 0, asc: 0, ascq: 0 });
  });
  test('DESC=1 returns descriptor format', async () => {
    const r = await makeLu().run(cdbRequestSense({ desc: true }));
    expect(parseSense(r.data as Buffer)).toMatchObject({ format: 'descriptor', senseKey: 0 });
  });
  test('is truncated to the allocation length', async () => {
    expect((await makeLu().run(cdbRequestSense({ alloc: 8 }))).data?.length).toBe(8);
  });
});

describe('START STOP UNIT (SBC-3 §5.25)', () => {
  test('on a non-removable LU, LOEJ is accepted and changes nothing', async () => {
    const f = makeLu();
    expect((await f.run(cdbStartStopUnit({ loej: true }))).status).toBe(0);
    expect((await f.run(cdbTestUnitReady())).status).toBe(0);
  });
  test('stopping flushes the cache unless NO_FLUSH', async () => {
    const f = makeLu();
    const flush = vi.spyOn(f.backend, 'flush');
    await f.run(cdbStartStopUnit({ start: false }));
    await f.run(cdbStartStopUnit({ start: false, noFlush: true }));
    expect(flush).toHaveBeenCalledTimes(1);
  });
  test('ejecting a removable medium makes medium access NOT READY, MEDIUM NOT PRESENT', async () => {
    const f = makeLu({ removable: true });
    expect((await f.run(cdbStartStopUnit({ loej: true, start: false }))).status).toBe(0);
    expectSense(await f.run(cdbTestUnitReady()), SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
    expectSense(await f.run(cdbRead10(0, 1)), SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
    expectSense(await f.run(cdbReadCapacity10()), SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
    expect((await f.run(cdbInquiry())).status).toBe(0);
    expect((await f.run(cdbModeSense6())).status).toBe(0);
  });
  test('REQUEST SENSE reports MEDIUM NOT PRESENT while ejected', async () => {
    const f = makeLu({ removable: true });
    await f.run(cdbStartStopUnit({ loej: true, start: false }));
    expect(parseSense((await f.run(cdbRequestSense())).data as Buffer)).toMatchObject({ senseKey: 2, asc: 0x3a, ascq: 0 });
  });
  test('loading the medium makes the LU ready again', async () => {
    const f = makeLu({ removable: true });
    await f.run(cdbStartStopUnit({ loej: true, start: false }));
    await f.run(cdbStartStopUnit({ loej: true, start: true }));
    expect((await f.run(cdbTestUnitReady())).status).toBe(0);
  });
  test('a power condition makes START and LOEJ ignored', async () => {
    const f = makeLu({ removable: true });
    expect((await f.run(cdbStartStopUnit({ loej: true, powerCondition: 2 }))).status).toBe(0);
    expect((await f.run(cdbTestUnitReady())).status).toBe(0);
  });
});

describe('PREVENT ALLOW MEDIUM REMOVAL (SBC-3 §5.6)', () => {
  test('a prevented medium cannot be ejected: MEDIUM REMOVAL PREVENTED', async () => {
    const f = makeLu({ removable: true });
    expect((await f.run(cdbPreventAllow(1))).status).toBe(0);
    expectSense(await f.run(cdbStartStopUnit({ loej: true })), IR, ASC.MEDIUM_REMOVAL_PREVENTED);
    expect((await f.run(cdbTestUnitReady())).status).toBe(0);
  });
  test('removal stays prevented while any nexus prevents it', async () => {
    const f = makeLu({ removable: true });
    await f.run(cdbPreventAllow(1), { nexus: nexus(1) });
    await f.run(cdbPreventAllow(0), { nexus: nexus(2) });
    expectSense(await f.run(cdbStartStopUnit({ loej: true }), { nexus: nexus(2) }), IR, ASC.MEDIUM_REMOVAL_PREVENTED);
    await f.run(cdbPreventAllow(0), { nexus: nexus(1) });
    expect((await f.run(cdbStartStopUnit({ loej: true }), { nexus: nexus(2) })).status).toBe(0);
  });
  test('loss of the preventing nexus allows removal', async () => {
    const f = makeLu({ removable: true });
    await f.run(cdbPreventAllow(1), { nexus: nexus(1) });
    f.lu.nexusLost(nexus(1));
    expect((await f.run(cdbStartStopUnit({ loej: true }), { nexus: nexus(2) })).status).toBe(0);
  });
  test('a logical unit reset allows removal', async () => {
    const f = makeLu({ removable: true });
    await f.run(cdbPreventAllow(1));
    f.lu.reset('logical-unit-reset');
    await f.run(cdbTestUnitReady());
    expect((await f.run(cdbStartStopUnit({ loej: true }))).status).toBe(0);
  });
  test('PREVENT values 10b and 11b are INVALID FIELD IN CDB', async () => {
    expectSense(await makeLu().run(cdbPreventAllow(2)), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 4, bit: 1 });
  });
  test('is accepted on a non-removable LU', async () => {
    expect((await makeLu().run(cdbPreventAllow(1))).status).toBe(0);
  });
});

describe('SYNCHRONIZE CACHE (SBC-3 §5.22, §5.23)', () => {
  test('flushes the backend, with or without IMMED', async () => {
    const f = makeLu();
    const flush = vi.spyOn(f.backend, 'flush');
    expect((await f.run(cdbSynchronizeCache10())).status).toBe(0);
    expect((await f.run(cdbSynchronizeCache16(0, 10, { immed: true }))).status).toBe(0);
    expect(flush).toHaveBeenCalledTimes(2);
  });
  test('SYNC_NV is accepted', async () => {
    const c = cdbSynchronizeCache10();
    c[1] = 0x04;
    expect((await makeLu().run(c)).status).toBe(0);
  });
  test('a range beyond the end is LBA OUT OF RANGE', async () => {
    expectSense(await makeLu({ blocks: 10 }).run(cdbSynchronizeCache10(5, 6)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await makeLu({ blocks: 10 }).run(cdbSynchronizeCache16(11, 0)), IR, ASC.LBA_OUT_OF_RANGE);
  });
  test('a flush failure is MEDIUM ERROR', async () => {
    const f = makeLu();
    vi.spyOn(f.backend, 'flush').mockRejectedValue(new Error('EIO'));
    expectSense(await f.run(cdbSynchronizeCache10()), SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
  });
});

describe('PRE-FETCH (SBC-3 §5.3, §5.4)', () => {
  test('is CONDITION MET when the blocks fit in the cache', async () => {
    expect((await makeLu().run(cdbPrefetch10(0, 16))).status).toBe(STATUS.CONDITION_MET);
    expect((await makeLu().run(cdbPrefetch16(0, 16, { immed: true, group: 3 }))).status).toBe(STATUS.CONDITION_MET);
  });
  test('is GOOD when they do not', async () => {
    expect((await makeLu({ limits: { prefetchBlocks: 8 } }).run(cdbPrefetch10(0, 9))).status).toBe(STATUS.GOOD);
  });
  test('0 blocks means to the end of the medium', async () => {
    const f = makeLu({ blocks: 100, limits: { prefetchBlocks: 50 } });
    expect((await f.run(cdbPrefetch10(0, 0))).status).toBe(STATUS.GOOD);
    expect((await f.run(cdbPrefetch10(60, 0))).status).toBe(STATUS.CONDITION_MET);
  });
  test('a range beyond the end is LBA OUT OF RANGE', async () => {
    expectSense(await makeLu({ blocks: 100 }).run(cdbPrefetch10(99, 2)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await makeLu({ blocks: 100 }).run(cdbPrefetch16(101, 0)), IR, ASC.LBA_OUT_OF_RANGE);
  });
});

describe('READ DEFECT DATA (SBC-3 §5.17, §5.18)', () => {
  test('(10) returns an empty list with the requested lists valid and format echoed', async () => {
    const r = await makeLu().run(cdbReadDefectData10({ plist: true, glist: true, format: 4, alloc: 32 }));
    expect([...(r.data as Buffer)]).toEqual([0, 0x18 | 4, 0, 0]);
  });
  test('(12) returns an 8-byte header with a zero length', async () => {
    const r = await makeLu().run(cdbReadDefectData12({ glist: true, alloc: 32 }));
    expect([...(r.data as Buffer)]).toEqual([0, 0x08, 0, 0, 0, 0, 0, 0]);
  });
});

describe('RESERVE(6) / RELEASE(6) (SPC-2 §5.5.1)', () => {
  test('another nexus gets RESERVATION CONFLICT for medium and mode commands', async () => {
    const f = makeLu();
    expect((await f.run(cdbReserve6(), { nexus: nexus(1) })).status).toBe(0);
    expect((await f.run(cdbRead10(0, 1), { nexus: nexus(2) })).status).toBe(STATUS.RESERVATION_CONFLICT);
    expect((await f.run(cdbModeSense6(), { nexus: nexus(2) })).status).toBe(STATUS.RESERVATION_CONFLICT);
    expect((await f.run(cdbWrite10(0, 1), { nexus: nexus(2), dataOut: pattern(1, 1) })).status).toBe(STATUS.RESERVATION_CONFLICT);
    expect((await f.run(cdbReserve6(), { nexus: nexus(2) })).status).toBe(STATUS.RESERVATION_CONFLICT);
  });
  test('INQUIRY, REPORT LUNS, REQUEST SENSE and RELEASE pass through a reservation', async () => {
    const f = makeLu();
    await f.run(cdbReserve6(), { nexus: nexus(1) });
    for (const c of [cdbInquiry(), cdbReportLuns(), cdbRequestSense(), cdbRelease6()]) {
      expect((await f.run(c, { nexus: nexus(2) })).status).toBe(0);
    }
  });
  test('the holder keeps access and may reserve again', async () => {
    const f = makeLu();
    await f.run(cdbReserve6());
    expect((await f.run(cdbReserve6())).status).toBe(0);
    expect((await f.run(cdbRead10(0, 1))).status).toBe(0);
  });
  test('RELEASE from another nexus is a no-op; from the holder it releases', async () => {
    const f = makeLu();
    await f.run(cdbReserve6(), { nexus: nexus(1) });
    await f.run(cdbRelease6(), { nexus: nexus(2) });
    expect((await f.run(cdbTestUnitReady(), { nexus: nexus(2) })).status).toBe(STATUS.RESERVATION_CONFLICT);
    await f.run(cdbRelease6(), { nexus: nexus(1) });
    expect((await f.run(cdbTestUnitReady(), { nexus: nexus(2) })).status).toBe(0);
  });
});
