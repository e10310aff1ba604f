// The SCSI target device: routing by LUN, REPORT LUNS (SPC-4 §6.33), missing LUNs (SPC-4 §6.6.2,
// §6.39), LUN inventory changes and target-wide resets.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import {
  cdbInquiry,
  cdbRead10,
  cdbReportLuns,
  cdbRequestSense,
  cdbTestUnitReady,
  parseInquiry,
  parseReportLuns,
  parseVpd83,
} from '../../src/scsi/cdb/index.js';
import { ScsiTargetDevice } from '../../src/scsi/target-device.js';
import { parseSense } from '../../src/scsi/sense.js';
import { TARGET, cmd, expectSense, nexus, type CmdOptions } from './helpers.js';

function device(...luns: number[]) {
  const d = new ScsiTargetDevice({ targetName: TARGET });
  for (const l of luns) d.add(l, new MemoryBackend({ blocks: 64 }));
  return { d, run: (cdb: Buffer, o: CmdOptions = {}) => d.execute(cmd(cdb, o)) };
}

describe('REPORT LUNS', () => {
  test('lists every LU in ascending order', async () => {
    const { run } = device(3, 0, 300);
    expect(parseReportLuns((await run(cdbReportLuns())).data as Buffer)).toEqual([0, 3, 300]);
  });
  test('is answered on a LUN that has no LU, LUN 0 included', async () => {
    const { run } = device(5);
    expect(parseReportLuns((await run(cdbReportLuns(), { lun: 0 })).data as Buffer)).toEqual([5]);
  });
  test('SELECT REPORT 01h lists no well-known LUs, 02h lists all', async () => {
    const { run } = device(0, 1);
    expect(parseReportLuns((await run(cdbReportLuns({ selectReport: 1 }))).data as Buffer)).toEqual([]);
    expect(parseReportLuns((await run(cdbReportLuns({ selectReport: 2 }))).data as Buffer)).toEqual([0, 1]);
  });
  test('a reserved SELECT REPORT is INVALID FIELD IN CDB at byte 2', async () => {
    const { run } = device(0);
    expectSense(await run(cdbReportLuns({ selectReport: 0x10 })), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2 });
    expectSense(await run(cdbReportLuns({ selectReport: 0x10 }), { lun: 9 }), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB);
  });
  test('the LUN LIST LENGTH reports the whole list even when truncated', async () => {
    const { run } = device(0, 1, 2);
    const d = (await run(cdbReportLuns({ alloc: 16 }))).data as Buffer;
    expect(d.length).toBe(16);
    expect(d.readUInt32BE(0)).toBe(24);
  });
});

describe('a LUN without a logical unit', () => {
  test('INQUIRY answers peripheral qualifier 011b, device type 1Fh', async () => {
    const { run } = device(0);
    const inq = parseInquiry((await run(cdbInquiry(), { lun: 7 })).data as Buffer);
    expect([inq.peripheralQualifier, inq.deviceType]).toEqual([3, 0x1f]);
  });
  test('INQUIRY for the supported VPD pages answers qualifier 011b too', async () => {
    const { run } = device(0);
    expect((await run(cdbInquiry({ evpd: true, page: 0 }), { lun: 7 })).data?.[0]).toBe(0x7f);
  });
  test('REQUEST SENSE is GOOD with LOGICAL UNIT NOT SUPPORTED as data', async () => {
    const { run } = device(0);
    const r = await run(cdbRequestSense(), { lun: 7 });
    expect(r.status).toBe(0);
    expect(parseSense(r.data as Buffer)).toMatchObject({ senseKey: 5, asc: 0x25, ascq: 0 });
  });
  test('other commands are LOGICAL UNIT NOT SUPPORTED', async () => {
    const { run } = device(0);
    expectSense(await run(cdbTestUnitReady(), { lun: 7 }), SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    expectSense(await run(cdbRead10(0, 1), { lun: 7 }), SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
  });
  test('an aborted command is rejected with AbortError', async () => {
    const { run } = device();
    const ac = new AbortController();
    ac.abort();
    await expect(run(cdbTestUnitReady(), { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('LUN inventory changes', () => {
  test('adding a LUN reports REPORTED LUNS DATA HAS CHANGED to known nexuses, once per nexus (LUICLR)', async () => {
    const { d, run } = device(0);
    await run(cdbTestUnitReady(), { nexus: nexus(1) });
    await run(cdbTestUnitReady(), { nexus: nexus(2) });
    d.add(1, new MemoryBackend({ blocks: 64 }));
    // Reported through whichever LU the nexus addresses first, then cleared on every LU for it
    // (SPC-4 Extended INQUIRY Data VPD page, LUICLR); another nexus still has it.
    expectSense(await run(cdbTestUnitReady(), { nexus: nexus(1), lun: 1 }), SENSE_KEY.UNIT_ATTENTION, ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
    expect((await run(cdbTestUnitReady(), { nexus: nexus(1) })).status).toBe(0);
    expect((await run(cdbTestUnitReady(), { nexus: nexus(1), lun: 1 })).status).toBe(0);
    expectSense(await run(cdbTestUnitReady(), { nexus: nexus(2) }), SENSE_KEY.UNIT_ATTENTION, ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
  });
  test('a nexus attached at login but silent so far is told too', async () => {
    const { d, run } = device(0);
    d.attachNexus(nexus(4));
    d.add(1, new MemoryBackend({ blocks: 64 }));
    expectSense(await run(cdbTestUnitReady(), { nexus: nexus(4) }), SENSE_KEY.UNIT_ATTENTION, ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
  });
  test('REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED on every LU for that nexus', async () => {
    const { d, run } = device(0);
    await run(cdbTestUnitReady());
    d.add(1, new MemoryBackend({ blocks: 64 }));
    await run(cdbReportLuns());
    expect((await run(cdbTestUnitReady())).status).toBe(0);
    expect((await run(cdbTestUnitReady(), { lun: 1 })).status).toBe(0);
  });
  test('removing a LUN closes its backend and reports the change on the others', async () => {
    const { d, run } = device(0, 1);
    await run(cdbTestUnitReady());
    await run(cdbReportLuns());
    const backend = d.get(1)!.backend as MemoryBackend;
    expect(await d.remove(1)).toBe(true);
    await expect(backend.read(0, 1, Buffer.alloc(512))).rejects.toMatchObject({ code: 'ERR_BACKEND_CLOSED' });
    expectSense(await run(cdbTestUnitReady()), SENSE_KEY.UNIT_ATTENTION, ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
    expectSense(await run(cdbTestUnitReady(), { lun: 1 }), SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    expect(await d.remove(1)).toBe(false);
  });
  test('a handle kept for a removed LUN answers LOGICAL UNIT NOT SUPPORTED', async () => {
    const { d } = device(0, 1);
    const h = d.handle(1);
    await d.remove(1);
    expectSense(await h.execute(cmd(cdbTestUnitReady(), { lun: 1 })), SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
  });
  test('a LUN cannot be added twice', () => {
    const { d } = device(0);
    expect(() => d.add(0, new MemoryBackend({ blocks: 8 }))).toThrow(RangeError);
  });
  test('close removes every LU', async () => {
    const { d } = device(0, 1);
    await d.close();
    expect(d.luns()).toEqual([]);
  });
});

describe('device-wide events', () => {
  test('a target reset reaches every LU', async () => {
    const { d, run } = device(0, 1);
    await run(cdbReportLuns());
    d.reset('target-warm-reset');
    for (const lun of [0, 1]) {
      expectSense(await run(cdbTestUnitReady(), { lun }), SENSE_KEY.UNIT_ATTENTION, ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED);
    }
  });
  test('nexus loss reaches every LU', async () => {
    const { d, run } = device(0, 1);
    await run(cdbReportLuns());
    d.nexusLost(nexus(1));
    for (const lun of [0, 1]) {
      expectSense(await run(cdbTestUnitReady(), { lun }), SENSE_KEY.UNIT_ATTENTION, ASC.I_T_NEXUS_LOSS_OCCURRED);
    }
  });
  test('LUs of one device share the target name in their designators but differ in NAA', async () => {
    const { run } = device(0, 1);
    const a = parseVpd83((await run(cdbInquiry({ evpd: true, page: 0x83 }), { lun: 0 })).data as Buffer);
    const b = parseVpd83((await run(cdbInquiry({ evpd: true, page: 0x83 }), { lun: 1 })).data as Buffer);
    expect(a[0]!.designator).not.toEqual(b[0]!.designator);
    expect(a[4]!.text).toBe(b[4]!.text);
  });
});

describe('task management', () => {
  test('a LOGICAL UNIT RESET reaches only its LU, backend first', async () => {
    const { d, run } = device(0, 1);
    await run(cdbReportLuns());
    const seen: unknown[] = [];
    (d.get(0)!.backend as MemoryBackend & { onTaskManagement?: (e: unknown) => void }).onTaskManagement = (e) => seen.push(e);
    d.taskManagement(0, { type: 'logical-unit-reset', nexus: nexus(1), aborted: [7] });
    expect(seen).toEqual([{ type: 'logical-unit-reset', lun: 0, aborted: [7] }]);
    expectSense(await run(cdbTestUnitReady(), { lun: 0 }), SENSE_KEY.UNIT_ATTENTION, ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
    expect((await run(cdbTestUnitReady(), { lun: 1 })).status).toBe(0);
  });
  test('a TARGET WARM RESET reaches every LU', async () => {
    const { d, run } = device(0, 1);
    await run(cdbReportLuns());
    d.taskManagement(0, { type: 'target-warm-reset', nexus: nexus(1), aborted: [] });
    expectSense(await run(cdbTestUnitReady(), { lun: 1 }), SENSE_KEY.UNIT_ATTENTION, ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED);
  });
  test('ABORT TASK changes no LU state', async () => {
    const { d, run } = device(0);
    await run(cdbReportLuns());
    d.taskManagement(0, { type: 'abort-task', nexus: nexus(1), aborted: [3] });
    expect((await run(cdbTestUnitReady())).status).toBe(0);
  });
  test('a TMF for a LUN without an LU is ignored', () => {
    const { d } = device(0);
    expect(() => d.taskManagement(9, { type: 'logical-unit-reset', nexus: nexus(1), aborted: [] })).not.toThrow();
  });
});
