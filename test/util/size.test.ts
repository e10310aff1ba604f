// Sizes as written on a command line, shared by LUN specs and the bench.
import { describe, expect, test } from 'vitest';
import { parseSize } from '../../src/util/size.js';

describe('parseSize', () => {
  test('takes binary K, M, G and T suffixes, with or without iB', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize('64K')).toBe(65536);
    expect(parseSize('1g')).toBe(2 ** 30);
    expect(parseSize('2TiB')).toBe(2 * 2 ** 40);
  });
  test('refuses anything else', () => {
    for (const s of ['', '1.5G', '1P', '-1', 'G', '0']) expect(() => parseSize(s)).toThrow(RangeError);
  });
});

describe('parseSize as the bench writes sizes', () => {
  test('takes KB, Ki, a space before the unit and a B for bytes', () => {
    expect(parseSize('4k')).toBe(4096);
    expect(parseSize('64KB')).toBe(65536);
    expect(parseSize('1Mi')).toBe(2 ** 20);
    expect(parseSize('4 k')).toBe(4096);
    expect(parseSize('512B')).toBe(512);
  });
});
