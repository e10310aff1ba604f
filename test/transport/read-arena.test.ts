// ReadArena: reads land one after another in an arena; a fresh one when too little is left; views stay valid.
import { describe, expect, test } from 'vitest';
import { ReadArena } from '../../src/transport/read-arena.js';

describe('ReadArena', () => {
  test('hands out the memory after the last read, in the same arena', () => {
    const a = new ReadArena();
    const first = a.next();
    expect(first.length).toBe(256 * 1024);
    first.write('hello');
    a.used(5);
    const second = a.next();
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset + 5);
  });
  test('starts a fresh arena when under 64 KiB is left, leaving the old views intact', () => {
    const a = new ReadArena();
    const first = a.next();
    first.fill(1);
    a.used(256 * 1024 - 64 * 1024 + 1);
    const fresh = a.next();
    expect(fresh.buffer).not.toBe(first.buffer);
    expect(fresh.length).toBe(256 * 1024);
    fresh.fill(2);
    expect(first[0]).toBe(1);
  });
});
