// Unit attention conditions (SAM-5 §5.14), resets (SAM-5 §6.3), I_T nexus loss, resize.
import { describe, expect, test } from 'vitest';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import {
  cdbInquiry,
  cdbModeSense6,
  cdbRead10,
  cdbReadCapacity10,
  cdbReadCapacity16,
  cdbReportLuns,
  cdbRequestSense,
  cdbReserve6,
  cdbTestUnitReady,
  parseReadCapacity16,
} from '../../src/scsi/cdb/index.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { parseSense } from '../../src/scsi/sense.js';
import { GatedBackend, cmd, expectSense, makeLu, nexus, settle } from './helpers.js';

const UA = SENSE_KEY.UNIT_ATTENTION;
const tur = cdbTestUnitReady;

/** A LU on which nexuses 1 and 2 have each sent a command. */
async function twoNexuses() {
  const f = makeLu();
  await f.run(tur(), { nexus: nexus(1) });
  await f.run(tur(), { nexus: nexus(2) });
  return f;
}

describe('reporting', () => {
  test('a pending unit attention ends the next command in CHECK CONDITION, once', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    expectSense(await f.run(tur()), UA, ASC.CAPACITY_DATA_HAS_CHANGED);
    expect((await f.run(tur())).status).toBe(0);
  });
  test('conditions are reported oldest first, one per command', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.MODE_PARAMETERS_CHANGED);
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    expectSense(await f.run(tur()), UA, ASC.MODE_PARAMETERS_CHANGED);
    expectSense(await f.run(tur()), UA, ASC.CAPACITY_DATA_HAS_CHANGED);
    expect((await f.run(tur())).status).toBe(0);
  });
  test('the same condition is not queued twice', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.MODE_PARAMETERS_CHANGED);
    f.lu.establishUnitAttention(ASC.MODE_PARAMETERS_CHANGED);
    expect(f.lu.pendingUnitAttentions(nexus(1).id)).toEqual([ASC.MODE_PARAMETERS_CHANGED]);
  });
  test('INQUIRY neither reports nor clears a unit attention', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    expect((await f.run(cdbInquiry())).status).toBe(0);
    expectSense(await f.run(tur()), UA, ASC.CAPACITY_DATA_HAS_CHANGED);
  });
  test('REPORT LUNS neither reports nor clears other unit attentions', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    expect((await f.run(cdbReportLuns())).status).toBe(0);
    expectSense(await f.run(tur()), UA, ASC.CAPACITY_DATA_HAS_CHANGED);
  });
  test('REQUEST SENSE returns the unit attention as data and clears it (SPC-4 §6.39)', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    const r = await f.run(cdbRequestSense());
    expect(r.status).toBe(0);
    expect(parseSense(r.data as Buffer)).toMatchObject({ senseKey: UA, asc: 0x2a, ascq: 0x09 });
    expect((await f.run(tur())).status).toBe(0);
  });
  test('REQUEST SENSE with DESC returns descriptor format', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    expect((await f.run(cdbRequestSense({ desc: true }))).data?.[0]).toBe(0x72);
  });
  test('a unit attention takes precedence over an invalid CDB and an unknown opcode', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.MODE_PARAMETERS_CHANGED);
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    expectSense(await f.run(Buffer.from([0xff, 0, 0, 0, 0, 0])), UA, ASC.MODE_PARAMETERS_CHANGED);
    expectSense(await f.run(cdbModeSense6({ pc: 3 })), UA, ASC.CAPACITY_DATA_HAS_CHANGED);
  });
  test('conditions are per I_T nexus', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttentionFor(nexus(2).id, ASC.CAPACITY_DATA_HAS_CHANGED);
    expect((await f.run(tur(), { nexus: nexus(1) })).status).toBe(0);
    expectSense(await f.run(tur(), { nexus: nexus(2) }), UA, ASC.CAPACITY_DATA_HAS_CHANGED);
  });
  test('a nexus that never talked to a standalone LU gets no condition', async () => {
    const f = makeLu();
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    expect((await f.run(tur(), { nexus: nexus(9) })).status).toBe(0);
  });
  test('the sense format follows D_SENSE', async () => {
    const f = makeLu({ descriptorSense: true });
    await f.run(tur());
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    expect((await f.run(tur())).sense?.[0]).toBe(0x72);
  });
});

describe('resets', () => {
  test('a logical unit reset reports BUS DEVICE RESET FUNCTION OCCURRED to every nexus', async () => {
    const f = await twoNexuses();
    f.lu.reset('logical-unit-reset');
    expectSense(await f.run(tur(), { nexus: nexus(1) }), UA, ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
    expectSense(await f.run(tur(), { nexus: nexus(2) }), UA, ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
  });
  test('a target warm reset reports POWER ON, RESET, OR BUS DEVICE RESET OCCURRED', async () => {
    const f = await twoNexuses();
    f.lu.reset('target-warm-reset');
    expectSense(await f.run(tur()), UA, ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED);
  });
  test('a target cold reset is a power on (RFC 7143 §11.5.1): POWER ON OCCURRED', async () => {
    const f = await twoNexuses();
    f.lu.reset('target-cold-reset');
    expectSense(await f.run(tur()), UA, ASC.POWER_ON_OCCURRED);
  });
  test('a reset condition is reported before older conditions', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    f.lu.reset('logical-unit-reset');
    expect(f.lu.pendingUnitAttentions(nexus(1).id)).toEqual([ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED, ASC.CAPACITY_DATA_HAS_CHANGED]);
  });
  test('a reset returns mode parameters to their defaults (SAM-5 §6.3.3)', async () => {
    const f = await twoNexuses();
    f.lu.mode.dSense = true;
    f.lu.mode.swp = true;
    f.lu.reset('logical-unit-reset');
    expect(f.lu.mode).toEqual({ wce: true, dSense: false, swp: false });
  });
  test('a reset releases an SPC-2 reservation', async () => {
    const f = await twoNexuses();
    await f.run(cdbReserve6(), { nexus: nexus(1) });
    f.lu.reset('logical-unit-reset');
    expect(f.lu.reservationHolder).toBeNull();
  });
  test('CLEAR TASK SET reports COMMANDS CLEARED BY ANOTHER INITIATOR to other nexuses with tasks', async () => {
    const backend = new GatedBackend(new MemoryBackend({ blocks: 64 }));
    const lu = new LogicalUnit({ lun: 0, backend });
    await lu.execute(cmd(tur(), { nexus: nexus(1) }));
    await lu.execute(cmd(tur(), { nexus: nexus(3) }));
    const held = lu.execute(cmd(cdbRead10(0, 1), { nexus: nexus(2) }));
    await settle();
    lu.reset('clear-task-set', nexus(1));
    expect(lu.pendingUnitAttentions(nexus(2).id)).toEqual([ASC.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR]);
    expect(lu.pendingUnitAttentions(nexus(1).id)).toEqual([]);
    expect(lu.pendingUnitAttentions(nexus(3).id)).toEqual([]);
    backend.release();
    await held;
  });
});

describe('I_T nexus loss (SAM-5 §6.3.4)', () => {
  test('the returning nexus sees I_T NEXUS LOSS OCCURRED', async () => {
    const f = await twoNexuses();
    f.lu.nexusLost(nexus(1));
    expect(f.lu.pendingUnitAttentions(nexus(2).id)).toEqual([]);
    expectSense(await f.run(tur(), { nexus: nexus(1) }), UA, ASC.I_T_NEXUS_LOSS_OCCURRED);
    expect((await f.run(tur(), { nexus: nexus(1) })).status).toBe(0);
  });
  test('pending conditions of the lost nexus are replaced by the loss', async () => {
    const f = await twoNexuses();
    f.lu.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
    f.lu.nexusLost(nexus(1).id);
    expect(f.lu.pendingUnitAttentions(nexus(1).id)).toEqual([ASC.I_T_NEXUS_LOSS_OCCURRED]);
  });
  test('a lost nexus receives no broadcast conditions while it is gone', async () => {
    const f = await twoNexuses();
    f.lu.nexusLost(nexus(1));
    f.lu.establishUnitAttention(ASC.MODE_PARAMETERS_CHANGED);
    expect(f.lu.pendingUnitAttentions(nexus(1).id)).toEqual([ASC.I_T_NEXUS_LOSS_OCCURRED]);
  });
  test('the lost nexus releases its SPC-2 reservation', async () => {
    const f = await twoNexuses();
    await f.run(cdbReserve6(), { nexus: nexus(1) });
    f.lu.nexusLost(nexus(1));
    expect((await f.run(cdbReserve6(), { nexus: nexus(2) })).status).toBe(0);
  });
  test('an I_T nexus reset acts as a nexus loss', async () => {
    const f = await twoNexuses();
    f.lu.reset('i-t-nexus-reset', nexus(2));
    expect(f.lu.pendingUnitAttentions(nexus(2).id)).toEqual([ASC.I_T_NEXUS_LOSS_OCCURRED]);
    expect(() => f.lu.reset('i-t-nexus-reset')).toThrow(TypeError);
  });
});

describe('resize (SBC-3 §4.6)', () => {
  test('reports CAPACITY DATA HAS CHANGED and the new capacity', async () => {
    const f = await twoNexuses();
    await f.lu.resize(4096);
    expectSense(await f.run(cdbReadCapacity10()), UA, ASC.CAPACITY_DATA_HAS_CHANGED);
    expect(parseReadCapacity16((await f.run(cdbReadCapacity16())).data as Buffer).blocks).toBe(4096);
    expectSense(await f.run(tur(), { nexus: nexus(2) }), UA, ASC.CAPACITY_DATA_HAS_CHANGED);
  });
  test('refuses a size that is not a positive whole number of blocks', async () => {
    await expect(makeLu().lu.resize(0)).rejects.toThrow(RangeError);
    await expect(makeLu().lu.resize(1.5)).rejects.toThrow(RangeError);
  });
});
