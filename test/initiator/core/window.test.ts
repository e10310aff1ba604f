// The command window (RFC 7143 §3.2.2.1, §4.2.2.1) and CmdSN flow control: a submitter waits while the
// window is closed and the response path wakes it; a NOP-Out ping is the backstop
// for the wake-up that never comes (a lost response would leave the window closed for ever).
import { describe, expect, it } from 'vitest';
import { CommandWindow } from '../../../src/initiator/core/window.js';
import { Opcode } from '../../../src/pdu/constants.js';
import { Harness, LUN1, READ10, flush, track } from './harness.js';

describe('CommandWindow (RFC 7143 §4.2.2.1)', () => {
  it('is open while CmdSN <= MaxCmdSN and counts the room left', () => {
    const w = new CommandWindow();
    w.reset(10, 10, 12);
    expect(w.open).toBe(true);
    expect(w.room).toBe(3);
    w.take();
    w.take();
    w.take();
    expect(w.open).toBe(false);
    expect(w.room).toBe(0);
  });

  it('ignores both numbers when MaxCmdSN < ExpCmdSN - 1', () => {
    const w = new CommandWindow();
    w.reset(10, 10, 20);
    w.take();
    expect(w.update(11, 5)).toBe(false);
    expect([w.expCmdSN, w.maxCmdSN]).toEqual([10, 20]);
    expect(w.ignored).toBe(1);
  });

  it('accepts MaxCmdSN = ExpCmdSN - 1 as a closed window', () => {
    const w = new CommandWindow();
    w.reset(10, 10, 10);
    w.take();
    w.update(11, 10);
    expect([w.expCmdSN, w.maxCmdSN, w.open]).toEqual([11, 10, false]);
  });

  it('moves ExpCmdSN and MaxCmdSN only forward', () => {
    const w = new CommandWindow();
    w.reset(10, 10, 20);
    for (let i = 0; i < 5; i++) w.take();
    w.update(14, 30);
    w.update(12, 25);
    expect([w.expCmdSN, w.maxCmdSN]).toEqual([14, 30]);
  });

  it('ignores an ExpCmdSN beyond what was sent', () => {
    const w = new CommandWindow();
    w.reset(10, 10, 20);
    w.take();
    expect(w.update(50, 60)).toBe(false);
    expect(w.expCmdSN).toBe(10);
  });

  it('wraps with serial arithmetic (RFC 1982)', () => {
    const w = new CommandWindow();
    w.reset(0xfffffffe, 0xfffffffe, 0xffffffff);
    expect(w.take()).toBe(0xfffffffe);
    expect(w.take()).toBe(0xffffffff);
    expect(w.open).toBe(false);
    expect(w.update(0, 3)).toBe(true);
    expect(w.take()).toBe(0);
    expect(w.room).toBe(3);
  });

  it('reports the moment the window opens', () => {
    const w = new CommandWindow();
    w.reset(1, 1, 1);
    w.take();
    expect(w.update(2, 1)).toBe(false);
    expect(w.update(2, 2)).toBe(true);
    expect(w.update(2, 3)).toBe(false);
  });
});

describe('CmdSN flow control', () => {
  it('holds commands back while the window is closed and sends them when a response opens it', async () => {
    const h = new Harness({ window: 2 });
    const reads = [0, 1, 2, 3].map(() => track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 512 })));
    let cmds = h.commands();
    expect(cmds.map((c) => c.cmdSN)).toEqual([1, 2]);
    // The target has both commands (ExpCmdSN 3) and, the first one done, room for one more: MaxCmdSN 3.
    h.window = 1;
    h.dataIn(cmds[0]!, { data: Buffer.alloc(512), statusPresent: true });
    const more = h.commands();
    expect(more.map((c) => c.cmdSN)).toEqual([3]);
    cmds = [...cmds.slice(1), ...more];
    await flush();
    expect(reads.map((r) => r.state)).toEqual(['fulfilled', 'pending', 'pending', 'pending']);
    h.window = 0;
    h.dataIn(cmds[0]!, { data: Buffer.alloc(512), statusPresent: true });
    expect(h.commands()).toEqual([]);
    h.window = 1;
    h.dataIn(cmds[1]!, { data: Buffer.alloc(512), statusPresent: true });
    const last = h.commands();
    expect(last.map((c) => c.cmdSN)).toEqual([4]);
    h.dataIn(last[0]!, { data: Buffer.alloc(512), statusPresent: true });
    await flush();
    expect(reads.every((r) => r.state === 'fulfilled')).toBe(true);
  });

  it('is woken by a NOP-In that only carries a new MaxCmdSN', async () => {
    const h = new Harness({ window: 1 });
    const a = track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 }));
    const b = track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 }));
    const [c1] = h.commands();
    // The target completes the first command but keeps the window closed.
    h.window = 0;
    h.response(c1!);
    expect(h.commands()).toEqual([]);
    h.window = 4;
    h.nopIn();
    const [c2] = h.commands();
    expect(c2).toBeDefined();
    h.response(c2!);
    await flush();
    expect([a.state, b.state]).toEqual(['fulfilled', 'fulfilled']);
  });

  it('pings the target when the window stays closed and nothing arrives (the wake-up that never comes)', async () => {
    const h = new Harness({ window: 1, keepalive: { interval: 0, timeout: 5000, windowStall: 1000 } });
    track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 }));
    const b = track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 }));
    const [c1] = h.commands();
    h.window = 0;
    h.response(c1!);
    h.clock.advance(900);
    expect(h.take(Opcode.NopOut)).toEqual([]);
    h.clock.advance(200);
    const [ping] = h.take(Opcode.NopOut);
    expect(ping).toMatchObject({ immediate: true, ttt: 0xffffffff });
    // The NOP-In answering the ping carries the MaxCmdSN that opens the window.
    h.window = 4;
    h.nopIn({ itt: ping!.itt });
    const [c2] = h.commands();
    h.response(c2!);
    await flush();
    expect(b.state).toBe('fulfilled');
  });

  it('keeps CmdSN order when commands wait for a congested socket', async () => {
    const h = new Harness();
    h.congested = true;
    const rs = [0, 1, 2].map(() => track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 })));
    expect(h.commands()).toEqual([]);
    h.congested = false;
    h.core.kick();
    const cmds = h.commands();
    expect(cmds.map((c) => c.cmdSN)).toEqual([1, 2, 3]);
    for (const c of cmds) h.response(c);
    await flush();
    expect(rs.every((r) => r.state === 'fulfilled')).toBe(true);
  });

  it('gives waiting submitters a task as soon as one returns to the pool', async () => {
    const h = new Harness({ queueDepth: 2 });
    const rs = [0, 1, 2, 3].map(() => track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 })));
    const first = h.commands();
    expect(first).toHaveLength(2);
    expect(h.core.busy).toBe(2);
    h.response(first[0]!);
    const next = h.commands();
    expect(next).toHaveLength(1);
    h.response(first[1]!);
    h.response(next[0]!);
    const last = h.commands();
    h.response(last[0]!);
    await flush();
    expect(rs.map((r) => r.state)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(h.core.busy).toBe(0);
  });
});
