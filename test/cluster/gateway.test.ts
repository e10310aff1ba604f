// Gateways of a cluster against a real etcd (TLS with client certificates, user and password): LUN
// ownership and the ALUA states it gives, failover when the owner leaves, shared reservations enforced
// on every gateway, the mode parameters and the removable medium shared too, the unit attentions and
// resets that reach other gateways' nexuses, nexus loss, and values that cannot be verified.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ClusterGateway } from '../../src/cluster/gateway.js';
import type { ClusterConfig } from '../../src/cluster/config.js';
import {
  ALUA_STATE,
  cdbModeSelect6,
  cdbModeSense6,
  cdbPersistentReserveOut,
  cdbPreventAllow,
  cdbRead10,
  cdbRelease6,
  cdbReportTargetPortGroups,
  cdbReserve6,
  cdbStartStopUnit,
  cdbSetTargetPortGroups,
  cdbTestUnitReady,
  encodeSetTargetPortGroups,
  cdbWrite10,
  parseModeSense,
  parseReportTargetPortGroups,
} from '../../src/scsi/cdb/index.js';
import { ASC, PR_TYPE, PROUT, SENSE_KEY, STATUS } from '../../src/scsi/constants.js';
import { LogicalUnit, type LogicalUnitOptions } from '../../src/scsi/logical-unit.js';
import { parseSense } from '../../src/scsi/sense.js';
import type { ItNexus, ScsiResponse } from '../../src/scsi/types.js';
import { cmd, pattern } from '../scsi/helpers.js';
import { haveEtcd, startEtcd, type PrivateEtcd } from './etcd.js';

const IQN = 'iqn.2026-11.io.tsiscsi.test:cluster';
const run = haveEtcd();

/** An I_T nexus on the gateway with target port group `tpg`. */
function nexusAt(tpg: number, n: number): ItNexus {
  const initiatorName = `iqn.2026-11.io.tsiscsi.test:host${n}`;
  const isid = `40000000000${n}`;
  const initiatorPortName = `${initiatorName},i,0x${isid}`;
  const targetPortName = `${IQN},t,0x${tpg.toString(16).padStart(4, '0')}`;
  return { id: `${initiatorPortName}|${targetPortName}`, initiatorName, isid, initiatorPortName, targetName: IQN, tpgt: tpg, targetPortName, relativeTargetPortId: tpg };
}

/** Log lines, kept to look for one. */
function logSink(): { log: pino.Logger; lines: () => string[] } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, out), lines: () => lines };
}

interface Gw {
  gw: ClusterGateway;
  lu: LogicalUnit;
  lines: () => string[];
  exec(n: number, cdb: Buffer, dataOut?: Buffer): Promise<ScsiResponse>;
}

async function gateway(etcd: PrivateEtcd, name: string, lunId: string, extra: Partial<ClusterConfig> = {}, luOpts: Partial<LogicalUnitOptions> = {}): Promise<Gw> {
  const { log, lines } = logSink();
  const gw = await ClusterGateway.start({ config: etcd.config(name, extra), log, portals: ['127.0.0.1:3260'] });
  const shared = await gw.lun(lunId);
  const lu = new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 256 }), targetName: IQN, alua: shared, shared, ...luOpts });
  await shared.attach({
    establishUnitAttention: (c, except) => lu.establishUnitAttention(c, except),
    applySharedState: (state, fx) => lu.applySharedState(state, fx),
  });
  return {
    gw,
    lu,
    lines,
    exec: (n, cdb, dataOut) => lu.execute(cmd(cdb, { nexus: nexusAt(gw.tpgId, n), ...(dataOut !== undefined && { dataOut }) })),
  };
}

/** Polls `cond` (events come through etcd's watch) for up to `ms`. */
async function eventually(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Consumes pending unit attentions of nexus `n` with TEST UNIT READY; returns their codes. */
async function drainUa(g: Gw, n: number): Promise<number[]> {
  const codes: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await g.exec(n, cdbTestUnitReady());
    if (r.status !== STATUS.CHECK_CONDITION) break;
    const s = parseSense(r.sense!);
    if (s.senseKey !== SENSE_KEY.UNIT_ATTENTION) break;
    codes.push((s.asc << 8) | s.ascq);
  }
  return codes;
}

describe.skipIf(!run)('cluster gateways over etcd with TLS and a password', () => {
  let etcd: PrivateEtcd;
  beforeAll(async () => {
    etcd = await startEtcd();
  }, 60_000);
  afterAll(async () => {
    await etcd?.stop();
  });

  test('exactly one gateway owns a LUN (Active/Optimized); the other is Active/Non-Optimized; both report both groups', async () => {
    const a = await gateway(etcd, 'gw-a', 'lun-owner');
    const b = await gateway(etcd, 'gw-b', 'lun-owner');
    try {
      await eventually(() => a.lu.alua!.state() === ALUA_STATE.ACTIVE_OPTIMIZED || b.lu.alua!.state() === ALUA_STATE.ACTIVE_OPTIMIZED);
      await eventually(() => b.gw.members().size === 2 && a.gw.members().size === 2);
      const states = [a.lu.alua!.state(), b.lu.alua!.state()].sort();
      expect(states).toEqual([ALUA_STATE.ACTIVE_OPTIMIZED, ALUA_STATE.ACTIVE_NON_OPTIMIZED]);
      expect(a.gw.tpgId).not.toBe(b.gw.tpgId);
      for (const g of [a, b]) {
        const rep = parseReportTargetPortGroups((await g.exec(1, cdbReportTargetPortGroups())).data!);
        expect(rep.groups.map((x) => x.tpg).sort()).toEqual([a.gw.tpgId, b.gw.tpgId].sort());
        expect(rep.groups.filter((x) => x.state === ALUA_STATE.ACTIVE_OPTIMIZED)).toHaveLength(1);
        expect(rep.groups.every((x) => x.ports.length === 1 && x.ports[0] === x.tpg)).toBe(true);
      }
      // Both gateways serve I/O (implicit ALUA: Active/Non-Optimized processes every command).
      expect((await a.exec(1, cdbWrite10(0, 1), pattern(1, 1))).status).toBe(STATUS.GOOD);
      expect((await b.exec(1, cdbWrite10(0, 1), pattern(1, 1))).status).toBe(STATUS.GOOD);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('when the owner leaves, the other gateway takes the LUN and its nexuses see ASYMMETRIC ACCESS STATE CHANGED', async () => {
    const a = await gateway(etcd, 'gw-c', 'lun-failover');
    await eventually(() => a.lu.alua!.state() === ALUA_STATE.ACTIVE_OPTIMIZED);
    const b = await gateway(etcd, 'gw-d', 'lun-failover');
    try {
      await eventually(() => b.gw.members().size >= 2);
      expect(b.lu.alua!.state()).toBe(ALUA_STATE.ACTIVE_NON_OPTIMIZED);
      await b.exec(1, cdbTestUnitReady());
      await drainUa(b, 1);
      await a.gw.close();
      await eventually(() => b.lu.alua!.state() === ALUA_STATE.ACTIVE_OPTIMIZED);
      expect(await drainUa(b, 1)).toContain(ASC.ASYMMETRIC_ACCESS_STATE_CHANGED);
      const rep = parseReportTargetPortGroups((await b.exec(1, cdbReportTargetPortGroups())).data!);
      expect(rep.groups.map((g) => [g.tpg, g.state])).toEqual([[b.gw.tpgId, ALUA_STATE.ACTIVE_OPTIMIZED]]);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('a reservation taken at gateway A is enforced at gateway B when A answers', async () => {
    const a = await gateway(etcd, 'gw-e', 'lun-pr');
    const b = await gateway(etcd, 'gw-f', 'lun-pr');
    try {
      await eventually(() => a.gw.members().size >= 2 && b.gw.members().size >= 2);
      const reg = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: 0xa1n });
      expect((await a.exec(1, reg.cdb, reg.data)).status).toBe(STATUS.GOOD);
      const res = cdbPersistentReserveOut(PROUT.RESERVE, { key: 0xa1n }, { type: PR_TYPE.WRITE_EXCLUSIVE });
      expect((await a.exec(1, res.cdb, res.data)).status).toBe(STATUS.GOOD);
      // No waiting: the answer came after B acknowledged the change.
      expect((await b.exec(2, cdbWrite10(0, 1), pattern(1, 2))).status).toBe(STATUS.RESERVATION_CONFLICT);
      expect(b.lu.pr.reservation?.holder).toBe(nexusAt(a.gw.tpgId, 1).id);
      expect((await a.exec(1, cdbWrite10(0, 1), pattern(1, 3))).status).toBe(STATUS.GOOD);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('a PREEMPT at gateway B reaches the preempted nexus on gateway A as REGISTRATIONS PREEMPTED', async () => {
    const a = await gateway(etcd, 'gw-g', 'lun-preempt');
    const b = await gateway(etcd, 'gw-h', 'lun-preempt');
    try {
      await eventually(() => a.gw.members().size >= 2 && b.gw.members().size >= 2);
      await a.exec(1, cdbTestUnitReady());
      await drainUa(a, 1);
      const regA = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: 0xaan });
      expect((await a.exec(1, regA.cdb, regA.data)).status).toBe(STATUS.GOOD);
      const resA = cdbPersistentReserveOut(PROUT.RESERVE, { key: 0xaan }, { type: PR_TYPE.EXCLUSIVE_ACCESS });
      expect((await a.exec(1, resA.cdb, resA.data)).status).toBe(STATUS.GOOD);
      const regB = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: 0xbbn });
      expect((await b.exec(2, regB.cdb, regB.data)).status).toBe(STATUS.GOOD);
      const pre = cdbPersistentReserveOut(PROUT.PREEMPT, { key: 0xbbn, saKey: 0xaan }, { type: PR_TYPE.EXCLUSIVE_ACCESS });
      expect((await b.exec(2, pre.cdb, pre.data)).status).toBe(STATUS.GOOD);
      const r = await a.exec(1, cdbTestUnitReady());
      expect(r.status).toBe(STATUS.CHECK_CONDITION);
      const s = parseSense(r.sense!);
      expect([s.senseKey, (s.asc << 8) | s.ascq]).toEqual([SENSE_KEY.UNIT_ATTENTION, ASC.REGISTRATIONS_PREEMPTED]);
      expect((await a.exec(1, cdbWrite10(0, 1), pattern(1, 4))).status).toBe(STATUS.RESERVATION_CONFLICT);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('a malformed or foreign value under the prefix is refused with one log line and the gateway keeps serving', async () => {
    const a = await gateway(etcd, 'gw-i', 'lun-bad');
    try {
      await eventually(() => a.lu.alua!.state() === ALUA_STATE.ACTIVE_OPTIMIZED);
      etcd.ctl(['put', '/tsiscsi/luns/lun-bad/state', '{"v":1,"pr":"nonsense"}']);
      etcd.ctl(['put', '/tsiscsi/gateways/intruder', 'not json']);
      etcd.ctl(['put', '/tsiscsi/whatever/else', '{"v":1}']);
      await eventually(() => a.lines().filter((l) => l.includes('refused a value in etcd')).length >= 3);
      const refused = a.lines().filter((l) => l.includes('refused a value in etcd'));
      expect(refused.some((l) => l.includes('/tsiscsi/luns/lun-bad/state') && l.includes('pr is not a version 1 snapshot'))).toBe(true);
      expect(refused.some((l) => l.includes('/tsiscsi/gateways/intruder') && l.includes('not JSON'))).toBe(true);
      expect(refused.some((l) => l.includes('/tsiscsi/whatever/else'))).toBe(true);
      expect(a.gw.members().has('intruder')).toBe(false);
      expect((await a.exec(1, cdbWrite10(0, 1), pattern(1, 5))).status).toBe(STATUS.GOOD);
      const reg = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: 5n });
      // The state it could not verify is not the state it changes: the compare-and-swap goes on from its
      // own verified copy and replaces the refused value.
      expect((await a.exec(1, reg.cdb, reg.data)).status).toBe(STATUS.GOOD);
      expect(etcd.ctl(['get', '--print-value-only', '/tsiscsi/luns/lun-bad/state'])).toContain('"registrations":[{');
    } finally {
      await a.gw.close();
    }
  }, 60_000);

  test('explicit ALUA: the non-owner is Standby, and SET TARGET PORT GROUPS sent to it moves the LUN to it', async () => {
    const a = await gateway(etcd, 'gw-k', 'lun-explicit', { alua: 'explicit' });
    await eventually(() => a.lu.alua!.state() === ALUA_STATE.ACTIVE_OPTIMIZED);
    const b = await gateway(etcd, 'gw-l', 'lun-explicit', { alua: 'explicit' });
    try {
      await eventually(() => b.gw.members().size >= 2 && a.gw.members().size >= 2);
      expect(b.lu.alua!.state()).toBe(ALUA_STATE.STANDBY);
      await b.exec(1, cdbTestUnitReady());
      await drainUa(b, 1);
      const r = await b.exec(1, cdbWrite10(0, 1), pattern(1, 6));
      expect(parseSense(r.sense!).asc << 8 | parseSense(r.sense!).ascq).toBe(ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_STANDBY_STATE);
      const data = encodeSetTargetPortGroups([{ tpg: b.gw.tpgId, state: ALUA_STATE.ACTIVE_OPTIMIZED }]);
      expect((await b.exec(1, cdbSetTargetPortGroups(data.length), data)).status).toBe(STATUS.GOOD);
      // Answered once this gateway's own watch saw the new owner.
      expect(b.lu.alua!.state()).toBe(ALUA_STATE.ACTIVE_OPTIMIZED);
      await eventually(() => a.lu.alua!.state() === ALUA_STATE.STANDBY);
      expect((await b.exec(1, cdbWrite10(0, 1), pattern(1, 6))).status).toBe(STATUS.GOOD);
      const rep = parseReportTargetPortGroups((await a.exec(1, cdbReportTargetPortGroups())).data!);
      expect(rep.groups.find((g) => g.tpg === b.gw.tpgId)).toMatchObject({ state: ALUA_STATE.ACTIVE_OPTIMIZED });
      expect(rep.groups.find((g) => g.tpg === a.gw.tpgId)).toMatchObject({ state: ALUA_STATE.STANDBY });
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  /** Starts two gateways of one LUN and waits until each sees the other; every nexus in `nexuses` has met the LU. */
  async function pair(names: [string, string], lunId: string, luOpts: Partial<LogicalUnitOptions> = {}, nexuses: [number, number][] = []): Promise<[Gw, Gw]> {
    const a = await gateway(etcd, names[0], lunId, {}, luOpts);
    const b = await gateway(etcd, names[1], lunId, {}, luOpts);
    await eventually(() => a.gw.members().size >= 2 && b.gw.members().size >= 2);
    const gws = [a, b];
    for (const [g, n] of nexuses) {
      await gws[g]!.exec(n, cdbTestUnitReady());
      await drainUa(gws[g]!, n);
    }
    return [a, b];
  }

  /** A MODE SELECT(6) parameter list: WCE off in the caching page, D_SENSE on in the control page. */
  const wceOffDSenseOn = Buffer.concat([Buffer.alloc(4), Buffer.from([0x08, 0x12, ...Buffer.alloc(18)]), Buffer.from([0x0a, 0x0a, 0x06, 0x10, ...Buffer.alloc(8)])]);

  test('MODE SELECT at gateway A changes the mode parameters at B before it is answered, with MODE PARAMETERS CHANGED on every other nexus of both', async () => {
    const [a, b] = await pair(['gw-m1', 'gw-m2'], 'lun-mode', {}, [[0, 1], [0, 2], [1, 1]]);
    try {
      expect((await a.exec(1, cdbModeSelect6(wceOffDSenseOn.length), wceOffDSenseOn)).status).toBe(STATUS.GOOD);
      expect(b.lu.mode).toEqual({ wce: false, dSense: true, swp: false });
      expect(await drainUa(b, 1)).toEqual([ASC.MODE_PARAMETERS_CHANGED]);
      expect(await drainUa(a, 2)).toEqual([ASC.MODE_PARAMETERS_CHANGED]);
      // SPC-4 §6.9: not the nexus whose MODE SELECT changed them.
      expect(await drainUa(a, 1)).toEqual([]);
      const page = parseModeSense((await b.exec(1, cdbModeSense6({ page: 0x08, dbd: true }))).data!, false).pages[0]!;
      expect(page.data[2]! & 0x04).toBe(0);
      // D_SENSE is in force at B: descriptor-format sense data.
      expect((await b.exec(1, cdbWrite10(1 << 20, 1), pattern(1, 1))).sense![0]).toBe(0x72);
      // The same parameters again change nothing: no unit attention.
      expect((await b.exec(1, cdbModeSelect6(wceOffDSenseOn.length), wceOffDSenseOn)).status).toBe(STATUS.GOOD);
      expect(await drainUa(a, 2)).toEqual([]);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('the removable medium is one device: a PREVENT through A blocks an eject through B, and an eject through B is seen at A', async () => {
    const [a, b] = await pair(['gw-r1', 'gw-r2'], 'lun-medium', { removable: true }, [[0, 1], [0, 2], [1, 1]]);
    try {
      expect((await a.exec(1, cdbPreventAllow(1))).status).toBe(STATUS.GOOD);
      expect(b.lu.removalPrevented).toBe(true);
      const refused = parseSense((await b.exec(1, cdbStartStopUnit({ loej: true }))).sense!);
      expect([refused.senseKey, (refused.asc << 8) | refused.ascq]).toEqual([SENSE_KEY.ILLEGAL_REQUEST, ASC.MEDIUM_REMOVAL_PREVENTED]);
      expect(b.lu.mediumPresent).toBe(true);
      expect((await a.exec(1, cdbPreventAllow(0))).status).toBe(STATUS.GOOD);
      expect((await b.exec(1, cdbStartStopUnit({ loej: true }))).status).toBe(STATUS.GOOD);
      expect(a.lu.mediumPresent).toBe(false);
      const gone = parseSense((await a.exec(2, cdbRead10(0, 1))).sense!);
      expect([gone.senseKey, (gone.asc << 8) | gone.ascq]).toEqual([SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT]);
      expect((await a.exec(2, cdbStartStopUnit({ loej: true, start: true }))).status).toBe(STATUS.GOOD);
      expect(b.lu.mediumPresent).toBe(true);
      // The PREVENT of a nexus ends with it (SBC-3): released everywhere before releaseNexus resolves.
      expect((await a.exec(1, cdbPreventAllow(1))).status).toBe(STATUS.GOOD);
      await a.lu.releaseNexus(nexusAt(a.gw.tpgId, 1));
      a.lu.nexusLost(nexusAt(a.gw.tpgId, 1));
      expect(b.lu.removalPrevented).toBe(false);
      expect((await b.exec(1, cdbStartStopUnit({ loej: true }))).status).toBe(STATUS.GOOD);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('the SPC-2 reservation of a lost nexus at A is released at B before releaseNexus resolves, and before an I_T NEXUS RESET is answered', async () => {
    const [a, b] = await pair(['gw-n1', 'gw-n2'], 'lun-nexus-loss', {}, [[0, 1], [1, 1]]);
    try {
      expect((await a.exec(1, cdbReserve6())).status).toBe(STATUS.GOOD);
      expect((await b.exec(1, cdbReserve6())).status).toBe(STATUS.RESERVATION_CONFLICT);
      await a.lu.releaseNexus(nexusAt(a.gw.tpgId, 1));
      expect((await b.exec(1, cdbReserve6())).status).toBe(STATUS.GOOD);
      // I_T NEXUS RESET (SAM-5 §7.9) is answered after settled(): the nexus's RESERVE is gone at A then.
      expect((await b.exec(1, cdbRelease6())).status).toBe(STATUS.GOOD);
      expect((await a.exec(1, cdbReserve6())).status).toBe(STATUS.GOOD);
      a.lu.taskManagement({ type: 'i-t-nexus-reset', nexus: nexusAt(a.gw.tpgId, 1), aborted: [] });
      await a.lu.settled();
      expect((await b.exec(1, cdbReserve6())).status).toBe(STATUS.GOOD);
      // A logical unit that is not shared has nothing to wait for.
      expect(new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 8 }), targetName: IQN }).releaseNexus('x')).toBeUndefined();
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('a LOGICAL UNIT RESET at A reaches B as BUS DEVICE RESET FUNCTION OCCURRED and ends the RESERVE, every PREVENT and the mode parameters there', async () => {
    // Resets made on another device server, as the LUs of both gateways tell their transport of them.
    const heard: number[] = [];
    const [a, b] = await pair(['gw-t1', 'gw-t2'], 'lun-reset', { removable: true, onSharedReset: (code) => heard.push(code) }, [[0, 1], [1, 1], [1, 2]]);
    try {
      expect((await b.exec(2, cdbPreventAllow(1))).status).toBe(STATUS.GOOD);
      expect((await b.exec(1, cdbReserve6())).status).toBe(STATUS.GOOD);
      expect((await b.exec(1, cdbModeSelect6(wceOffDSenseOn.length), wceOffDSenseOn)).status).toBe(STATUS.GOOD);
      expect(b.lu.removalPrevented).toBe(true);
      await drainUa(a, 1);
      await drainUa(b, 2);
      a.lu.taskManagement({ type: 'logical-unit-reset', nexus: nexusAt(a.gw.tpgId, 1), aborted: [] });
      await a.lu.settled();
      // B heard it once; A, which made it, did not.
      expect(heard).toEqual([ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED]);
      expect(b.lu.reservationHolder).toBeNull();
      expect(b.lu.removalPrevented).toBe(false);
      expect(b.lu.mode).toEqual({ wce: true, dSense: false, swp: false });
      expect(await drainUa(b, 1)).toEqual([ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED]);
      expect(await drainUa(b, 2)).toEqual([ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED]);
      expect(await drainUa(a, 1)).toEqual([ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED]);
      expect((await a.exec(1, cdbReserve6())).status).toBe(STATUS.GOOD);
      expect((await a.exec(1, cdbRelease6())).status).toBe(STATUS.GOOD);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('RELEASE and CLEAR at one gateway reach the registrants on the other as RESERVATIONS RELEASED and RESERVATIONS PREEMPTED', async () => {
    const [a, b] = await pair(['gw-p1', 'gw-p2'], 'lun-pr-uas', {}, [[0, 1], [1, 1]]);
    try {
      const regA = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: 0xa1n });
      const regB = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: 0xb1n });
      expect((await a.exec(1, regA.cdb, regA.data)).status).toBe(STATUS.GOOD);
      expect((await b.exec(1, regB.cdb, regB.data)).status).toBe(STATUS.GOOD);
      const type = { type: PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY };
      const res = cdbPersistentReserveOut(PROUT.RESERVE, { key: 0xa1n }, type);
      expect((await a.exec(1, res.cdb, res.data)).status).toBe(STATUS.GOOD);
      const rel = cdbPersistentReserveOut(PROUT.RELEASE, { key: 0xa1n }, type);
      expect((await a.exec(1, rel.cdb, rel.data)).status).toBe(STATUS.GOOD);
      expect(await drainUa(b, 1)).toEqual([ASC.RESERVATIONS_RELEASED]);
      const clear = cdbPersistentReserveOut(PROUT.CLEAR, { key: 0xb1n });
      expect((await b.exec(1, clear.cdb, clear.data)).status).toBe(STATUS.GOOD);
      expect(await drainUa(a, 1)).toEqual([ASC.RESERVATIONS_PREEMPTED]);
      expect(await drainUa(b, 1)).toEqual([]);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('a gateway that leaves the cluster takes the SPC-2 reservation and the PREVENT of its nexuses with it', async () => {
    const [a, b] = await pair(['gw-q1', 'gw-q2'], 'lun-leave', { removable: true }, [[0, 1], [0, 2], [1, 1]]);
    try {
      expect((await a.exec(1, cdbReserve6())).status).toBe(STATUS.GOOD);
      expect((await a.exec(1, cdbPreventAllow(1))).status).toBe(STATUS.GOOD);
      expect(b.lu.removalPrevented).toBe(true);
      // Its nexuses are not lost one by one: the gateway goes (here cleanly; a dead one's lease expires).
      await a.gw.close();
      await eventually(() => b.lu.reservationHolder === null && !b.lu.removalPrevented);
      // B owns the LUN now: ASYMMETRIC ACCESS STATE CHANGED first.
      await drainUa(b, 1);
      expect((await b.exec(1, cdbReserve6())).status).toBe(STATUS.GOOD);
      expect((await b.exec(1, cdbStartStopUnit({ loej: true }))).status).toBe(STATUS.GOOD);
      expect(b.lines().some((l) => l.includes('ports that are gone'))).toBe(true);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  }, 60_000);

  test('no value in etcd carries a secret', async () => {
    const a = await gateway(etcd, 'gw-j', 'lun-secret');
    try {
      const dump = etcd.ctl(['get', '--prefix', '/tsiscsi/']);
      expect(dump).toContain('/tsiscsi/gateways/gw-j');
      expect(dump).not.toContain('gateway-password-for-tests');
      expect(dump.toLowerCase()).not.toContain('secret');
      expect(dump.toLowerCase()).not.toContain('chap');
    } finally {
      await a.gw.close();
    }
  }, 60_000);
});
