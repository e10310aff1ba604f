// MultipathSession over scripted ports (fake-path.ts) and a manual clock: which path a command takes by
// ALUA state, failover of commands in flight when a path drops or refuses media access, failback, the
// re-read of states on the ALUA unit attention, waiting for a path, and identity checks.
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, ConnectionError, ScsiError, TimeoutError } from '../../../src/errors.js';
import { NoPathError, PathIdentityError } from '../../../src/initiator/errors.js';
import { MultipathSession } from '../../../src/initiator/multipath/multipath-session.js';
import type { MultipathEvent, MultipathOptions } from '../../../src/initiator/multipath/options.js';
import { parseIscsiUrl } from '../../../src/initiator/url.js';
import { ALUA_STATE, TPGS } from '../../../src/scsi/cdb/alua.js';
import { SENSE_KEY, STATUS } from '../../../src/scsi/constants.js';
import { ManualClock } from '../../../src/util/clock.js';
import { BS, FakeLu, FakePath, scsiError } from './fake-path.js';

const IQN = 'iqn.2026-12.test:lu';
const url = (host: string): string => `iscsi://${host}/${IQN}/0`;
/** Lets queued microtasks and promise chains run. */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

const open: MultipathSession[] = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});

interface Rig {
  m: MultipathSession;
  ports: Map<string, FakePath>;
  clock: ManualClock;
  events: MultipathEvent[];
  /** Moves time by `ms` in steps, letting the session react at each. */
  advance(ms: number): Promise<void>;
}

/** A session over fake ports, keyed by host name; `unreachable` hosts refuse to open. */
async function rig(ports: Record<string, FakePath>, o: MultipathOptions & { unreachable?: Set<string> } = {}): Promise<Rig> {
  const clock = new ManualClock();
  const map = new Map(Object.entries(ports));
  const { unreachable, ...mo } = o;
  const m = await MultipathSession.connect(
    [...map.keys()].map(url),
    {
      clock,
      openPath: async (u) => {
        if (unreachable?.has(u.host)) throw new ConnectionError('ERR_CONNECT', `cannot connect to ${u.host}`);
        const p = map.get(u.host)!;
        // A path opened again gets a fresh session to the same port.
        if (p.closed) {
          const again = new FakePath(p.lu, p.tpg, p.rtpi);
          again.naa = p.naa;
          map.set(u.host, again);
          return again;
        }
        return p;
      },
      ...mo,
    },
  );
  open.push(m);
  const events: MultipathEvent[] = [];
  m.on('event', (e) => events.push(e));
  return {
    m,
    ports: map,
    clock,
    events,
    async advance(ms: number) {
      for (let t = 0; t < ms; t += 10) {
        clock.advance(Math.min(10, ms - t));
        await flush();
      }
    },
  };
}

function aluaLu(states: Record<number, number>, tpgs: number = TPGS.IMPLICIT): FakeLu {
  const lu = new FakeLu({ tpgs });
  for (const [g, s] of Object.entries(states)) lu.groups.set(Number(g), s);
  return lu;
}

const block = (seed: number, n = 1): Buffer => Buffer.alloc(n * BS, seed);

describe('MultipathSession: paths and their states', () => {
  it('opens every URL, checks they reach one device, and reads what it wrote', async () => {
    const lu = new FakeLu();
    const { m } = await rig({ a: new FakePath(lu, 1, 1), b: new FakePath(lu, 2, 2) });
    expect(m.paths().map((p) => [p.status, p.aluaStateName, p.relativeTargetPort])).toEqual([
      ['up', 'active/optimized', 1],
      ['up', 'active/optimized', 2],
    ]);
    expect(m.blockSize).toBe(BS);
    await m.write(10, block(7, 2));
    expect((await m.read(10, 2)).equals(block(7, 2))).toBe(true);
  });

  it('refuses URLs that reach different devices', async () => {
    const lu = new FakeLu();
    const other = new FakePath(lu, 2, 2);
    other.naa = Buffer.from('6001405bbbbbbbbbbbbbbbbbbbbbbbbb', 'hex');
    await expect(rig({ a: new FakePath(lu, 1, 1), b: other })).rejects.toBeInstanceOf(PathIdentityError);
  });

  it('without ALUA (TPGS 0) spreads commands round-robin over every path', async () => {
    const lu = new FakeLu();
    const { m } = await rig({ a: new FakePath(lu, 1, 1), b: new FakePath(lu, 2, 2), c: new FakePath(lu, 3, 3) });
    for (let i = 0; i < 30; i++) await m.read(i, 1);
    expect(m.paths().map((p) => p.commands)).toEqual([10, 10, 10]);
  });

  it('sends commands to the Active/Optimized path only, and to every Active path with the multibus policy', async () => {
    const lu = aluaLu({ 1: ALUA_STATE.ACTIVE_NON_OPTIMIZED, 2: ALUA_STATE.ACTIVE_OPTIMIZED });
    const r = await rig({ a: new FakePath(lu, 1, 1), b: new FakePath(lu, 2, 2) });
    expect(r.m.paths().map((p) => p.aluaStateName)).toEqual(['active/non-optimized', 'active/optimized']);
    for (let i = 0; i < 8; i++) await r.m.read(i, 1);
    expect(r.m.paths().map((p) => p.commands)).toEqual([0, 8]);
    const mb = await rig({ a: new FakePath(lu, 1, 1), b: new FakePath(lu, 2, 2) }, { pathPolicy: 'multibus' });
    for (let i = 0; i < 8; i++) await mb.m.read(i, 1);
    expect(mb.m.paths().map((p) => p.commands)).toEqual([4, 4]);
  });

  it('never sends media access to a Standby or Unavailable port', async () => {
    const lu = aluaLu({ 1: ALUA_STATE.STANDBY, 2: ALUA_STATE.UNAVAILABLE, 3: ALUA_STATE.ACTIVE_NON_OPTIMIZED });
    const { m } = await rig({ a: new FakePath(lu, 1, 1), b: new FakePath(lu, 2, 2), c: new FakePath(lu, 3, 3) }, { activateStandby: false });
    for (let i = 0; i < 5; i++) await m.write(i, block(i));
    expect(m.paths().map((p) => p.commands)).toEqual([0, 0, 5]);
  });
});

describe('MultipathSession: failover', () => {
  it('sends the commands in flight on a path whose connection drops on another path, and they run there only', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const { m } = await rig({ a, b });
    a.hold = true;
    const writes = [0, 1, 2, 3].map((i) => m.write(i, block(i + 1)));
    await flush();
    expect(a.held.length).toBe(2);
    a.drop();
    await Promise.all(writes);
    expect(b.executed).toBe(4);
    expect(m.paths()[0]).toMatchObject({ status: 'down', failovers: 2 });
    // When it comes back, the session has nothing of them left to send again.
    a.hold = false;
    a.reconnect();
    await flush();
    expect(a.executed).toBe(0);
    for (let i = 0; i < 4; i++) expect(lu.disk[i * BS]).toBe(i + 1);
  });

  it('fails back to the Active/Optimized path once it is logged in again and passed its checks', async () => {
    const lu = aluaLu({ 1: ALUA_STATE.ACTIVE_OPTIMIZED, 2: ALUA_STATE.ACTIVE_NON_OPTIMIZED });
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const r = await rig({ a, b });
    a.drop();
    await flush();
    await r.m.read(0, 1);
    expect(b.executed).toBe(1);
    a.reconnect();
    await flush();
    await flush();
    expect(r.m.paths()[0]!.status).toBe('up');
    await r.m.read(0, 1);
    expect(a.executed).toBe(1);
    expect(r.events.map((e) => e.type)).toEqual(expect.arrayContaining(['path-down', 'path-up']));
  });

  it('moves a command refused with NOT READY, TARGET PORT IN STANDBY STATE to another path and re-reads the states', async () => {
    const lu = aluaLu({ 1: ALUA_STATE.ACTIVE_OPTIMIZED, 2: ALUA_STATE.ACTIVE_NON_OPTIMIZED });
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const r = await rig({ a, b });
    // Ownership moved without a unit attention reaching us yet.
    lu.groups.set(1, ALUA_STATE.STANDBY);
    lu.groups.set(2, ALUA_STATE.ACTIVE_OPTIMIZED);
    await r.m.write(5, block(9));
    expect(b.executed).toBe(1);
    await flush();
    expect(r.m.paths().map((p) => p.aluaStateName)).toEqual(['standby', 'active/optimized']);
    expect(r.events.filter((e) => e.type === 'alua-state').length).toBeGreaterThanOrEqual(2);
  });

  it('re-reads the states on ASYMMETRIC ACCESS STATE CHANGED and follows the new owner', async () => {
    const lu = aluaLu({ 1: ALUA_STATE.ACTIVE_OPTIMIZED, 2: ALUA_STATE.ACTIVE_NON_OPTIMIZED });
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const r = await rig({ a, b });
    lu.groups.set(1, ALUA_STATE.ACTIVE_NON_OPTIMIZED);
    lu.groups.set(2, ALUA_STATE.ACTIVE_OPTIMIZED);
    a.unitAttention(0x2a, 0x06);
    await flush();
    await flush();
    expect(r.m.paths().map((p) => p.aluaStateName)).toEqual(['active/non-optimized', 'active/optimized']);
    await r.m.read(0, 1);
    expect(b.executed).toBe(1);
    expect(a.executed).toBe(0);
  });

  it('sends a command again after BUSY, after a pause', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const r = await rig({ a });
    a.failNext.push(scsiError(STATUS.BUSY));
    const w = r.m.write(0, block(3));
    await flush();
    expect(a.executed).toBe(0);
    await r.advance(100);
    await w;
    expect(a.executed).toBe(1);
    expect(r.m.stats().retries).toBe(1);
  });

  it('hands a device error to the caller without trying another path', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const { m } = await rig({ a, b });
    a.failNext.push(scsiError(STATUS.CHECK_CONDITION, SENSE_KEY.MEDIUM_ERROR, 0x11, 0));
    a.failNext.push(scsiError(STATUS.RESERVATION_CONFLICT));
    await expect(m.read(0, 1)).rejects.toMatchObject({ senseKey: SENSE_KEY.MEDIUM_ERROR });
    await m.read(0, 1); // b
    await expect(m.read(0, 1)).rejects.toMatchObject({ status: STATUS.RESERVATION_CONFLICT });
    expect(m.stats().retries).toBe(0);
  });

  it('sends a timed-out write to another path only once the failed path has no command left', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const r = await rig({ a, b });
    a.hold = true;
    // Two commands held on a; the first one times out while the other is still outstanding there.
    const first = r.m.write(0, block(1));
    await flush();
    const other = r.m.read(0, 1); // b
    await other;
    const second = r.m.write(2, block(2)); // a
    await flush();
    expect(a.held.length).toBe(2);
    const [held] = a.held.splice(0, 1);
    held!.reject(new TimeoutError('WRITE(10) timed out after 30000 ms and was aborted'));
    await r.advance(200);
    expect(r.m.paths()[0]!.status).toBe('failed');
    expect(b.executed).toBe(1); // only the read: the write waits for a to drain
    a.hold = false;
    a.release();
    await r.advance(100);
    await Promise.all([first, second]);
    expect(b.executed).toBe(2);
    // The failed path comes back at the next check once drained.
    await r.advance(5000);
    expect(r.m.paths()[0]!.status).toBe('up');
  });
});

describe('MultipathSession: no path', () => {
  it('holds commands while no path is usable and fails them with NoPathError after failoverTimeout', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const r = await rig({ a }, { failoverTimeout: 3000 });
    a.drop();
    await flush();
    let err: unknown;
    const w = r.m.write(0, block(1)).catch((e: unknown) => (err = e));
    await r.advance(2900);
    expect(err).toBeUndefined();
    await r.advance(200);
    await w;
    expect(err).toBeInstanceOf(NoPathError);
    expect((err as NoPathError).message).toMatch(/no usable path to the LU within 3000 ms/);
    expect(r.m.stats().noPath).toBe(1);
  });

  it('lets a waiting command through as soon as a path comes back', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const r = await rig({ a });
    a.drop();
    await flush();
    const w = r.m.write(3, block(4));
    await r.advance(500);
    a.reconnect();
    await flush();
    await flush();
    await w;
    expect(lu.disk[3 * BS]).toBe(4);
  });

  it("ends a command waiting for a path when the caller's signal aborts", async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const r = await rig({ a });
    a.drop();
    await flush();
    const ac = new AbortController();
    const w = r.m.read(0, 1, { signal: ac.signal });
    await flush();
    ac.abort();
    await expect(w).rejects.toBeInstanceOf(AbortError);
  });

  it('fails commands still waiting with ERR_SESSION_CLOSED when it closes', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const r = await rig({ a });
    a.drop();
    await flush();
    const w = r.m.read(0, 1);
    await flush();
    await r.m.close();
    await expect(w).rejects.toMatchObject({ code: 'ERR_SESSION_CLOSED' });
    expect(r.m.close()).toBe(r.m.close());
    expect(r.events.at(-1)?.type).toBe('closed');
  });

  it('connects with NoPathError naming each path when none opens', async () => {
    const lu = new FakeLu();
    const err = await rig({ a: new FakePath(lu, 1, 1), b: new FakePath(lu, 2, 2) }, { unreachable: new Set(['a', 'b']) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoPathError);
    expect((err as NoPathError).message).toMatch(/cannot connect to a.*cannot connect to b/);
    expect((err as NoPathError).errors).toHaveLength(2);
  });
});

describe('MultipathSession: paths that join later', () => {
  it('opens a path that could not be opened at connect in the background', async () => {
    const lu = new FakeLu();
    const unreachable = new Set(['b']);
    const r = await rig({ a: new FakePath(lu, 1, 1), b: new FakePath(lu, 2, 2) }, { unreachable });
    expect(r.m.paths().map((p) => p.status)).toEqual(['up', 'connecting']);
    unreachable.delete('b');
    await r.advance(1000);
    expect(r.m.paths().map((p) => p.status)).toEqual(['up', 'up']);
  });

  it('refuses a path that comes back as another device', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const r = await rig({ a, b });
    b.drop();
    await flush();
    b.naa = Buffer.from('6001405ccccccccccccccccccccccccc', 'hex');
    b.reconnect();
    await flush();
    await flush();
    expect(r.m.paths()[1]!.status).toBe('refused');
    const refused = r.events.find((e) => e.type === 'path-refused');
    expect(refused && 'error' in refused ? refused.error : undefined).toBeInstanceOf(PathIdentityError);
    for (let i = 0; i < 4; i++) await r.m.read(i, 1);
    expect(a.executed).toBe(4);
  });

  it('with explicit ALUA and only Standby ports, asks one to become Active/Optimized (SET TARGET PORT GROUPS)', async () => {
    const lu = aluaLu({ 1: ALUA_STATE.STANDBY, 2: ALUA_STATE.STANDBY }, TPGS.EXPLICIT);
    const r = await rig({ a: new FakePath(lu, 1, 1), b: new FakePath(lu, 2, 2) });
    const w = r.m.write(0, block(5));
    await r.advance(100);
    await w;
    expect(lu.stpg).toEqual([[1, ALUA_STATE.ACTIVE_OPTIMIZED]]);
    expect(r.m.paths().map((p) => p.aluaStateName)).toEqual(['active/optimized', 'standby']);
  });
});

describe('MultipathSession: ports on their way in', () => {
  it('takes in an Unavailable port (a gateway not yet joined) and uses it once its state turns active', async () => {
    const lu = aluaLu({ 1: ALUA_STATE.ACTIVE_OPTIMIZED, 2: ALUA_STATE.UNAVAILABLE });
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const r = await rig({ a, b }, { pathPolicy: 'multibus' });
    expect(r.m.paths().map((p) => [p.status, p.aluaStateName])).toEqual([
      ['up', 'active/optimized'],
      ['up', 'unavailable'],
    ]);
    // The regular check (every 5 s) finds it still Unavailable; while it is, the next comes a second later.
    await r.advance(5000);
    lu.groups.set(2, ALUA_STATE.ACTIVE_NON_OPTIMIZED);
    await r.advance(1000);
    expect(r.m.paths()[1]!.aluaStateName).toBe('active/non-optimized');
    for (let i = 0; i < 4; i++) await r.m.read(i, 1);
    expect(b.executed).toBe(2);
  });
});

describe('MultipathSession: arguments', () => {
  it('pins a command to one path with execute({ path })', async () => {
    const lu = new FakeLu();
    const a = new FakePath(lu, 1, 1);
    const b = new FakePath(lu, 2, 2);
    const { m } = await rig({ a, b });
    await m.execute(Buffer.from([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]), { path: 1 });
    expect(b.executed).toBe(1);
    await expect(m.execute(Buffer.alloc(6), { path: 5 })).rejects.toBeInstanceOf(RangeError);
  });

  it('refuses a URL without a target and LUN', async () => {
    await expect(MultipathSession.connect(['iscsi://host'])).rejects.toMatchObject({ code: 'ERR_URL' });
    await expect(MultipathSession.connect([])).rejects.toMatchObject({ code: 'ERR_URL' });
    expect(parseIscsiUrl(url('a')).target).toBe(IQN);
  });

  it('reports a device error as ScsiError, not as a path failure', () => {
    expect(scsiError(STATUS.CHECK_CONDITION, SENSE_KEY.ILLEGAL_REQUEST, 0x24, 0)).toBeInstanceOf(ScsiError);
  });
});
