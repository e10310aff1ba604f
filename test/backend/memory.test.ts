// The sparse memory backend: chunks allocated on first write, zeros everywhere else.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';

const blocks = (n: number, byte: number, bs = 512) => Buffer.alloc(n * bs, byte);

describe('MemoryBackend', () => {
  test('allocates nothing until written', () => {
    const m = new MemoryBackend({ blocks: 2 ** 31 });
    expect(m.allocatedBytes).toBe(0);
  });
  test('reads never-written blocks as zeros', async () => {
    const m = new MemoryBackend({ blocks: 1024 });
    const into = Buffer.alloc(2048, 0xff);
    await m.read(10, 4, into);
    expect(into.every((b) => b === 0)).toBe(true);
  });
  test('reads back a write that spans chunks', async () => {
    const m = new MemoryBackend({ blocks: 1024, chunkBytes: 4096 });
    const data = Buffer.alloc(20 * 512);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    await m.write(5, data);
    const into = Buffer.alloc(data.length);
    await m.read(5, 20, into);
    expect(into).toEqual(data);
    expect(m.allocatedBytes).toBe(4 * 4096);
  });
  test('honours a 4096-byte block size', async () => {
    const m = new MemoryBackend({ blocks: 16, blockSize: 4096 });
    await m.write(15, blocks(1, 7, 4096));
    const into = Buffer.alloc(4096);
    await m.read(15, 1, into);
    expect(into).toEqual(blocks(1, 7, 4096));
  });
  test('unmap frees whole chunks and zeroes partial ones', async () => {
    const m = new MemoryBackend({ blocks: 64, chunkBytes: 4096 });
    await m.write(0, blocks(64, 9));
    await m.unmap(4, 20);
    const into = Buffer.alloc(64 * 512);
    await m.read(0, 64, into);
    expect(into.subarray(0, 4 * 512).every((b) => b === 9)).toBe(true);
    expect(into.subarray(4 * 512, 24 * 512).every((b) => b === 0)).toBe(true);
    expect(into.subarray(24 * 512).every((b) => b === 9)).toBe(true);
    expect(m.allocatedBytes).toBe(6 * 4096);
  });
  test('isMapped tells whether every block of a range is allocated', async () => {
    const m = new MemoryBackend({ blocks: 64, chunkBytes: 4096 });
    await m.write(0, blocks(8, 1));
    expect(await m.isMapped(0, 8)).toBe(true);
    expect(await m.isMapped(0, 9)).toBe(false);
  });
  test('refuses I/O beyond the capacity', async () => {
    const m = new MemoryBackend({ blocks: 8 });
    await expect(m.read(7, 2, Buffer.alloc(1024))).rejects.toMatchObject({ code: 'ERR_BACKEND_RANGE' });
    await expect(m.write(8, blocks(1, 0))).rejects.toMatchObject({ code: 'ERR_BACKEND_RANGE' });
  });
  test('refuses a write that is not whole blocks', async () => {
    await expect(new MemoryBackend({ blocks: 8 }).write(0, Buffer.alloc(100))).rejects.toMatchObject({ code: 'ERR_BACKEND_RANGE' });
  });
  test('a read-only store refuses writes, unmaps and resizes', async () => {
    const m = new MemoryBackend({ blocks: 8, readOnly: true });
    await expect(m.write(0, blocks(1, 0))).rejects.toMatchObject({ code: 'ERR_BACKEND_READ_ONLY' });
    await expect(m.unmap(0, 1)).rejects.toMatchObject({ code: 'ERR_BACKEND_READ_ONLY' });
    await expect(m.resize(16)).rejects.toMatchObject({ code: 'ERR_BACKEND_READ_ONLY' });
  });
  test('shrinking drops data beyond the new end and growing reads it back as zeros', async () => {
    const m = new MemoryBackend({ blocks: 64, chunkBytes: 4096 });
    await m.write(0, blocks(64, 3));
    await m.resize(10);
    expect(m.blocks).toBe(10);
    await m.resize(64);
    const into = Buffer.alloc(64 * 512);
    await m.read(0, 64, into);
    expect(into.subarray(0, 10 * 512).every((b) => b === 3)).toBe(true);
    expect(into.subarray(10 * 512).every((b) => b === 0)).toBe(true);
  });
  test('an aborted signal rejects with AbortError', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(new MemoryBackend({ blocks: 8 }).read(0, 1, Buffer.alloc(512), ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });
  test('close is idempotent and later I/O fails', async () => {
    const m = new MemoryBackend({ blocks: 8 });
    await m.close();
    await m.close();
    await expect(m.flush()).rejects.toMatchObject({ code: 'ERR_BACKEND_CLOSED' });
  });
  test('refuses a block size that is not a power of two of at least 512', () => {
    expect(() => new MemoryBackend({ blocks: 8, blockSize: 520 })).toThrow(RangeError);
    expect(() => new MemoryBackend({ blocks: 0 })).toThrow(RangeError);
  });
  test('extentStatus reports runs of written and unwritten chunks from an LBA', async () => {
    const m = new MemoryBackend({ blocks: 1024, chunkBytes: 4096 });
    await m.write(8, Buffer.alloc(16 * 512, 1));
    expect(await m.extentStatus(0, 1024)).toEqual({ mapped: false, blocks: 8 });
    expect(await m.extentStatus(3, 1024)).toEqual({ mapped: false, blocks: 5 });
    expect(await m.extentStatus(8, 1024)).toEqual({ mapped: true, blocks: 16 });
    expect(await m.extentStatus(9, 4)).toEqual({ mapped: true, blocks: 4 });
    expect(await m.extentStatus(24, 1024)).toEqual({ mapped: false, blocks: 1000 });
  });
  test('carries the removable and physical block size options', () => {
    const m = new MemoryBackend({ blocks: 8, removable: true, physicalBlockSize: 4096 });
    expect([m.removable, m.physicalBlockSize]).toEqual([true, 4096]);
  });
});

