// The fault-injecting wrapper: errno-shaped failures on the LBAs its rules cover, the rest forwarded.
import { describe, expect, test } from 'vitest';
import { FaultBackend, parseFaultSpec } from '../../src/backend/fault.js';
import { MemoryBackend } from '../../src/backend/memory.js';

describe('FaultBackend', () => {
  test('fails reads, writes and unmaps in an EIO range, and counts them', async () => {
    const f = new FaultBackend(new MemoryBackend({ blocks: 64 }), parseFaultSpec('eio@10-19'));
    await expect(f.read(8, 4, Buffer.alloc(2048))).rejects.toMatchObject({ code: 'EIO', syscall: 'read', errno: -5 });
    await expect(f.write(19, Buffer.alloc(512))).rejects.toMatchObject({ code: 'EIO', syscall: 'write' });
    await expect(f.unmap!(0, 11)).rejects.toMatchObject({ code: 'EIO', syscall: 'write' });
    await f.read(0, 10, Buffer.alloc(5120));
    await f.write(20, Buffer.alloc(512));
    await f.unmap!(20, 4);
    expect(f.injected).toEqual({ read: 1, write: 1, flush: 0, unmap: 1 });
  });
  test('fails writes with ENOSPC and flushes with EIO', async () => {
    const f = new FaultBackend(new MemoryBackend({ blocks: 64 }), parseFaultSpec('enospc@32-+eio-flush'));
    await expect(f.write(40, Buffer.alloc(512))).rejects.toMatchObject({ code: 'ENOSPC', errno: -28 });
    await expect(f.flush()).rejects.toMatchObject({ code: 'EIO', syscall: 'fdatasync' });
    await f.write(31, Buffer.alloc(512));
  });
  test('forwards the rest under its own kind', () => {
    const f = new FaultBackend(new MemoryBackend({ blocks: 64, removable: true }), []);
    expect([f.kind, f.blocks, f.removable]).toEqual(['memory+fault', 64, true]);
    expect(typeof f.extentStatus).toBe('function');
  });
  test('refuses a malformed rule', () => {
    for (const r of ['eio@5-2', 'eio-flush@3', 'boom', 'eio@x']) expect(() => parseFaultSpec(r), r).toThrow(RangeError);
  });
});
