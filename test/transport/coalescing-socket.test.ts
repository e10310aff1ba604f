// CoalescingSocket: a turn of small buffers leaves in one write, a big turn as one corked writev.
import { describe, expect, test } from 'vitest';
import { CoalescingSocket } from '../../src/transport/coalescing-socket.js';
import type { WritableSocket } from '../../src/transport/pdu-writer.js';

/** Records what reaches the socket: plain writes and corked groups. */
function fakeSocket() {
  const log: string[] = [];
  let corked = 0;
  let group: number[] = [];
  const s: WritableSocket = {
    cork: () => void corked++,
    uncork: () => {
      if (--corked === 0) {
        log.push(`writev ${group.join('+')}`);
        group = [];
      }
    },
    write: (b) => {
      if (corked > 0) group.push(b.length);
      else log.push(`write ${b.length} ${b.toString('latin1')}`);
      return true;
    },
    writableLength: 5,
    destroyed: false,
    once: () => undefined,
  };
  return { s, log };
}

describe('CoalescingSocket', () => {
  test('writes through when not corked', () => {
    const { s, log } = fakeSocket();
    new CoalescingSocket(s).write(Buffer.from('ab'));
    expect(log).toEqual(['write 2 ab']);
  });
  test('copies a small turn into one write at the outermost uncork', () => {
    const { s, log } = fakeSocket();
    const c = new CoalescingSocket(s);
    c.cork();
    c.cork();
    c.write(Buffer.from('ab'));
    c.write(Buffer.from('cd'));
    expect(c.writableLength).toBe(5 + 4);
    c.uncork();
    expect(log).toEqual([]);
    c.uncork();
    expect(log).toEqual(['write 4 abcd']);
    expect(c.writableLength).toBe(5);
  });
  test('writes a single buffer as it is, and a big turn as one writev', () => {
    const { s, log } = fakeSocket();
    const c = new CoalescingSocket(s);
    c.cork();
    c.write(Buffer.from('x'));
    c.uncork();
    c.cork();
    c.write(Buffer.alloc(10_000));
    c.write(Buffer.alloc(10_000));
    c.uncork();
    c.uncork();
    expect(log).toEqual(['write 1 x', 'writev 10000+10000']);
  });
});
