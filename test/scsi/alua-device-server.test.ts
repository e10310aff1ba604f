// The device server side of asymmetric logical unit access (SPC-4 §5.15): what INQUIRY, VPD 83h and
// REPORT TARGET PORT GROUPS say, which commands each state lets through, and SET TARGET PORT GROUPS.
import { describe, expect, test } from 'vitest';
import type { AsymmetricAccess, TargetPortGroupRequest } from '../../src/scsi/alua-access.js';
import {
  ALUA_STATE,
  cdbInquiry,
  cdbPersistentReserveIn,
  cdbRead10,
  cdbReportLuns,
  cdbReportTargetPortGroups,
  cdbSetTargetPortGroups,
  cdbTestUnitReady,
  cdbWrite10,
  encodeSetTargetPortGroups,
  parseInquiry,
  parseReportTargetPortGroups,
  parseVpd83,
  pathIdentity,
  type TargetPortGroupInit,
} from '../../src/scsi/cdb/index.js';
import { ASC, PRIN, SENSE_KEY, STATUS } from '../../src/scsi/constants.js';
import { ScsiError } from '../../src/errors.js';
import { expectSense, makeLu, pattern } from './helpers.js';

/** An AsymmetricAccess whose state the test sets. */
class FixedAccess implements AsymmetricAccess {
  tpgs = 1;
  group = 2;
  implicitTransitionTime = 5;
  current: number = ALUA_STATE.ACTIVE_OPTIMIZED;
  other: number = ALUA_STATE.ACTIVE_NON_OPTIMIZED;
  requests: TargetPortGroupRequest[] = [];
  busy = false;
  state(): number {
    return this.current;
  }
  groups(): TargetPortGroupInit[] {
    return [
      { tpg: 1, state: this.other, ports: [1], supported: { activeOptimized: true, activeNonOptimized: true, unavailable: true, transitioning: true } },
      { tpg: 2, state: this.current, ports: [2], supported: { activeOptimized: true, activeNonOptimized: true, unavailable: true, transitioning: true } },
    ];
  }
}

class ExplicitAccess extends FixedAccess {
  override tpgs = 2;
  async setTargetPortGroups(requests: readonly TargetPortGroupRequest[]): Promise<void> {
    if (this.busy) throw new ScsiError({ status: STATUS.BUSY, statusName: 'BUSY' }, 'moving');
    this.requests.push(...requests);
    for (const r of requests) if (r.tpg === this.group) this.current = r.state;
  }
}

function lu(access: AsymmetricAccess = new FixedAccess()) {
  return makeLu({ alua: access });
}

describe('ALUA: what the device server reports', () => {
  test('INQUIRY reports TPGS 01b for implicit access and 10b for explicit', async () => {
    const implicit = parseInquiry((await lu().run(cdbInquiry())).data as Buffer);
    expect(implicit.tpgs).toBe(1);
    const explicit = parseInquiry((await lu(new ExplicitAccess()).run(cdbInquiry())).data as Buffer);
    expect(explicit.tpgs).toBe(2);
  });

  test('an LU without asymmetric access reports TPGS 0 and no REPORT TARGET PORT GROUPS', async () => {
    const f = makeLu();
    expect(parseInquiry((await f.run(cdbInquiry())).data as Buffer).tpgs).toBe(0);
    expectSense(await f.run(cdbReportTargetPortGroups()), SENSE_KEY.ILLEGAL_REQUEST, 0x2400, { cd: true, field: 1, bit: 4 });
  });

  test('VPD 83h carries the target port group of the port asked on', async () => {
    const ids = pathIdentity(parseVpd83((await lu().run(cdbInquiry({ evpd: true, page: 0x83 }))).data as Buffer));
    expect(ids.targetPortGroup).toBe(2);
    expect(ids.relativeTargetPort).toBe(1);
    expect(ids.lu).toMatch(/^3:6/);
  });

  test('REPORT TARGET PORT GROUPS lists every group with its state and ports, in both header formats', async () => {
    const f = lu();
    const short = parseReportTargetPortGroups((await f.run(cdbReportTargetPortGroups())).data as Buffer);
    expect(short.extended).toBe(false);
    expect(short.groups.map((g) => [g.tpg, g.state, g.ports])).toEqual([
      [1, ALUA_STATE.ACTIVE_NON_OPTIMIZED, [1]],
      [2, ALUA_STATE.ACTIVE_OPTIMIZED, [2]],
    ]);
    const ext = parseReportTargetPortGroups((await f.run(cdbReportTargetPortGroups({ extended: true }))).data as Buffer);
    expect(ext.extended).toBe(true);
    expect(ext.implicitTransitionTime).toBe(5);
    expect(ext.groups[1]!.supported.unavailable).toBe(true);
  });
});

describe('ALUA: commands allowed in each state (SPC-4 §5.15.2.4)', () => {
  test('Active/Non-Optimized serves reads and writes', async () => {
    const a = new FixedAccess();
    a.current = ALUA_STATE.ACTIVE_NON_OPTIMIZED;
    const f = lu(a);
    expect((await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 7) })).status).toBe(STATUS.GOOD);
    expect((await f.run(cdbRead10(0, 1))).status).toBe(STATUS.GOOD);
  });

  test('Standby refuses media access with 04/0B and answers INQUIRY, REPORT LUNS, PERSISTENT RESERVE IN', async () => {
    const a = new FixedAccess();
    a.current = ALUA_STATE.STANDBY;
    const f = lu(a);
    expectSense(await f.run(cdbRead10(0, 1)), SENSE_KEY.NOT_READY, ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_STANDBY_STATE);
    expectSense(await f.run(cdbTestUnitReady()), SENSE_KEY.NOT_READY, ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_STANDBY_STATE);
    expect((await f.run(cdbInquiry())).status).toBe(STATUS.GOOD);
    expect((await f.run(cdbReportLuns())).status).toBe(STATUS.GOOD);
    expect((await f.run(cdbPersistentReserveIn(PRIN.READ_KEYS))).status).toBe(STATUS.GOOD);
    expect((await f.run(cdbReportTargetPortGroups())).status).toBe(STATUS.GOOD);
  });

  test('Unavailable refuses media access and PERSISTENT RESERVE IN with 04/0C', async () => {
    const a = new FixedAccess();
    a.current = ALUA_STATE.UNAVAILABLE;
    const f = lu(a);
    expectSense(await f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 7) }), SENSE_KEY.NOT_READY, ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_UNAVAILABLE_STATE);
    expectSense(await f.run(cdbPersistentReserveIn(PRIN.READ_KEYS)), SENSE_KEY.NOT_READY, ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_UNAVAILABLE_STATE);
    expect((await f.run(cdbReportTargetPortGroups())).status).toBe(STATUS.GOOD);
  });

  test('Transitioning refuses media access with 04/0A', async () => {
    const a = new FixedAccess();
    a.current = ALUA_STATE.TRANSITIONING;
    expectSense(await lu(a).run(cdbRead10(0, 1)), SENSE_KEY.NOT_READY, ASC.LU_NOT_ACCESSIBLE_ASYMMETRIC_ACCESS_STATE_TRANSITION);
  });

  test('a write that ends after the port left the active states is not reported done', async () => {
    const a = new FixedAccess();
    const f = lu(a);
    // The state changes while the backend writes: the backend's write resolves after this.
    const write = f.run(cdbWrite10(0, 1), { dataOut: pattern(1, 9) });
    a.current = ALUA_STATE.UNAVAILABLE;
    expectSense(await write, SENSE_KEY.NOT_READY, ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_UNAVAILABLE_STATE);
  });
});

describe('ALUA: SET TARGET PORT GROUPS', () => {
  test('asks the access owner for the states of the parameter list', async () => {
    const a = new ExplicitAccess();
    a.current = ALUA_STATE.STANDBY;
    const f = lu(a);
    const data = encodeSetTargetPortGroups([{ tpg: 2, state: ALUA_STATE.ACTIVE_OPTIMIZED }]);
    expect((await f.run(cdbSetTargetPortGroups(data.length), { dataOut: data })).status).toBe(STATUS.GOOD);
    expect(a.requests).toEqual([{ tpg: 2, state: ALUA_STATE.ACTIVE_OPTIMIZED }]);
    expect((await f.run(cdbRead10(0, 1))).status).toBe(STATUS.GOOD);
  });

  test('answers BUSY while a move is under way', async () => {
    const a = new ExplicitAccess();
    a.busy = true;
    const data = encodeSetTargetPortGroups([{ tpg: 2, state: ALUA_STATE.ACTIVE_OPTIMIZED }]);
    expect((await lu(a).run(cdbSetTargetPortGroups(data.length), { dataOut: data })).status).toBe(STATUS.BUSY);
  });

  test('is refused by an LU with implicit access only', async () => {
    const data = encodeSetTargetPortGroups([{ tpg: 2, state: ALUA_STATE.ACTIVE_OPTIMIZED }]);
    expectSense(await lu().run(cdbSetTargetPortGroups(data.length), { dataOut: data }), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_COMMAND_OPERATION_CODE);
  });

  test('refuses a state that cannot be asked for (Transitioning)', async () => {
    const data = encodeSetTargetPortGroups([{ tpg: 2, state: ALUA_STATE.TRANSITIONING }]);
    expectSense(
      await lu(new ExplicitAccess()).run(cdbSetTargetPortGroups(data.length), { dataOut: data }),
      SENSE_KEY.ILLEGAL_REQUEST,
      ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    );
  });
});
