// The file backend, in a temporary directory: sparse creation, positional I/O, FUA, unmap, resize.
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { FileBackend } from '../../src/backend/file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsiscsi-file-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const blocks = (n: number, byte: number, bs = 512) => Buffer.alloc(n * bs, byte);

describe('FileBackend', () => {
  test('creates a missing file with the given size, sparse', async () => {
    const path = join(dir, 'disk.img');
    const f = await FileBackend.open({ path, size: 1 << 30 });
    const st = await stat(path);
    expect(st.size).toBe(1 << 30);
    expect(st.blocks * 512).toBeLessThan(1 << 20);
    expect(f.blocks).toBe((1 << 30) / 512);
    await f.close();
  });
  test('reads back what it wrote at the right offset', async () => {
    const path = join(dir, 'disk.img');
    const f = await FileBackend.open({ path, size: 64 * 512 });
    await f.write(3, blocks(2, 0xab));
    const into = Buffer.alloc(4 * 512, 0xff);
    await f.read(2, 4, into);
    expect(into).toEqual(Buffer.concat([blocks(1, 0), blocks(2, 0xab), blocks(1, 0)]));
    await f.close();
    expect((await readFile(path)).subarray(3 * 512, 5 * 512)).toEqual(blocks(2, 0xab));
  });
  test('FUA and flush use fdatasync', async () => {
    const path = join(dir, 'd');
    const f = await FileBackend.open({ path, size: 8192 });
    const probe = await open(path, 'r');
    const proto = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const datasync = vi.spyOn(proto, 'datasync');
    try {
      await f.write(0, blocks(1, 1), { fua: true });
      await f.write(0, blocks(1, 1));
      await f.flush();
      expect(datasync).toHaveBeenCalledTimes(2);
    } finally {
      datasync.mockRestore();
      await f.close();
    }
  });
  test('opens an existing file at its own size', async () => {
    const path = join(dir, 'd');
    await writeFile(path, blocks(4, 7, 4096));
    const f = await FileBackend.open({ path, blockSize: 4096 });
    expect(f.blocks).toBe(4);
    await f.close();
  });
  test('extends an existing shorter file to the given size', async () => {
    const path = join(dir, 'd');
    await writeFile(path, blocks(2, 7));
    const f = await FileBackend.open({ path, size: 8 * 512 });
    expect((await stat(path)).size).toBe(8 * 512);
    await f.close();
  });
  test('refuses a missing file without a size', async () => {
    await expect(FileBackend.open({ path: join(dir, 'none') })).rejects.toMatchObject({ code: 'ERR_BACKEND_NOT_FOUND' });
  });
  test('refuses an existing file whose size is not a whole number of blocks', async () => {
    const path = join(dir, 'd');
    await writeFile(path, Buffer.alloc(1000));
    await expect(FileBackend.open({ path })).rejects.toMatchObject({ code: 'ERR_BACKEND_SIZE' });
  });
  test('refuses a directory', async () => {
    await expect(FileBackend.open({ path: dir })).rejects.toMatchObject({ code: 'ERR_BACKEND_NOT_A_FILE' });
  });
  test('read-only refuses writes and leaves the file unchanged', async () => {
    const path = join(dir, 'd');
    await writeFile(path, blocks(4, 1));
    const f = await FileBackend.open({ path, readOnly: true });
    expect(f.readOnly).toBe(true);
    await expect(f.write(0, blocks(1, 2))).rejects.toMatchObject({ code: 'ERR_BACKEND_READ_ONLY' });
    await f.close();
    expect(await readFile(path)).toEqual(blocks(4, 1));
  });
  test('read-only will not create a missing file', async () => {
    await expect(FileBackend.open({ path: join(dir, 'x'), size: 4096, readOnly: true })).rejects.toMatchObject({ code: 'ERR_BACKEND_NOT_FOUND' });
  });
  test('reads beyond the end of a shorter read-only file as zeros', async () => {
    const path = join(dir, 'd');
    await writeFile(path, blocks(2, 5));
    const f = await FileBackend.open({ path, size: 4 * 512, readOnly: true });
    const into = Buffer.alloc(4 * 512, 0xff);
    await f.read(0, 4, into);
    expect(into).toEqual(Buffer.concat([blocks(2, 5), blocks(2, 0)]));
    await f.close();
  });
  test('unmap in the middle writes zeros', async () => {
    const f = await FileBackend.open({ path: join(dir, 'd'), size: 16 * 512 });
    await f.write(0, blocks(16, 9));
    await f.unmap(4, 4);
    const into = Buffer.alloc(16 * 512);
    await f.read(0, 16, into);
    expect(into).toEqual(Buffer.concat([blocks(4, 9), blocks(4, 0), blocks(8, 9)]));
    await f.close();
  });
  test('unmap to the end punches the tail and keeps the size', async () => {
    const path = join(dir, 'd');
    const f = await FileBackend.open({ path, size: 16 * 512 });
    await f.write(0, blocks(16, 9));
    await f.unmap(8, 8);
    const into = Buffer.alloc(16 * 512);
    await f.read(0, 16, into);
    expect(into).toEqual(Buffer.concat([blocks(8, 9), blocks(8, 0)]));
    expect((await stat(path)).size).toBe(16 * 512);
    await f.close();
  });
  test('unmap of a hole leaves it a hole: chunks that already read as zeros are not written', async () => {
    const path = join(dir, 'd');
    const f = await FileBackend.open({ path, size: 64 << 20 });
    await f.write(0, blocks(1, 1));
    const before = (await stat(path)).blocks;
    // 32 MiB of zeros written would allocate 65536 sectors; skipping the hole allocates none.
    await f.unmap(1, (32 << 20) / 512 - 1);
    expect((await stat(path)).blocks).toBe(before);
    await f.close();
  });
  test('unmap zeroes a written chunk in the middle even when its neighbours are holes', async () => {
    const path = join(dir, 'd');
    const f = await FileBackend.open({ path, size: 8 << 20 });
    await f.write(4096, blocks(2, 7));
    await f.unmap(0, 8192);
    const into = Buffer.alloc(2 * 512, 1);
    await f.read(4096, 2, into);
    expect(into).toEqual(blocks(2, 0));
    await f.close();
  });
  test('reports the file system block size as its physical block size, unless told one', async () => {
    const path = join(dir, 'd');
    const f = await FileBackend.open({ path, size: 8192 });
    const blksize = (await stat(path)).blksize;
    expect(f.physicalBlockSize).toBe(blksize > 512 && blksize <= 65536 ? blksize : undefined);
    await f.close();
    const g = await FileBackend.open({ path, physicalBlockSize: 512 });
    expect(g.physicalBlockSize).toBe(512);
    await g.close();
  });
  test('carries the removable option', async () => {
    const f = await FileBackend.open({ path: join(dir, 'd'), size: 8192, removable: true });
    expect(f.removable).toBe(true);
    await f.close();
  });
  test('keeps sidecar documents beside the file', async () => {
    const path = join(dir, 'd');
    const f = await FileBackend.open({ path, size: 8192 });
    const store = f.sidecar('pr');
    expect(store.location).toBe(`${path}.pr.json`);
    expect(store.load()).toBeNull();
    await store.save({ version: 1, a: [1, 2] });
    expect(JSON.parse(await readFile(`${path}.pr.json`, 'utf8'))).toEqual({ version: 1, a: [1, 2] });
    expect(f.sidecar('pr').load()).toEqual({ version: 1, a: [1, 2] });
    await store.remove();
    await store.remove();
    expect(store.load()).toBeNull();
    expect(() => f.sidecar('../x')).toThrow(RangeError);
    await f.close();
  });
  test('resize changes the file and the capacity', async () => {
    const path = join(dir, 'd');
    const f = await FileBackend.open({ path, size: 8 * 512 });
    await f.resize(32);
    expect(f.blocks).toBe(32);
    expect((await stat(path)).size).toBe(32 * 512);
    await f.close();
  });
  test('refuses I/O beyond the capacity', async () => {
    const f = await FileBackend.open({ path: join(dir, 'd'), size: 8 * 512 });
    await expect(f.read(8, 1, Buffer.alloc(512))).rejects.toMatchObject({ code: 'ERR_BACKEND_RANGE' });
    await f.close();
  });
  test('an aborted signal stops I/O before it starts', async () => {
    const f = await FileBackend.open({ path: join(dir, 'd'), size: 8 * 512 });
    const ac = new AbortController();
    ac.abort();
    await expect(f.write(0, blocks(1, 1), undefined, ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
    await f.close();
  });
  test('close is idempotent and later I/O fails', async () => {
    const f = await FileBackend.open({ path: join(dir, 'd'), size: 8 * 512 });
    await f.close();
    await f.close();
    await expect(f.read(0, 1, Buffer.alloc(512))).rejects.toMatchObject({ code: 'ERR_BACKEND_CLOSED' });
  });
});

describe('file backend I/O modes', () => {
  for (const io of ['auto', 'sync', 'async'] as const) {
    test(`reads back what it wrote with io=${io}`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tsiscsi-io-'));
      const b = await FileBackend.open({ path: join(dir, 'x.img'), size: 1 << 20, io });
      const data = Buffer.alloc(8192);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
      await b.write(10, data);
      const back = Buffer.alloc(8192);
      await b.read(10, 16, back);
      expect(back.equals(data)).toBe(true);
      if (io === 'sync') expect(b.poolIo).toBe(0);
      if (io === 'async') expect(b.inlineIo).toBe(0);
      await b.close();
      await rm(dir, { recursive: true, force: true });
    });
  }
});
