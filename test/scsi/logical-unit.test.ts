// Constructing a logical unit: identity, options and their validation.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { TARGET } from './helpers.js';

const backend = () => new MemoryBackend({ blocks: 64 });

describe('LogicalUnit', () => {
  test('derives identity from the target name and LUN', () => {
    const a = new LogicalUnit({ lun: 3, backend: backend(), targetName: TARGET });
    const b = new LogicalUnit({ lun: 3, backend: backend(), targetName: TARGET });
    expect(a.identity.naa).toEqual(b.identity.naa);
    expect(a.identity.serial).toBe(b.identity.serial);
    expect(a.identity.vendor).toBe('TSISCSI');
  });
  test('reports geometry from its backend', () => {
    const lu = new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 10, blockSize: 4096 }) });
    expect([lu.blocks, lu.blockSize]).toEqual([10, 4096]);
  });
  test('scales its default limits with the block size', () => {
    const lu = new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 10, blockSize: 4096 }) });
    expect(lu.limits.maxTransferLength).toBe((8 << 20) / 4096);
  });
  test('refuses a LUN outside 0..16383', () => {
    expect(() => new LogicalUnit({ lun: 16384, backend: backend() })).toThrow(RangeError);
    expect(() => new LogicalUnit({ lun: -1, backend: backend() })).toThrow(RangeError);
  });
  test('refuses a logical blocks per physical block exponent outside 0..15', () => {
    expect(() => new LogicalUnit({ lun: 0, backend: backend(), lbppbe: 16 })).toThrow(RangeError);
  });
  test('refuses a zero limit', () => {
    expect(() => new LogicalUnit({ lun: 0, backend: backend(), limits: { maxTransferLength: 0 } })).toThrow(RangeError);
  });
  test('ignores limits given as undefined', () => {
    const lu = new LogicalUnit({ lun: 0, backend: backend(), limits: { maxTransferLength: undefined } });
    expect(lu.limits.maxTransferLength).toBe((8 << 20) / 512);
  });
  test('refuses an explicit NAA designator that is not one', () => {
    expect(() => new LogicalUnit({ lun: 0, backend: backend(), naa: 'zz' })).toThrow(RangeError);
  });
  test('a removable LU starts with its medium loaded', () => {
    const lu = new LogicalUnit({ lun: 0, backend: backend(), removable: true });
    expect([lu.removable, lu.mediumPresent, lu.removalPrevented]).toEqual([true, true, false]);
  });
});
