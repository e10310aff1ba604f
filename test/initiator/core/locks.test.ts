// The session's two locks: frwdLock (submit path) and backLock (response path), taken in a strict order
// (backLock inside frwdLock, never the reverse) that is checked in code, as in the Linux initiator.
import { describe, expect, it } from 'vitest';
import { SessionLocks } from '../../../src/initiator/core/locks.js';
import { LockOrderError } from '../../../src/util/mutex.js';
import { Harness, LUN1, READ10, flush, track } from './harness.js';

describe('session locks', () => {
  it('allow backLock inside frwdLock', () => {
    const l = new SessionLocks('split', (e) => {
      throw e;
    });
    let ran = false;
    l.forward(() => l.backInsideForward(() => (ran = true)));
    expect(ran).toBe(true);
  });

  it('throw LockOrderError when frwdLock is taken inside backLock', () => {
    const l = new SessionLocks('split', (e) => {
      throw e;
    });
    expect(() => l.backward(() => l.forward(() => {}))).toThrow(LockOrderError);
  });

  it('throw LockOrderError when frwdLock is taken inside backLock across an await', async () => {
    const l = new SessionLocks('split', () => {});
    await expect(l.back.runExclusive(async () => {
      await Promise.resolve();
      await l.frwd.runExclusive(() => {});
    })).rejects.toBeInstanceOf(LockOrderError);
  });

  it('refuse backInsideForward outside a forward section', () => {
    const l = new SessionLocks('split', () => {});
    expect(() => l.backInsideForward(() => {})).toThrow(/without frwdLock/);
  });

  it('share one mutex in one-lock mode, where the nested section just runs', () => {
    const l = new SessionLocks('one', (e) => {
      throw e;
    });
    expect(l.frwd).toBe(l.back);
    let ran = false;
    l.forward(() => l.backInsideForward(() => (ran = true)));
    expect(ran).toBe(true);
    expect(l.stats()).toEqual([{ name: 'sessionLock', acquisitions: 1, contended: 0, holdNs: 0, maxHoldNs: 0 }]);
  });

  it('queue a section behind a holder that awaits, in order', async () => {
    const l = new SessionLocks('split', (e) => {
      throw e;
    });
    const order: string[] = [];
    let release!: () => void;
    const held = l.frwd.runExclusive(() => new Promise<void>((r) => (release = r)).then(() => void order.push('holder')));
    l.forward(() => void order.push('a'));
    l.forward(() => void order.push('b'));
    expect(order).toEqual([]);
    release();
    await held;
    await flush();
    expect(order).toEqual(['holder', 'a', 'b']);
    expect(l.frwd.contended).toBe(2);
  });

  it('keep the response path going while a submitter holds frwdLock across an await (split mode)', async () => {
    const h = new Harness();
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 }));
    const [cmd] = h.commands();
    let release!: () => void;
    const held = h.core.locks.frwd.runExclusive(() => new Promise<void>((res) => (release = res)));
    h.response(cmd!);
    await flush();
    // The completion went through backLock alone.
    expect(r.state).toBe('fulfilled');
    release();
    await held;
  });

  it('stall the response path behind the same holder in one-lock mode', async () => {
    const h = new Harness({ lockMode: 'one' });
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 }));
    const [cmd] = h.commands();
    let release!: () => void;
    const held = h.core.locks.frwd.runExclusive(() => new Promise<void>((res) => (release = res)));
    h.response(cmd!);
    await flush();
    expect(r.state).toBe('pending');
    release();
    await held;
    await flush();
    expect(r.state).toBe('fulfilled');
  });

  it('run the whole fast path without contention', async () => {
    const h = new Harness();
    const rs = Array.from({ length: 8 }, () => h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 }));
    for (const c of h.commands()) h.response(c);
    await Promise.all(rs);
    for (const s of h.core.locks.stats()) expect(s.contended).toBe(0);
  });
});
