// ErrorRecoveryLevel 0 recovery (RFC 7143 §6.3.5, §7.1.4.3): the backoff policy and the core's re-issue of
// what was outstanding. Lessons: libiscsi #241 (no spinning on a peer that hangs up), #260 and #428 (the
// backoff resets once the target is back).
import { describe, expect, it } from 'vitest';
import { ConnectionError } from '../../src/errors.js';
import { ReconnectPolicy } from '../../src/initiator/recovery.js';
import { Opcode } from '../../src/pdu/constants.js';
import { Harness, LUN1, READ10, WRITE10, flush, track } from './core/harness.js';

const policy = () => new ReconnectPolicy({ minDelay: 100, maxDelay: 2000, stableAfter: 1000, replacementTimeout: 10_000 });

describe('ReconnectPolicy', () => {
  it('retries at once after a stable connection, then doubles up to the cap', () => {
    const p = policy();
    p.connected(0);
    p.markStable();
    p.lost(5000);
    expect(p.nextDelay()).toBe(0);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      p.attemptFailed();
      delays.push(p.nextDelay());
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
  });

  it('does not reset the backoff for a connection that drops before proving itself (libiscsi #241)', () => {
    const p = policy();
    p.connected(0);
    p.markStable();
    p.lost(0);
    for (let i = 0; i < 5; i++) {
      // The peer accepts the login and hangs up at once, every time.
      p.connected(i * 10);
      p.lost(i * 10 + 1);
    }
    expect(p.failures).toBe(5);
    expect(p.nextDelay()).toBe(1600);
  });

  it('resets the backoff once the target is back (libiscsi #260, #428)', () => {
    const p = policy();
    p.lost(0);
    for (let i = 0; i < 10; i++) p.attemptFailed();
    expect(p.nextDelay()).toBe(2000);
    p.connected(50_000);
    p.tick(50_500);
    expect(p.failures).toBe(10);
    p.tick(51_000);
    expect(p.failures).toBe(0);
    p.lost(60_000);
    expect(p.nextDelay()).toBe(0);
    expect(p.expired(60_000 + 9_999)).toBe(false);
    expect(p.expired(60_000 + 10_000)).toBe(true);
  });

  it('measures the replacement timeout from the loss of the last stable connection', () => {
    const p = policy();
    p.connected(0);
    p.markStable();
    p.lost(1000);
    p.connected(2000);
    p.lost(2500);
    expect(p.downSince).toBe(1000);
    expect(p.expired(11_000)).toBe(true);
  });
});

describe('re-issue after a lost connection', () => {
  it('sends outstanding commands again on the new connection, in their first order, each completing once', async () => {
    const h = new Harness();
    const rs = [0, 1, 2, 3].map((i) => track(h.core.submit({ lun: LUN1, cdb: i % 2 ? WRITE10 : READ10, ...(i % 2 ? { dataOut: Buffer.alloc(512, i) } : { readLength: 512 }) })));
    const first = h.commands();
    // One completes before the drop.
    h.dataIn(first[0]!, { data: Buffer.alloc(512), statusPresent: true });
    h.core.detach(new ConnectionError('ERR_CONNECTION_CLOSED', 'gone'));
    // A late PDU from the dead connection is ignored.
    h.response(first[1]!);
    await flush();
    expect(rs.map((r) => r.state)).toEqual(['fulfilled', 'pending', 'pending', 'pending']);
    // The new session numbers from its own login.
    h.expCmdSN = 1000;
    h.attach();
    const again = h.commands();
    expect(again.map((c) => c.itt)).toEqual(first.slice(1).map((c) => c.itt));
    expect(again.map((c) => c.cmdSN)).toEqual([1000, 1001, 1002]);
    for (const c of again) {
      if (c.read) h.dataIn(c, { data: Buffer.alloc(512), statusPresent: true });
      else h.response(c);
    }
    await flush();
    expect(rs.every((r) => r.state === 'fulfilled')).toBe(true);
    expect(h.core.busy).toBe(0);
    expect(h.core.stats.completed).toBe(4);
  });

  it('queues new commands while disconnected and sends them after the re-issued ones', async () => {
    const h = new Harness();
    const a = track(h.core.submit({ lun: LUN1, cdb: READ10 }));
    const [ca] = h.commands();
    h.core.detach(new ConnectionError('ERR_CONNECTION_CLOSED', 'gone'));
    const b = track(h.core.submit({ lun: LUN1, cdb: READ10 }));
    expect(h.sent).toEqual([]);
    h.attach();
    const cmds = h.commands();
    expect(cmds[0]!.itt).toBe(ca!.itt);
    for (const c of cmds) h.response(c);
    await flush();
    expect([a.state, b.state]).toEqual(['fulfilled', 'fulfilled']);
  });

  it('forgets a partly sent write and sends all of it again', async () => {
    const h = new Harness({ session: { maxOutstandingR2T: 1, immediateData: false } });
    const data = Buffer.alloc(16384, 9);
    const w = track(h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: data }));
    const [c] = h.commands();
    h.r2t(c!, { bufferOffset: 0, desiredDataTransferLength: 8192 });
    expect(h.take(Opcode.DataOut)).toHaveLength(1);
    h.core.detach(new ConnectionError('ERR_CONNECTION_CLOSED', 'gone'));
    h.attach();
    const [again] = h.commands();
    h.r2t(again!, { bufferOffset: 0, desiredDataTransferLength: 16384 });
    const outs = h.take(Opcode.DataOut);
    expect(outs.reduce((n, o) => n + o.data.length, 0)).toBe(16384);
    h.response(again!);
    await flush();
    expect(w.state).toBe('fulfilled');
  });

  it('finishes commands that were being aborted: their callers were answered already', async () => {
    const h = new Harness();
    const ac = new AbortController();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, signal: ac.signal });
    h.commands();
    ac.abort();
    await expect(r).rejects.toThrow();
    expect(h.core.busy).toBe(1);
    h.core.detach(new ConnectionError('ERR_CONNECTION_CLOSED', 'gone'));
    expect(h.core.busy).toBe(0);
    h.attach();
    expect(h.commands()).toEqual([]);
  });

  it('fails everything pending at the replacement timeout, and new commands at once until reconnected', async () => {
    const h = new Harness();
    const rs = [0, 1].map(() => track(h.core.submit({ lun: LUN1, cdb: READ10 })));
    h.commands();
    h.core.detach(new ConnectionError('ERR_CONNECTION_CLOSED', 'gone'));
    const lost = new ConnectionError('ERR_SESSION_LOST', 'no connection within the replacement timeout');
    h.core.failPending(lost);
    await flush();
    expect(rs.map((r) => r.error)).toEqual([lost, lost]);
    await expect(h.core.submit({ lun: LUN1, cdb: READ10 })).rejects.toBe(lost);
    h.attach();
    const ok = h.core.submit({ lun: LUN1, cdb: READ10 });
    h.response(h.commands()[0]!);
    await expect(ok).resolves.toMatchObject({ status: 0 });
  });

  it('keeps a command\'s timeout running while it waits for a new connection', async () => {
    const h = new Harness();
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10, timeout: 1000 }));
    h.commands();
    h.core.detach(new ConnectionError('ERR_CONNECTION_CLOSED', 'gone'));
    h.clock.advance(1100);
    await flush();
    expect(r.state).toBe('rejected');
    expect(h.core.busy).toBe(0);
  });
});
