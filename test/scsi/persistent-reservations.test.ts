// Persistent reservations (SPC-4 §5.13, §6.15, §6.16): every service action, every reservation type,
// the conflict table for holders, registrants and others, unit attentions, APTPL, and the SPC-2
// RESERVE/RELEASE interplay (CRH=1).
import { describe, expect, test, vi } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import type { SidecarStore } from '../../src/backend/types.js';
import {
  cdbModeSense6,
  cdbRead10,
  cdbReadCapacity10,
  cdbRelease6,
  cdbReserve6,
  cdbTestUnitReady,
  cdbWrite10,
  cdbPersistentReserveIn,
  cdbPersistentReserveOut,
  cdbRelease10,
  cdbReserve10,
  parsePrinReadFullStatus,
  parsePrinReadKeys,
  parsePrinReadReservation,
  parsePrinReportCapabilities,
  type ProutParameterList,
} from '../../src/scsi/cdb/index.js';
import { ASC, PR_TYPE, PRIN, PROUT, SENSE_KEY, STATUS } from '../../src/scsi/constants.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { ScsiTargetDevice } from '../../src/scsi/target-device.js';
import type { ScsiResponse } from '../../src/scsi/types.js';
import { TARGET, cmd, expectSense, makeLu, nexus, pattern, type Fixture } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;
const CONFLICT = STATUS.RESERVATION_CONFLICT;
const K1 = 0x1111n;
const K2 = 0x2222n;
const K3 = 0x3333n;

function prin(f: Fixture, sa: number, n = 1, alloc?: number): Promise<ScsiResponse> {
  return f.run(cdbPersistentReserveIn(sa, alloc), { nexus: nexus(n) });
}

function prout(f: Fixture, sa: number, p: ProutParameterList, n = 1, opts: { type?: number; scope?: number } = {}): Promise<ScsiResponse> {
  const { cdb, data } = cdbPersistentReserveOut(sa, p, opts);
  return f.run(cdb, { nexus: nexus(n), dataOut: data });
}

const register = (f: Fixture, key: bigint, n = 1, aptpl = false) => prout(f, PROUT.REGISTER_AND_IGNORE_EXISTING_KEY, { saKey: key, aptpl }, n);
const reserve = (f: Fixture, key: bigint, type: number, n = 1) => prout(f, PROUT.RESERVE, { key }, n, { type });
const release = (f: Fixture, key: bigint, type: number, n = 1) => prout(f, PROUT.RELEASE, { key }, n, { type });

async function keys(f: Fixture, n = 1) {
  return parsePrinReadKeys((await prin(f, PRIN.READ_KEYS, n)).data as Buffer);
}
async function reservation(f: Fixture, n = 1) {
  return parsePrinReadReservation((await prin(f, PRIN.READ_RESERVATION, n)).data as Buffer);
}
function uas(f: Fixture, n: number): readonly number[] {
  return f.lu.pendingUnitAttentions(nexus(n).id);
}

describe('PERSISTENT RESERVE IN (SPC-4 §6.15)', () => {
  test('READ KEYS of a LU without registrations: generation 0, no keys', async () => {
    expect(await keys(makeLu())).toEqual({ generation: 0, additionalLength: 0, keys: [] });
  });
  test('READ KEYS truncated to 8 bytes keeps the full ADDITIONAL LENGTH', async () => {
    const f = makeLu();
    await register(f, K1);
    const r = parsePrinReadKeys((await prin(f, PRIN.READ_KEYS, 1, 8)).data as Buffer);
    expect(r).toMatchObject({ additionalLength: 8, keys: [] });
  });
  test('READ RESERVATION without a reservation has ADDITIONAL LENGTH 0', async () => {
    expect(await reservation(makeLu())).toEqual({ generation: 0, reservation: null });
  });
  test('REPORT CAPABILITIES: CRH, no SPEC_I_PT or ALL_TG_PT, every type, ALLOW COMMANDS 011b', async () => {
    const c = parsePrinReportCapabilities((await prin(makeLu(), PRIN.REPORT_CAPABILITIES)).data as Buffer);
    expect(c).toEqual({
      length: 8,
      crh: true,
      sipC: false,
      atpC: false,
      ptplC: false,
      tmv: true,
      allowCommands: 3,
      ptplA: false,
      typeMask: 0xea01,
    });
  });
  test('READ FULL STATUS lists every registration with its iSCSI TransportID and the holder', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K2, PR_TYPE.WRITE_EXCLUSIVE, 2);
    const s = parsePrinReadFullStatus((await prin(f, PRIN.READ_FULL_STATUS)).data as Buffer);
    expect(s.generation).toBe(2);
    expect(s.entries.map((e) => [e.key, e.holder, e.type, e.name, e.relativeTargetPortId])).toEqual([
      [K1, false, 0, nexus(1).initiatorPortName, 1],
      [K2, true, PR_TYPE.WRITE_EXCLUSIVE, nexus(2).initiatorPortName, 1],
    ]);
    expect(s.entries[0]!.transportId[0]).toBe(0x45); // FORMAT CODE 01b, iSCSI
    expect(s.entries[0]!.transportId.length % 4).toBe(0);
  });
  test('a service action beyond READ FULL STATUS is INVALID FIELD IN CDB', async () => {
    const f = makeLu();
    for (let sa = 4; sa < 0x20; sa++) expectSense(await prin(f, sa), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 4 });
  });
});

describe('REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.13.7)', () => {
  test('registers, bumps PRgeneration and shows the key', async () => {
    const f = makeLu();
    expect((await prout(f, PROUT.REGISTER, { saKey: K1 })).status).toBe(0);
    expect(await keys(f)).toEqual({ generation: 1, additionalLength: 8, keys: [K1] });
  });
  test('REGISTER from an unregistered nexus with a RESERVATION KEY conflicts', async () => {
    expect((await prout(makeLu(), PROUT.REGISTER, { key: K2, saKey: K1 })).status).toBe(CONFLICT);
  });
  test('re-registering needs the current key; with it the key changes', async () => {
    const f = makeLu();
    await register(f, K1);
    expect((await prout(f, PROUT.REGISTER, { key: K2, saKey: K3 })).status).toBe(CONFLICT);
    expect((await prout(f, PROUT.REGISTER, { saKey: K3 })).status).toBe(CONFLICT);
    expect((await prout(f, PROUT.REGISTER, { key: K1, saKey: K3 })).status).toBe(0);
    expect((await keys(f)).keys).toEqual([K3]);
  });
  test('REGISTER AND IGNORE EXISTING KEY replaces the key without knowing it', async () => {
    const f = makeLu();
    await register(f, K1);
    await register(f, K2);
    expect(await keys(f)).toMatchObject({ generation: 2, keys: [K2] });
  });
  test('SERVICE ACTION RESERVATION KEY zero unregisters; from an unregistered nexus it does nothing', async () => {
    const f = makeLu();
    expect((await prout(f, PROUT.REGISTER, { saKey: 0n })).status).toBe(0);
    expect((await keys(f)).generation).toBe(0);
    await register(f, K1);
    expect((await prout(f, PROUT.REGISTER, { key: K1, saKey: 0n })).status).toBe(0);
    expect(await keys(f)).toEqual({ generation: 2, additionalLength: 0, keys: [] });
  });
  test('registrations are per I_T nexus: two sessions of one initiator hold their own keys', async () => {
    const f = makeLu();
    const a = nexus(1);
    const b = { ...a, isid: '800000000009', initiatorPortName: `${a.initiatorName},i,0x800000000009`, id: `${a.initiatorName},i,0x800000000009|${a.targetPortName}` };
    const reg = (nx: typeof a, key: bigint) => {
      const { cdb, data } = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: key });
      return f.run(cdb, { nexus: nx, dataOut: data });
    };
    await reg(a, K1);
    await reg(b, K2);
    expect((await keys(f)).keys).toEqual([K1, K2]);
  });
  test('a parameter list other than 24 bytes is PARAMETER LIST LENGTH ERROR', async () => {
    const f = makeLu();
    const { cdb, data } = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: K1 });
    cdb.writeUInt32BE(16, 5);
    expectSense(await f.run(cdb, { dataOut: data.subarray(0, 16) }), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
  });
  test('SPEC_I_PT, ALL_TG_PT, and APTPL without a place to keep it are refused (SIP_C, ATP_C, PTPL_C 0)', async () => {
    const f = makeLu();
    expectSense(await prout(f, PROUT.REGISTER, { saKey: K1, specIPt: true }), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST, { cd: false, field: 20, bit: 3 });
    expectSense(await prout(f, PROUT.REGISTER, { saKey: K1, allTgPt: true }), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST, { cd: false, field: 20, bit: 2 });
    expectSense(await prout(f, PROUT.REGISTER, { saKey: K1, aptpl: true }), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST, { cd: false, field: 20, bit: 0 });
    expect((await keys(f)).keys).toEqual([]);
  });
  test('REGISTER AND MOVE is not offered: INVALID FIELD IN CDB', async () => {
    expectSense(await prout(makeLu(), PROUT.REGISTER_AND_MOVE, { key: K1 }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 4 });
  });
});

describe('RESERVE and RELEASE (SPC-4 §5.13.9, §5.13.11.2)', () => {
  test('RESERVE needs a registration and its key', async () => {
    const f = makeLu();
    expect((await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE)).status).toBe(CONFLICT);
    await register(f, K1);
    expect((await reserve(f, K2, PR_TYPE.WRITE_EXCLUSIVE)).status).toBe(CONFLICT);
    expect((await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE)).status).toBe(0);
  });
  test('each type is reported by READ RESERVATION, all-registrants ones with key 0; generation unchanged', async () => {
    const f = makeLu();
    await register(f, K1);
    for (const type of Object.values(PR_TYPE)) {
      expect((await reserve(f, K1, type)).status).toBe(0);
      const all = type === PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS || type === PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
      expect(await reservation(f)).toEqual({ generation: 1, reservation: { key: all ? 0n : K1, scope: 0, type } });
      expect((await release(f, K1, type)).status).toBe(0);
      expect((await reservation(f)).reservation).toBeNull();
    }
  });
  test('a type that does not exist, or a scope other than LU_SCOPE, is INVALID FIELD IN CDB', async () => {
    const f = makeLu();
    await register(f, K1);
    expectSense(await reserve(f, K1, 2), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2, bit: 3 });
    expectSense(await prout(f, PROUT.RESERVE, { key: K1 }, 1, { type: 1, scope: 1 }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2, bit: 7 });
  });
  test('the holder may reserve again with the same type; another type or another nexus conflicts', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS);
    expect((await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS)).status).toBe(0);
    expect((await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE)).status).toBe(CONFLICT);
    expect((await reserve(f, K2, PR_TYPE.EXCLUSIVE_ACCESS, 2)).status).toBe(CONFLICT);
  });
  test('RELEASE by a registrant that does not hold the reservation is GOOD and changes nothing', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE);
    expect((await release(f, K2, PR_TYPE.WRITE_EXCLUSIVE, 2)).status).toBe(0);
    expect((await reservation(f)).reservation).not.toBeNull();
  });
  test('RELEASE with another type is INVALID RELEASE OF PERSISTENT RESERVATION', async () => {
    const f = makeLu();
    await register(f, K1);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE);
    expectSense(await release(f, K1, PR_TYPE.EXCLUSIVE_ACCESS), IR, ASC.INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
  });
  test('releasing a registrants-only reservation tells the other registrants, not others', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await f.run(cdbTestUnitReady(), { nexus: nexus(3) });
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
    await release(f, K1, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
    expect(uas(f, 2)).toEqual([ASC.RESERVATIONS_RELEASED]);
    expect(uas(f, 1)).toEqual([]);
    expect(uas(f, 3)).toEqual([]);
  });
  test('releasing a Write Exclusive reservation establishes no unit attention', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE);
    await release(f, K1, PR_TYPE.WRITE_EXCLUSIVE);
    expect(uas(f, 2)).toEqual([]);
  });
  test('the holder unregistering releases a non all-registrants reservation', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY);
    await prout(f, PROUT.REGISTER, { key: K1, saKey: 0n });
    expect((await reservation(f)).reservation).toBeNull();
    expect(uas(f, 2)).toEqual([ASC.RESERVATIONS_RELEASED]);
  });
  test('an all-registrants reservation lasts while any registrant remains', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS);
    await prout(f, PROUT.REGISTER, { key: K1, saKey: 0n }, 1);
    expect((await reservation(f)).reservation).toMatchObject({ type: PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS });
    // Any registrant holds it, so the remaining one may release it.
    expect((await release(f, K2, PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS, 2)).status).toBe(0);
    expect((await reservation(f)).reservation).toBeNull();
    await reserve(f, K2, PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, 2);
    await prout(f, PROUT.REGISTER, { key: K2, saKey: 0n }, 2);
    expect((await reservation(f)).reservation).toBeNull();
  });
});

describe('access in the presence of each reservation type (SPC-4 §5.13.1, SBC-3 §4.17)', () => {
  // [type, registered non-holder: read, write; unregistered: read, write], as libiscsi's
  // ProutReserve.Access* tests and SPC-4 have it.
  const table: [string, number, boolean, boolean, boolean, boolean][] = [
    ['Write Exclusive', PR_TYPE.WRITE_EXCLUSIVE, true, false, true, false],
    ['Exclusive Access', PR_TYPE.EXCLUSIVE_ACCESS, false, false, false, false],
    ['Write Exclusive, Registrants Only', PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY, true, true, true, false],
    ['Exclusive Access, Registrants Only', PR_TYPE.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY, true, true, false, false],
    ['Write Exclusive, All Registrants', PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS, true, true, true, false],
    ['Exclusive Access, All Registrants', PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, true, true, false, false],
  ];
  const ok = (r: ScsiResponse) => r.status === STATUS.GOOD;
  test.each(table)('%s', async (_name, type, regRead, regWrite, unRead, unWrite) => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await f.run(cdbTestUnitReady(), { nexus: nexus(3) });
    await reserve(f, K1, type);
    const data = { dataOut: pattern(1, 0xa5) };
    // The holder does everything.
    expect(ok(await f.run(cdbRead10(1, 1), { nexus: nexus(1) }))).toBe(true);
    expect(ok(await f.run(cdbWrite10(1, 1), { nexus: nexus(1), ...data }))).toBe(true);
    for (const [n, read, write] of [
      [2, regRead, regWrite],
      [3, unRead, unWrite],
    ] as const) {
      const r = await f.run(cdbRead10(1, 1), { nexus: nexus(n) });
      const w = await f.run(cdbWrite10(1, 1), { nexus: nexus(n), ...data });
      expect([ok(r), ok(w)]).toEqual([read, write]);
      if (!read) expect(r.status).toBe(CONFLICT);
      if (!write) expect(w.status).toBe(CONFLICT);
      // TEST UNIT READY, READ CAPACITY and PERSISTENT RESERVE IN pass every reservation.
      expect((await f.run(cdbTestUnitReady(), { nexus: nexus(n) })).status).toBe(0);
      expect((await f.run(cdbReadCapacity10(), { nexus: nexus(n) })).status).toBe(0);
      expect((await prin(f, PRIN.READ_KEYS, n)).status).toBe(0);
    }
  });
  test('MODE SENSE passes Write Exclusive reservations and registered nexuses, not Exclusive Access for others', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await f.run(cdbTestUnitReady(), { nexus: nexus(3) });
    await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS);
    expect((await f.run(cdbModeSense6(), { nexus: nexus(2) })).status).toBe(0);
    expect((await f.run(cdbModeSense6(), { nexus: nexus(3) })).status).toBe(CONFLICT);
    await release(f, K1, PR_TYPE.EXCLUSIVE_ACCESS);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE);
    expect((await f.run(cdbModeSense6(), { nexus: nexus(3) })).status).toBe(0);
  });
  test('registrations alone restrict nothing', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    expect((await f.run(cdbWrite10(0, 1), { nexus: nexus(2), dataOut: pattern(1, 1) })).status).toBe(0);
  });
  test('a second session of the holding initiator is another I_T nexus and conflicts', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS);
    const a = nexus(1);
    const other = { ...a, isid: '80000000000f', id: `${a.initiatorName},i,0x80000000000f|${a.targetPortName}` };
    expect((await f.run(cdbRead10(0, 1), { nexus: other })).status).toBe(CONFLICT);
  });
  test('reservations and registrations survive I_T nexus loss and a logical unit reset', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS);
    f.lu.nexusLost(nexus(1));
    f.lu.reset('logical-unit-reset');
    expect(f.lu.pr.reservation).toMatchObject({ holder: nexus(1).id, type: PR_TYPE.EXCLUSIVE_ACCESS });
    expect((await f.run(cdbRead10(0, 1), { nexus: nexus(2) })).status).toBe(CONFLICT);
  });
});

describe('CLEAR, PREEMPT and PREEMPT AND ABORT (SPC-4 §5.13.11.2)', () => {
  test('CLEAR removes every registration and the reservation, and tells the others', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS);
    const gen = (await keys(f)).generation;
    expect((await prout(f, PROUT.CLEAR, { key: K1 })).status).toBe(0);
    expect(await keys(f)).toEqual({ generation: gen + 1, additionalLength: 0, keys: [] });
    expect((await reservation(f)).reservation).toBeNull();
    expect(uas(f, 2)).toEqual([ASC.RESERVATIONS_PREEMPTED]);
    expect(uas(f, 1)).toEqual([]);
  });
  test('CLEAR from an unregistered nexus or with a wrong key conflicts', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    expect((await prout(f, PROUT.CLEAR, { key: K1 }, 2)).status).toBe(CONFLICT);
    expect((await prout(f, PROUT.CLEAR, { key: K2 }, 1)).status).toBe(CONFLICT);
  });
  test('PREEMPT without a reservation removes the registrations with that key', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    const gen = (await keys(f, 2)).generation;
    expect((await prout(f, PROUT.PREEMPT, { key: K2, saKey: K1 }, 2, { type: PR_TYPE.EXCLUSIVE_ACCESS })).status).toBe(0);
    expect(await keys(f, 2)).toMatchObject({ generation: gen + 1, keys: [K2] });
    expect(uas(f, 1)).toEqual([ASC.REGISTRATIONS_PREEMPTED]);
    expect(uas(f, 2)).toEqual([]);
    expect((await reservation(f, 2)).reservation).toBeNull();
  });
  test('PREEMPT of the holder moves the reservation, with the new type', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await register(f, K3, 3);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE);
    expect((await prout(f, PROUT.PREEMPT, { key: K2, saKey: K1 }, 2, { type: PR_TYPE.EXCLUSIVE_ACCESS })).status).toBe(0);
    expect(await reservation(f, 2)).toMatchObject({ reservation: { key: K2, type: PR_TYPE.EXCLUSIVE_ACCESS } });
    expect(uas(f, 1)).toEqual([ASC.REGISTRATIONS_PREEMPTED]);
    // The type changed: a release for the registrant that stayed.
    expect(uas(f, 3)).toEqual([ASC.RESERVATIONS_RELEASED]);
    expect((await f.run(cdbRead10(0, 1), { nexus: nexus(3) })).status).toBe(STATUS.CHECK_CONDITION); // its UA first
    expect((await f.run(cdbRead10(0, 1), { nexus: nexus(3) })).status).toBe(CONFLICT);
  });
  test('PREEMPT of an all-registrants reservation with key 0 removes every other registration', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await register(f, K3, 3);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS);
    expect((await prout(f, PROUT.PREEMPT, { key: K2, saKey: 0n }, 2, { type: PR_TYPE.WRITE_EXCLUSIVE })).status).toBe(0);
    expect((await keys(f, 2)).keys).toEqual([K2]);
    expect(await reservation(f, 2)).toMatchObject({ reservation: { key: K2, type: PR_TYPE.WRITE_EXCLUSIVE } });
    expect(uas(f, 1)).toEqual([ASC.REGISTRATIONS_PREEMPTED]);
    expect(uas(f, 3)).toEqual([ASC.REGISTRATIONS_PREEMPTED]);
  });
  test('PREEMPT of one registrant of an all-registrants reservation leaves the reservation to the others', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS);
    expect((await prout(f, PROUT.PREEMPT, { key: K2, saKey: K1 }, 2, { type: PR_TYPE.WRITE_EXCLUSIVE })).status).toBe(0);
    expect(await reservation(f, 2)).toMatchObject({ reservation: { key: 0n, type: PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS } });
    const s = parsePrinReadFullStatus((await prin(f, PRIN.READ_FULL_STATUS, 2)).data as Buffer);
    expect(s.entries.map((e) => [e.key, e.holder])).toEqual([[K2, true]]);
  });
  test('the holder preempting its own key changes the type, telling the other registrants', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE);
    expect((await prout(f, PROUT.PREEMPT, { key: K1, saKey: K1 }, 1, { type: PR_TYPE.EXCLUSIVE_ACCESS })).status).toBe(0);
    expect(await reservation(f)).toMatchObject({ reservation: { key: K1, type: PR_TYPE.EXCLUSIVE_ACCESS } });
    expect((await keys(f)).keys).toEqual([K1, K2]);
    expect(uas(f, 2)).toEqual([ASC.RESERVATIONS_RELEASED]);
  });
  test('PREEMPT of a key nobody holds conflicts; of key 0 without a reservation is an invalid field', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    expect((await prout(f, PROUT.PREEMPT, { key: K1, saKey: K3 }, 1)).status).toBe(CONFLICT);
    expectSense(await prout(f, PROUT.PREEMPT, { key: K1, saKey: 0n }, 1), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST, { cd: false, field: 8 });
  });
  test('PREEMPT AND ABORT asks the transport to abort the preempted nexuses tasks, after the change', async () => {
    const device = new ScsiTargetDevice({ targetName: TARGET });
    const lu = device.add(0, new MemoryBackend({ blocks: 64 }));
    const aborter = vi.fn(async (_lun: number, _ids: readonly string[]) => {
      // The registrations are already gone when the tasks are aborted.
      expect([...lu.pr.registrations.keys()]).toEqual([nexus(2).id]);
    });
    device.setTaskAborter(aborter);
    const f: Fixture = { lu, backend: lu.backend as MemoryBackend, run: (cdb, o) => device.execute(cmd(cdb, o)) };
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS);
    expect((await prout(f, PROUT.PREEMPT_AND_ABORT, { key: K2, saKey: K1 }, 2, { type: PR_TYPE.EXCLUSIVE_ACCESS })).status).toBe(0);
    expect(aborter).toHaveBeenCalledWith(0, [nexus(1).id]);
  });
  test('PREEMPT does not abort anything', async () => {
    const device = new ScsiTargetDevice({ targetName: TARGET });
    const lu = device.add(0, new MemoryBackend({ blocks: 64 }));
    const aborter = vi.fn(async () => {});
    device.setTaskAborter(aborter);
    const f: Fixture = { lu, backend: lu.backend as MemoryBackend, run: (cdb, o) => device.execute(cmd(cdb, o)) };
    await register(f, K1, 1);
    await register(f, K2, 2);
    await prout(f, PROUT.PREEMPT, { key: K2, saKey: K1 }, 2);
    expect(aborter).not.toHaveBeenCalled();
  });
});

describe('APTPL: persistence through power loss (SPC-4 §5.13.5)', () => {
  function memoryStore(): SidecarStore & { doc: unknown; saves: number; fail: boolean } {
    return {
      location: 'memory',
      doc: null,
      saves: 0,
      fail: false,
      load() {
        return this.doc;
      },
      async save(doc) {
        if (this.fail) throw new Error('disk full');
        this.saves++;
        this.doc = JSON.parse(JSON.stringify(doc));
      },
      async remove() {
        this.doc = null;
      },
    };
  }
  test('REGISTER with APTPL saves the state; a new LU over the same store has it back', async () => {
    const store = memoryStore();
    const f = makeLu({ prStore: store });
    expect(parsePrinReportCapabilities((await prin(f, PRIN.REPORT_CAPABILITIES)).data as Buffer)).toMatchObject({ ptplC: true, ptplA: false });
    await register(f, K1, 1, true);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
    expect(store.saves).toBe(2);
    expect(parsePrinReportCapabilities((await prin(f, PRIN.REPORT_CAPABILITIES)).data as Buffer).ptplA).toBe(true);
    const g = makeLu({ prStore: store });
    expect(await keys(g)).toEqual({ generation: 1, additionalLength: 8, keys: [K1] });
    expect(await reservation(g)).toMatchObject({ reservation: { key: K1, type: PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY } });
    expect((await g.run(cdbWrite10(0, 1), { nexus: nexus(2), dataOut: pattern(1, 1) })).status).toBe(CONFLICT);
  });
  test('a REGISTER with APTPL clear drops what was persisted', async () => {
    const store = memoryStore();
    const f = makeLu({ prStore: store });
    await register(f, K1, 1, true);
    await register(f, K2, 1, false);
    expect(store.doc).toBeNull();
    expect((await keys(makeLu({ prStore: store }))).keys).toEqual([]);
  });
  test('without APTPL nothing is written', async () => {
    const store = memoryStore();
    await register(makeLu({ prStore: store }), K1);
    expect(store.saves).toBe(0);
  });
  test('a save that fails undoes the change and ends the command in CHECK CONDITION', async () => {
    const store = memoryStore();
    const f = makeLu({ prStore: store });
    await register(f, K1, 1, true);
    store.fail = true;
    const r = await reserve(f, K1, PR_TYPE.EXCLUSIVE_ACCESS);
    expectSense(r, SENSE_KEY.HARDWARE_ERROR, ASC.INSUFFICIENT_REGISTRATION_RESOURCES);
    expect((await reservation(f)).reservation).toBeNull();
  });
  test('a document that cannot be read back stops the LU from starting', () => {
    const store = memoryStore();
    store.doc = { version: 9 };
    expect(() => makeLu({ prStore: store })).toThrow(/version 1/);
  });
  test('a read-only medium offers no APTPL', () => {
    const backend = new MemoryBackend({ blocks: 8, readOnly: true });
    Object.assign(backend, { sidecar: () => memoryStore() });
    expect(new LogicalUnit({ lun: 0, backend }).prPersistCapable).toBe(false);
  });
});

describe('SPC-2 RESERVE / RELEASE with persistent reservations (SPC-4 §5.13.3, CRH=1)', () => {
  test('RESERVE(10) and RELEASE(10) work as the 6-byte forms', async () => {
    const f = makeLu();
    expect((await f.run(cdbReserve10(), { nexus: nexus(1) })).status).toBe(0);
    expect((await f.run(cdbRead10(0, 1), { nexus: nexus(2) })).status).toBe(CONFLICT);
    expect((await f.run(cdbRelease10(), { nexus: nexus(2) })).status).toBe(0);
    expect((await f.run(cdbRelease10(), { nexus: nexus(1) })).status).toBe(0);
    expect((await f.run(cdbRead10(0, 1), { nexus: nexus(2) })).status).toBe(0);
  });
  test('the SPC-2 reservation goes with its I_T nexus', async () => {
    const f = makeLu();
    await f.run(cdbReserve10(), { nexus: nexus(1) });
    f.lu.nexusLost(nexus(1));
    expect((await f.run(cdbReserve10(), { nexus: nexus(2) })).status).toBe(0);
  });
  test('RESERVE conflicts while registrations exist, except from the persistent reservation holder', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    expect((await f.run(cdbReserve6(), { nexus: nexus(2) })).status).toBe(CONFLICT);
    expect((await f.run(cdbReserve6(), { nexus: nexus(1) })).status).toBe(CONFLICT);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE);
    expect((await f.run(cdbReserve6(), { nexus: nexus(1) })).status).toBe(0);
    // GOOD, but no SPC-2 reservation was made.
    expect(f.lu.reservationHolder).toBeNull();
  });
  test('RELEASE is GOOD from the holder or a registrants-only registrant, a conflict from others', async () => {
    const f = makeLu();
    await register(f, K1, 1);
    await register(f, K2, 2);
    await reserve(f, K1, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
    expect((await f.run(cdbRelease6(), { nexus: nexus(1) })).status).toBe(0);
    expect((await f.run(cdbRelease6(), { nexus: nexus(2) })).status).toBe(0);
    expect((await f.run(cdbRelease6(), { nexus: nexus(3) })).status).toBe(CONFLICT);
    expect((await reservation(f)).reservation).not.toBeNull();
  });
  test('an SPC-2 reservation makes PERSISTENT RESERVE OUT from another nexus conflict', async () => {
    const f = makeLu();
    await f.run(cdbReserve6(), { nexus: nexus(1) });
    expect((await register(f, K2, 2)).status).toBe(CONFLICT);
  });
});
