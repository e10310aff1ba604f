// Two I_T nexuses to the same logical unit (libiscsi's MultipathIO with the URL twice): each sees
// the other's writes, reservations, resets and medium removal prevention.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { cdbPreventAllow, cdbRead10, cdbStartStopUnit, cdbTestUnitReady, cdbWrite10, cdbPersistentReserveOut } from '../../src/scsi/cdb/index.js';
import { ASC, PR_TYPE, PROUT, SENSE_KEY, STATUS } from '../../src/scsi/constants.js';
import { ScsiTargetDevice } from '../../src/scsi/target-device.js';
import type { ItNexus } from '../../src/scsi/types.js';
import { TARGET, cmd, expectSense, nexus, pattern, type CmdOptions } from './helpers.js';

/** A second session of the initiator of `nexus(1)`: same InitiatorName, another ISID. */
function secondSession(): ItNexus {
  const a = nexus(1);
  const isid = '80000000aa01';
  const initiatorPortName = `${a.initiatorName},i,0x${isid}`;
  return { ...a, isid, initiatorPortName, id: `${initiatorPortName}|${a.targetPortName}` };
}

function setup(removable = false) {
  const device = new ScsiTargetDevice({ targetName: TARGET });
  device.add(0, new MemoryBackend({ blocks: 256, removable }));
  const a = nexus(1);
  const b = secondSession();
  device.attachNexus(a);
  device.attachNexus(b);
  // Both sessions have seen REPORTED LUNS DATA HAS CHANGED for the LUN added: consume it.
  const on = (nx: ItNexus) => (cdb: Buffer, o: CmdOptions = {}) => device.execute(cmd(cdb, { nexus: nx, ...o }));
  return { device, a: on(a), b: on(b) };
}

describe('multipath: two sessions to one LUN', () => {
  test('each reads what the other wrote', async () => {
    const { a, b } = setup();
    await a(cdbTestUnitReady());
    await b(cdbTestUnitReady());
    expect((await a(cdbWrite10(10, 2), { dataOut: pattern(2, 0x61) })).status).toBe(0);
    expect(((await b(cdbRead10(10, 2))).data as Buffer).equals(pattern(2, 0x61))).toBe(true);
  });
  test('a persistent reservation made on one conflicts on the other', async () => {
    const { a, b } = setup();
    await a(cdbTestUnitReady());
    await b(cdbTestUnitReady());
    const reg = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: 7n });
    await a(reg.cdb, { dataOut: reg.data });
    const res = cdbPersistentReserveOut(PROUT.RESERVE, { key: 7n }, { type: PR_TYPE.WRITE_EXCLUSIVE });
    expect((await a(res.cdb, { dataOut: res.data })).status).toBe(0);
    expect((await b(cdbWrite10(0, 1), { dataOut: pattern(1, 1) })).status).toBe(STATUS.RESERVATION_CONFLICT);
    expect((await b(cdbRead10(0, 1))).status).toBe(0);
  });
  test('a LOGICAL UNIT RESET from one is reported to the other', async () => {
    const { device, a, b } = setup();
    await a(cdbTestUnitReady());
    await b(cdbTestUnitReady());
    device.taskManagement(0, { type: 'logical-unit-reset', nexus: nexus(1), aborted: [] });
    expectSense(await b(cdbTestUnitReady()), SENSE_KEY.UNIT_ATTENTION, ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
    expect((await b(cdbTestUnitReady())).status).toBe(0);
  });
  test('removal prevented by one session stops the other from ejecting', async () => {
    const { a, b } = setup(true);
    await a(cdbTestUnitReady());
    await b(cdbTestUnitReady());
    await a(cdbPreventAllow(1));
    expectSense(await b(cdbStartStopUnit({ loej: true, start: false })), SENSE_KEY.ILLEGAL_REQUEST, ASC.MEDIUM_REMOVAL_PREVENTED);
    await a(cdbPreventAllow(0));
    expect((await b(cdbStartStopUnit({ loej: true, start: false }))).status).toBe(0);
    expectSense(await a(cdbTestUnitReady()), SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
  });
});
