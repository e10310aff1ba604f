// Event delivery: never "pending" and then blocking, never blocking while one is pending, callbacks
// checked once at registration (a misspelt event name would never fire).
import { describe, expect, it } from 'vitest';
import { EventChannel } from '../../../src/util/event-channel.js';
import { AsyncEvent, Opcode } from '../../../src/pdu/constants.js';
import { Harness, LUN1, sense } from './harness.js';

describe('EventChannel', () => {
  it('validates the callback once, at construction', () => {
    expect(() => new EventChannel(undefined as unknown as () => void)).toThrow(TypeError);
  });

  it('resolves next() at once when an event is pending, and says so through pending', async () => {
    const seen: number[] = [];
    const ch = new EventChannel<number>((e) => void seen.push(e));
    const it = ch.subscribe();
    ch.emit(1);
    ch.emit(2);
    expect(it.pending).toBe(2);
    expect(await it.next()).toEqual({ value: 1, done: false });
    expect(it.tryNext()).toBe(2);
    expect(it.pending).toBe(0);
    expect(it.tryNext()).toBeUndefined();
    expect(seen).toEqual([1, 2]);
  });

  it('wakes a waiting reader with the next event', async () => {
    const ch = new EventChannel<string>(() => {});
    const it = ch.subscribe();
    const p = it.next();
    ch.emit('x');
    expect(await p).toEqual({ value: 'x', done: false });
  });

  it('delivers queued events before ending, then ends', async () => {
    const ch = new EventChannel<number>(() => {});
    const it = ch.subscribe();
    ch.emit(1);
    ch.close();
    const got: number[] = [];
    for await (const e of it) got.push(e);
    expect(got).toEqual([1]);
  });

  it('drops the oldest events for a reader that falls behind, and counts them', () => {
    const ch = new EventChannel<number>(() => {}, 3);
    const it = ch.subscribe();
    for (let i = 0; i < 5; i++) ch.emit(i);
    expect(it.dropped).toBe(2);
    expect([it.tryNext(), it.tryNext(), it.tryNext()]).toEqual([2, 3, 4]);
  });

  it('stops delivering to an iterator that returned', async () => {
    const ch = new EventChannel<number>(() => {});
    const it = ch.subscribe();
    await it.return!();
    ch.emit(1);
    expect(it.pending).toBe(0);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });
});

describe('Async Messages (RFC 7143 §11.9)', () => {
  const msg = (asyncEvent: number, extra: object = {}) => ({
    opcode: Opcode.AsyncMessage,
    lun: LUN1,
    statSN: 100,
    expCmdSN: 1,
    maxCmdSN: 64,
    asyncEvent,
    asyncVCode: 0,
    parameter1: 0,
    parameter2: 2,
    parameter3: 20,
    sense: Buffer.alloc(0),
    eventData: Buffer.alloc(0),
    ...extra,
  });

  it('reports a SCSI async event carrying a unit attention as unit-attention', () => {
    const h = new Harness();
    h.feed(msg(AsyncEvent.ScsiAsyncEvent, { sense: sense(0x06, 0x3f, 0x0e) }) as never);
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'unit-attention', lun: 1, asc: 0x3f, ascq: 0x0e, ascName: expect.stringMatching(/REPORTED LUNS DATA HAS CHANGED/) }));
  });

  it('reports a logout request with the time allowed', () => {
    const h = new Harness();
    h.feed(msg(AsyncEvent.LogoutRequest) as never);
    expect(h.events).toContainEqual({ type: 'logout-requested', within: 20_000, time2Wait: 0, time2Retain: 0 });
  });

  it('reports connection and session drops and renegotiation requests', () => {
    const h = new Harness();
    h.feed(msg(AsyncEvent.ConnectionDrop, { parameter1: 0 }) as never);
    h.feed(msg(AsyncEvent.SessionDrop) as never);
    h.feed(msg(AsyncEvent.Renegotiate) as never);
    expect(h.events.map((e) => e.type)).toEqual(['connection-drop-requested', 'session-drop-requested', 'renegotiate-requested']);
  });
});
