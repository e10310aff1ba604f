// Session over TCP against an in-process fake target: the library API, digests, CHAP, recovery after a
// dropped connection (ERL 0: reinstatement and re-issue), logout requests, timeouts, misbehaviour.
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, ConnectionError, IscsiProtocolError, LoginError, ScsiError, TimeoutError } from '../../src/errors.js';
import type { SessionOptions } from '../../src/initiator/options.js';
import { Session } from '../../src/initiator/session.js';
import type { SessionEvent } from '../../src/initiator/events.js';
import { Opcode, TmfFunction } from '../../src/pdu/constants.js';
import { FakeTarget, type FakeTargetOptions } from './fake-target.js';

const SECRET = 'initiator-secret-123';
const open: (Session | FakeTarget)[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

async function setup(o: FakeTargetOptions = {}, so: SessionOptions = {}, userinfo = ''): Promise<{ t: FakeTarget; s: Session }> {
  const t = await FakeTarget.start(o);
  open.push(t);
  const s = await Session.connect(t.url(0, userinfo), { noopInterval: 0, ...so });
  open.unshift(s);
  return { t, s };
}

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Session', () => {
  it('connects, inquires, reads the capacity, writes and reads back', async () => {
    const { s, t } = await setup();
    expect(s.tsih).toBeGreaterThan(0);
    const inq = await s.inquiry();
    expect(inq).toMatchObject({ vendor: 'TSISCSI', product: 'FAKE DISK', deviceType: 0 });
    expect(await s.readCapacity()).toMatchObject({ blocks: 8192, blockSize: 512, bytes: 8192 * 512 });
    const data = pattern(300 * 512, 1);
    await s.write(100, data);
    expect(t.disk.subarray(100 * 512, 400 * 512).equals(data)).toBe(true);
    expect((await s.read(100, 300)).equals(data)).toBe(true);
  });

  it('writes with several R2Ts outstanding when the target allows it (MaxOutstandingR2T > 1)', async () => {
    const { s, t } = await setup({ policy: { maxOutstandingR2T: 4, maxBurstLength: 8192, immediateData: false } });
    expect(s.params!.session.maxOutstandingR2T).toBe(4);
    const data = pattern(256 * 512, 9);
    await s.write(1000, data);
    expect(t.disk.subarray(1000 * 512, 1256 * 512).equals(data)).toBe(true);
    expect(t.maxOutstandingSeen).toBe(4);
  });

  it('works with header and data digests', async () => {
    const { s } = await setup({}, { headerDigest: 'crc32c', dataDigest: 'crc32c' });
    expect(s.params!.connection).toMatchObject({ headerDigest: 'CRC32C', dataDigest: 'CRC32C' });
    const data = pattern(64 * 1024, 2);
    await s.write(0, data);
    expect((await s.read(0, 128)).equals(data)).toBe(true);
  });

  it('splits writes and reads to small segment limits, with unsolicited data', async () => {
    const { s } = await setup({ policy: { maxRecvDataSegmentLength: 512, maxBurstLength: 4096, firstBurstLength: 2048, initialR2T: false } }, { policy: { maxRecvDataSegmentLength: 1024 } });
    expect(s.params!.session).toMatchObject({ initialR2T: false, firstBurstLength: 2048, maxBurstLength: 4096 });
    const data = pattern(40 * 512, 3);
    await s.write(7, data);
    expect((await s.read(7, 40)).equals(data)).toBe(true);
  });

  it('logs in with CHAP from the URL, and reports a wrong secret as an authentication failure', async () => {
    const auth = { methods: ['CHAP' as const], chap: { lookup: (n: string) => (n === 'alice' ? SECRET : undefined) } };
    const { t } = await setup({ auth }, {}, `alice%${SECRET}@`);
    const e = await Session.connect(t.url(0, 'alice%wrong-secret-456@'), {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LoginError);
    expect((e as Error).message).toMatch(/Authentication failure/);
  });

  it('logs in again without SHA-256 when a target chose CHAP_A=7 and refused the answer (tgt numbers SHA-1 as 7)', async () => {
    let calls = 0;
    const auth = {
      methods: ['CHAP' as const],
      // Refuses the first answer, as tgt does when it computed SHA-1 for "7"; offers MD5 too.
      chap: { algorithms: [7, 5] as (7 | 5)[], lookup: () => (calls++ === 0 ? 'some-other-secret-0' : SECRET) },
    };
    const { s, t } = await setup({ auth }, {}, `alice%${SECRET}@`);
    expect(t.logins).toBe(1);
    expect(t.accepted).toBe(2);
    await s.testUnitReady();
  });

  it('runs any CDB with execute and turns CHECK CONDITION into ScsiError', async () => {
    const { s } = await setup();
    const e = await s.execute(Buffer.from([0xff, 0, 0, 0, 0, 0])).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ScsiError);
    expect(e).toMatchObject({ senseKey: 5, asc: 0x20 });
    await expect(s.execute(Buffer.alloc(6))).resolves.toMatchObject({ status: 0 });
  });

  it('re-issues outstanding writes after the connection drops: each completes once, the data is right', async () => {
    const { s, t } = await setup({}, { reconnect: { minDelay: 20, maxDelay: 200 } });
    await s.readCapacity();
    const events: SessionEvent[] = [];
    s.on('event', (e) => events.push(e));
    let done = 0;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      writes.push(s.write(i * 16, pattern(16 * 512, i)).then(() => void done++));
      if (i === 60) t.killAll();
      if (i % 20 === 0) await sleep(1);
    }
    await Promise.all(writes);
    expect(done).toBe(200);
    expect(s.stats().reconnects).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 200; i++) expect(t.disk.subarray(i * 16 * 512, (i + 1) * 16 * 512).equals(pattern(16 * 512, i))).toBe(true);
    expect(events.map((e) => e.type)).toContain('connection-lost');
    expect(events.map((e) => e.type)).toContain('reconnected');
  });

  it('failQueued hands back what a dropped connection held: rejected now, never re-issued on the reconnection', async () => {
    let writesSeen = 0;
    let swallow = true;
    const { s, t } = await setup(
      {
        onCommand: (cmd) => {
          if (cmd.cdb[0] !== 0x2a) return undefined;
          writesSeen++;
          return swallow ? 'ignore' : undefined;
        },
      },
      { reconnect: { minDelay: 20, maxDelay: 100 } },
    );
    await s.readCapacity();
    const lost = s.events();
    const writes = [0, 1, 2].map((i) => s.write(i, pattern(512, i)).catch((e: unknown) => e));
    while (writesSeen < 3) await sleep(5);
    // While connected it does nothing: the commands are on the wire.
    s.failQueued(new ConnectionError('ERR_PATH_DOWN', 'moved'));
    expect(s.busy).toBe(3);
    t.hangUp = true;
    t.killAll();
    for await (const e of lost) if (e.type === 'connection-lost') break;
    const err = new ConnectionError('ERR_PATH_DOWN', 'sent on another path');
    s.failQueued(err);
    expect(await Promise.all(writes)).toEqual([err, err, err]);
    await expect(s.read(0, 1)).rejects.toBe(err);
    swallow = false;
    writesSeen = 0;
    t.hangUp = false;
    for (let i = 0; i < 100 && !s.connected; i++) await sleep(20);
    expect(s.connected).toBe(true);
    await s.write(10, pattern(512, 9));
    // Only the new write reached the target: none of the three was sent again.
    expect(writesSeen).toBe(1);
  });

  it('keeps the same ISID across a reconnection (session reinstatement)', async () => {
    const { s, t } = await setup({}, { reconnect: { minDelay: 10 } });
    const isid = s.isid;
    const lost = s.events();
    t.killAll();
    for await (const e of lost) if (e.type === 'reconnected') break;
    expect(s.isid).toBe(isid);
    expect([...t.connections].map((c) => c.isid)).toEqual([isid]);
    await s.testUnitReady();
  });

  it('logs out when the target asks (Async Message), then logs in again and carries on', async () => {
    const { s, t } = await setup();
    const it = s.events();
    const [conn] = [...t.connections];
    conn!.requestLogout(2);
    const seen: string[] = [];
    for await (const e of it) {
      seen.push(e.type);
      if (e.type === 'reconnected') break;
    }
    expect(seen).toEqual(['logout-requested', 'connection-lost', 'reconnected']);
    expect(t.logouts).toBe(1);
    expect(t.logins).toBe(2);
    await s.testUnitReady();
  });

  it('fails pending commands with ERR_SESSION_LOST after the replacement timeout, without spinning', async () => {
    const { s, t } = await setup({}, { replacementTimeout: 600, reconnect: { minDelay: 50, maxDelay: 200 }, timeout: 0 });
    await s.readCapacity();
    // The target keeps accepting TCP connections and hangs up at once.
    t.hangUp = true;
    t.killAll();
    const started = Date.now();
    const e = await s.read(0, 1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e).toMatchObject({ code: 'ERR_SESSION_LOST' });
    expect(Date.now() - started).toBeLessThan(3000);
    // Backoff, not a spin: a handful of attempts in 600 ms.
    expect(t.accepted).toBeLessThan(15);
    // New commands fail at once while the target is away...
    await expect(s.read(0, 1)).rejects.toMatchObject({ code: 'ERR_SESSION_LOST' });
    // ...and work again once it is back.
    t.hangUp = false;
    for (let i = 0; i < 100 && !s.connected; i++) await sleep(20);
    expect(s.connected).toBe(true);
    await s.read(0, 1);
  });

  it('times out a command the target never answers, and sends ABORT TASK', async () => {
    const { s, t } = await setup({ onCommand: (c) => (c.cdb[0] === 0x28 ? 'ignore' : undefined) });
    await s.readCapacity();
    const started = Date.now();
    await expect(s.read(0, 8, { timeout: 300 })).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(1500);
    for (let i = 0; i < 50 && t.tmfs.length === 0; i++) await sleep(10);
    expect(t.tmfs).toEqual([TmfFunction.AbortTask]);
  });

  it('aborts a command through its AbortSignal', async () => {
    const { s, t } = await setup({ onCommand: (c) => (c.cdb[0] === 0x28 ? 'ignore' : undefined) });
    await s.readCapacity();
    const ac = new AbortController();
    const p = s.read(0, 8, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toBeInstanceOf(AbortError);
    for (let i = 0; i < 50 && t.tmfs.length === 0; i++) await sleep(10);
    expect(t.tmfs).toEqual([TmfFunction.AbortTask]);
  });

  it('fails a read whose Data-In offset is wrong with IscsiProtocolError', async () => {
    const { s } = await setup({
      onCommand: (c, conn) => {
        if (c.cdb[0] !== 0x28) return undefined;
        conn.send({ opcode: Opcode.DataIn, final: true, acknowledge: false, residualOverflow: false, residualUnderflow: false, statusPresent: true, status: 0, lun: c.lun, itt: c.itt, ttt: 0xffffffff, statSN: conn.statSN++, expCmdSN: 0, maxCmdSN: 0, dataSN: 0, bufferOffset: 512, residualCount: 0, data: Buffer.alloc(512) });
        return 'ignore';
      },
    });
    await s.readCapacity();
    const e = await s.read(0, 2).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IscsiProtocolError);
    expect(e).toMatchObject({ code: 'ERR_DATA_IN_OFFSET' });
    await s.testUnitReady();
  });

  it('recovers from a target that answers with an ITT no command has', async () => {
    let first = true;
    const { s, t } = await setup(
      {
        onCommand: (c, conn) => {
          if (c.cdb[0] !== 0x00 || !first) return undefined;
          first = false;
          conn.send({ opcode: Opcode.ScsiResponse, bidiReadResidualOverflow: false, bidiReadResidualUnderflow: false, residualOverflow: false, residualUnderflow: false, response: 0, status: 0, itt: 0x7abcdef, snackTag: 0, statSN: conn.statSN++, expCmdSN: 0, maxCmdSN: 0, expDataSN: 0, bidiReadResidualCount: 0, residualCount: 0, sense: Buffer.alloc(0), responseData: Buffer.alloc(0) });
          return 'ignore';
        },
      },
      { reconnect: { minDelay: 10 } },
    );
    // The command is sent again on the new connection, where the target behaves.
    await s.testUnitReady();
    expect(t.logins).toBe(2);
  });

  it('closes idempotently; pending commands fail with ERR_SESSION_CLOSED', async () => {
    const { s, t } = await setup({ onCommand: (c) => (c.cdb[0] === 0x28 ? 'ignore' : undefined) });
    await s.readCapacity();
    const p = s.read(0, 1, { timeout: 0 });
    await sleep(20);
    const c1 = s.close();
    expect(s.close()).toBe(c1);
    await c1;
    await expect(p).rejects.toMatchObject({ code: 'ERR_SESSION_CLOSED' });
    expect(t.logouts).toBe(1);
    await expect(s.read(0, 1)).rejects.toMatchObject({ code: 'ERR_SESSION_CLOSED' });
  });

  it('lets an event listener run commands (events are delivered outside the session locks)', async () => {
    let ua = true;
    const { s } = await setup({
      onCommand: (c, conn) => {
        if (!ua || c.cdb[0] !== 0x00) return undefined;
        ua = false;
        const sense = Buffer.alloc(18);
        sense[0] = 0x70;
        sense[2] = 0x06;
        sense[7] = 10;
        sense[12] = 0x29;
        conn.send({ opcode: Opcode.ScsiResponse, bidiReadResidualOverflow: false, bidiReadResidualUnderflow: false, residualOverflow: false, residualUnderflow: false, response: 0, status: 2, itt: c.itt, snackTag: 0, statSN: conn.statSN++, expCmdSN: 0, maxCmdSN: 0, expDataSN: 0, bidiReadResidualCount: 0, residualCount: 0, sense, responseData: Buffer.alloc(0) });
        return 'ignore';
      },
    });
    const fromListener = new Promise<unknown>((resolve) => s.once('unit-attention', () => resolve(s.readCapacity())));
    await s.testUnitReady();
    await expect(fromListener).resolves.toMatchObject({ blockSize: 512 });
  });

  it('refuses to connect to nothing with a clear ConnectionError', async () => {
    const t = await FakeTarget.start();
    const url = t.url();
    await t.close();
    const e = await Session.connect(url).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectionError);
    expect((e as Error).message).toMatch(/ECONNREFUSED/);
  });
});
