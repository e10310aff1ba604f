// Dispatch and CDB validation: unknown opcodes and service actions, reserved bits checked against
// the CDB usage data (SPC-4 §4.4.3, §6.35.3), and REPORT SUPPORTED OPERATION CODES / TMFs.
import { describe, expect, test, vi } from 'vitest';
import { ASC, OP, SENSE_KEY } from '../../src/scsi/constants.js';
import {
  cdbInquiry,
  cdbRead10,
  cdbReportSupportedOpcodes,
  cdbReportSupportedTmfs,
  cdbTestUnitReady,
  parseSupportedOpcodesAll,
  parseSupportedOpcodesOne,
} from '../../src/scsi/cdb/index.js';
import { expectSense, makeLu } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

describe('dispatch', () => {
  test('an unknown operation code is INVALID COMMAND OPERATION CODE', async () => {
    expectSense(await makeLu().run(Buffer.from([0xc0, 0, 0, 0, 0, 0])), IR, ASC.INVALID_COMMAND_OPERATION_CODE, null);
  });
  test('unimplemented SBC commands are INVALID COMMAND OPERATION CODE', async () => {
    const f = makeLu();
    for (const op of [OP.FORMAT_UNIT, OP.WRITE_BUFFER, OP.LOG_SENSE, 0x48 /* SANITIZE */]) {
      expectSense(await f.run(Buffer.from([op, ...Buffer.alloc(15)])), IR, ASC.INVALID_COMMAND_OPERATION_CODE);
    }
  });
  test('an unknown MAINTENANCE IN service action is INVALID FIELD IN CDB at byte 1 bit 4', async () => {
    const c = cdbReportSupportedOpcodes();
    c[1] = 0x0a; // REPORT TARGET PORT GROUPS
    expectSense(await makeLu().run(c), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 4 });
  });
  test('a reserved bit set in the CDB is INVALID FIELD IN CDB pointing at that bit', async () => {
    const c = cdbTestUnitReady();
    c[3] = 0x20;
    expectSense(await makeLu().run(c), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 3, bit: 5 });
  });
  test('the obsolete CMDDT bit of INQUIRY is refused', async () => {
    const c = cdbInquiry();
    c[1] = 0x02;
    expectSense(await makeLu().run(c), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 1 });
  });
  test('NACA in the CONTROL byte is refused: ACA is not supported (SAM-5 §5.9)', async () => {
    const c = cdbRead10(0, 1);
    c[9] = 0x04;
    expectSense(await makeLu().run(c), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 9, bit: 2 });
  });
  test('bytes after the CDB length (the padded 16-byte iSCSI CDB field) are not checked', async () => {
    const c = Buffer.alloc(16);
    c[10] = 0xff;
    expect((await makeLu().run(c)).status).toBe(0);
  });
  test('a CDB shorter than its operation code needs is INVALID FIELD IN CDB', async () => {
    expectSense(await makeLu().run(Buffer.from([OP.READ_16, 0, 0, 0, 0, 0])), IR, ASC.INVALID_FIELD_IN_CDB);
  });
  test('an unexpected failure is HARDWARE ERROR, INTERNAL TARGET FAILURE, and is reported', async () => {
    const onInternalError = vi.fn();
    const f = makeLu({ onInternalError });
    vi.spyOn(f.lu.identity, 'serial', 'get').mockImplementation(() => {
      throw new TypeError('bug');
    });
    expectSense(await f.run(cdbInquiry({ evpd: true, page: 0x80 })), SENSE_KEY.HARDWARE_ERROR, ASC.INTERNAL_TARGET_FAILURE);
    expect(onInternalError).toHaveBeenCalledOnce();
  });
});

describe('REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35)', () => {
  test('lists every command once, service actions flagged with SERVACTV', async () => {
    const f = makeLu();
    const all = parseSupportedOpcodesAll((await f.run(cdbReportSupportedOpcodes())).data as Buffer);
    expect(all.length).toBe(f.lu.commandList.length);
    expect(all.find((c) => c.opcode === 0x9e)).toMatchObject({ serviceAction: 0x10, servactv: true, cdbLength: 16 });
    expect(all.find((c) => c.opcode === 0x28)).toMatchObject({ serviceAction: 0, servactv: false, cdbLength: 10 });
    expect(all.every((c) => c.servactv || c.serviceAction === 0)).toBe(true);
    expect(all.every((c) => !c.ctdp)).toBe(true);
  });
  test('RCTD adds a 12-byte timeouts descriptor to each command', async () => {
    const all = parseSupportedOpcodesAll((await makeLu().run(cdbReportSupportedOpcodes({ rctd: true }))).data as Buffer);
    expect(all.every((c) => c.ctdp && c.timeouts !== undefined)).toBe(true);
  });
  test('one command: READ(10) usage data shows DPO and FUA', async () => {
    const one = parseSupportedOpcodesOne((await makeLu().run(cdbReportSupportedOpcodes({ options: 1, opcode: 0x28 }))).data as Buffer);
    expect(one.support).toBe(3);
    expect(one.usage[0]).toBe(0x28);
    expect(one.usage.length).toBe(10);
    expect(one.usage[1]! & 0x18).toBe(0x18);
  });
  test('one command with service action: READ CAPACITY(16)', async () => {
    const one = parseSupportedOpcodesOne(
      (await makeLu().run(cdbReportSupportedOpcodes({ options: 2, opcode: 0x9e, serviceAction: 0x10, rctd: true }))).data as Buffer,
    );
    expect(one).toMatchObject({ support: 3, ctdp: true });
    expect([...one.usage.subarray(0, 2)]).toEqual([0x9e, 0x10]);
  });
  test('reporting option 1 for an opcode with service actions is INVALID FIELD IN CDB', async () => {
    expectSense(await makeLu().run(cdbReportSupportedOpcodes({ options: 1, opcode: 0x9e })), IR, ASC.INVALID_FIELD_IN_CDB, {
      cd: true,
      field: 2,
      bit: 2,
    });
  });
  test('reporting option 2 for an opcode without service actions is INVALID FIELD IN CDB', async () => {
    expectSense(await makeLu().run(cdbReportSupportedOpcodes({ options: 2, opcode: 0x28 })), IR, ASC.INVALID_FIELD_IN_CDB);
  });
  test('reporting option 3 works with and without service actions', async () => {
    const f = makeLu();
    expect(parseSupportedOpcodesOne((await f.run(cdbReportSupportedOpcodes({ options: 3, opcode: 0x28, serviceAction: 7 }))).data as Buffer).support).toBe(3);
    expect(parseSupportedOpcodesOne((await f.run(cdbReportSupportedOpcodes({ options: 3, opcode: 0x9e, serviceAction: 0x10 }))).data as Buffer).support).toBe(3);
  });
  test('an unsupported command reports SUPPORT 001b', async () => {
    const f = makeLu();
    expect(parseSupportedOpcodesOne((await f.run(cdbReportSupportedOpcodes({ options: 1, opcode: OP.FORMAT_UNIT }))).data as Buffer).support).toBe(1);
    expect(parseSupportedOpcodesOne((await f.run(cdbReportSupportedOpcodes({ options: 2, opcode: 0x9e, serviceAction: 0x11 }))).data as Buffer).support).toBe(1);
  });
  test('an invalid reporting option is INVALID FIELD IN CDB', async () => {
    expectSense(await makeLu().run(cdbReportSupportedOpcodes({ options: 4 })), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2, bit: 2 });
  });
  test('every reported command accepts a CDB that is exactly its usage data', async () => {
    const f = makeLu();
    for (const d of f.lu.commandList) {
      const r = await f.run(Buffer.from(d.usage));
      const s = r.sense === undefined ? undefined : r.sense.readUInt16BE(12);
      // Every bit of the usage data may be set; what the field values then mean may still be refused,
      // but never as a reserved bit (no field pointer at a bit outside the usage data).
      if (s === ASC.INVALID_FIELD_IN_CDB && r.sense!.length >= 18 && (r.sense![15]! & 0x80) !== 0) {
        const field = r.sense!.readUInt16BE(16);
        const bit = r.sense![15]! & 0x08 ? r.sense![15]! & 7 : undefined;
        if (bit !== undefined) expect(d.usage[field]! & (1 << bit), `${d.name} byte ${field} bit ${bit}`).not.toBe(0);
      }
    }
  });
  test('the data is truncated to the allocation length', async () => {
    expect((await makeLu().run(cdbReportSupportedOpcodes({ alloc: 10 }))).data?.length).toBe(10);
  });
});

describe('REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 §6.36)', () => {
  test('reports ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET and TARGET RESET', async () => {
    const d = (await makeLu().run(cdbReportSupportedTmfs())).data as Buffer;
    expect([...d]).toEqual([0x80 | 0x40 | 0x10 | 0x08 | 0x02, 0, 0, 0]);
  });
  test('REPTD returns the 16-byte extended format', async () => {
    const d = (await makeLu().run(cdbReportSupportedTmfs({ reptd: true }))).data as Buffer;
    expect(d.length).toBe(16);
    expect(d[3]).toBe(0x0c);
  });
  test('reports what the transport says it supports', async () => {
    const d = (await makeLu({ tmfs: { abortTask: true, itNexusReset: true } }).run(cdbReportSupportedTmfs())).data as Buffer;
    expect([d[0], d[1]]).toEqual([0x80, 0x01]);
  });
});
