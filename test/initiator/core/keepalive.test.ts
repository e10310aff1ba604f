// Liveness (RFC 7143 §11.18, §11.19): NOP-Out pings on quiet connections; only silence kills a
// connection, never a busy one (open-iscsi #97).
import { describe, expect, it } from 'vitest';
import { Keepalive } from '../../../src/initiator/core/keepalive.js';
import { Opcode, RESERVED_TAG } from '../../../src/pdu/constants.js';
import { Harness, LUN1, READ10 } from './harness.js';

describe('Keepalive', () => {
  it('pings after the quiet interval and declares the connection dead after the timeout', () => {
    const k = new Keepalive({ interval: 5000, timeout: 3000, windowStall: 1000 });
    k.reset(0);
    expect(k.tick(4999, false, false)).toBeUndefined();
    expect(k.tick(5000, false, false)).toBe('ping');
    k.pinged(42, 5000);
    expect(k.tick(7999, false, false)).toBeUndefined();
    expect(k.tick(8000, false, false)).toBe('dead');
  });

  it('counts any PDU received after the ping as liveness', () => {
    const k = new Keepalive({ interval: 5000, timeout: 3000, windowStall: 1000 });
    k.reset(0);
    k.pinged(42, 5000);
    k.heard(6000);
    expect(k.tick(9000, false, false)).toBeUndefined();
    expect(k.pingOutstanding).toBe(false);
  });

  it('never pings a connection that keeps receiving', () => {
    const k = new Keepalive({ interval: 1000, timeout: 1000, windowStall: 1000 });
    k.reset(0);
    for (let t = 0; t < 100_000; t += 500) {
      k.heard(t);
      expect(k.tick(t + 400, false, true)).toBeUndefined();
    }
  });

  it('with idle pings off, pings only when commands are outstanding', () => {
    const k = new Keepalive({ interval: 0, timeout: 2000, windowStall: 1000 });
    k.reset(0);
    expect(k.tick(10_000, false, false)).toBeUndefined();
    expect(k.tick(10_000, false, true)).toBe('ping');
  });
});

describe('keepalive in the session', () => {
  it('answers a target ping with its TTT, ITT reserved, immediate (RFC 7143 §11.18)', () => {
    const h = new Harness();
    h.nopIn({ ttt: 0x77, lun: LUN1 });
    const [out] = h.take(Opcode.NopOut);
    expect(out).toMatchObject({ itt: RESERVED_TAG, ttt: 0x77, immediate: true, lun: LUN1 });
  });

  it('does not fail a busy connection whose ping answer is late', () => {
    const h = new Harness({ keepalive: { interval: 1000, timeout: 1000, windowStall: 1000 } });
    const cmds: { itt: number }[] = [];
    void h.core.submit({ lun: LUN1, cdb: READ10, readLength: 1 << 20 });
    cmds.push(...h.commands());
    h.clock.advance(1100);
    const [ping] = h.take(Opcode.NopOut);
    expect(ping).toBeDefined();
    // Data keeps coming, the NOP-In does not: the connection is alive.
    for (let i = 0; i < 30; i++) {
      h.dataIn(cmds[0]!, { data: Buffer.alloc(1024), dataSN: i, bufferOffset: i * 1024 });
      h.clock.advance(300);
    }
    expect(h.failures).toEqual([]);
  });

  it('fails a silent connection after the ping timeout', () => {
    const h = new Harness({ keepalive: { interval: 1000, timeout: 2000, windowStall: 1000 } });
    h.clock.advance(1100);
    expect(h.take(Opcode.NopOut)).toHaveLength(1);
    h.clock.advance(2100);
    expect(h.failures).toHaveLength(1);
    expect(h.failures[0]).toMatchObject({ code: 'ERR_NOP_TIMEOUT' });
  });

  it('accepts the NOP-In answering its ping', () => {
    const h = new Harness({ keepalive: { interval: 1000, timeout: 2000, windowStall: 1000 } });
    h.clock.advance(1100);
    const [ping] = h.take(Opcode.NopOut);
    h.nopIn({ itt: ping!.itt });
    h.clock.advance(900);
    expect(h.failures).toEqual([]);
  });
});
