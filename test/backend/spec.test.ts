// The CLI's LUN spec: PATH[,size=1G][,ro][,bs=512|4096][,delay=MS] and mem:SIZE[,...].
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DelayBackend } from '../../src/backend/delay.js';
import { LunSpecError } from '../../src/backend/errors.js';
import { FileBackend } from '../../src/backend/file.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { openBackend, parseLunSpec } from '../../src/backend/spec.js';

describe('parseLunSpec', () => {
  test('parses a file with every option', () => {
    expect(parseLunSpec('/tmp/a.img,size=1G,ro,bs=4096,delay=5')).toEqual({
      kind: 'file',
      path: '/tmp/a.img',
      size: 2 ** 30,
      readOnly: true,
      blockSize: 4096,
      delay: 5,
      spec: '/tmp/a.img,size=1G,ro,bs=4096,delay=5',
    });
  });
  test('removable and pbs', () => {
    expect(parseLunSpec('/tmp/a.img,removable,pbs=4096')).toMatchObject({ removable: true, physicalBlockSize: 4096, blockSize: 512 });
    expect(parseLunSpec('mem:1M,bs=4096,pbs=16K')).toMatchObject({ physicalBlockSize: 16384 });
    expect(() => parseLunSpec('/tmp/a.img,removable=1')).toThrow(LunSpecError);
    for (const bad of ['pbs=1536', 'pbs=256', 'pbs=x', 'pbs']) expect(() => parseLunSpec(`/tmp/a.img,${bad}`)).toThrow(LunSpecError);
  });
  test('parses a memory LUN', () => {
    expect(parseLunSpec('mem:64M,bs=512')).toMatchObject({ kind: 'memory', size: 64 * 2 ** 20, blockSize: 512, readOnly: false });
  });
  test('defaults to 512-byte blocks, writable, no delay', () => {
    expect(parseLunSpec('disk.img')).toEqual({ kind: 'file', path: 'disk.img', readOnly: false, blockSize: 512, spec: 'disk.img' });
  });
  const bad: [string, string][] = [
    ['', 'syntax'],
    [',ro', 'syntax'],
    ['a,', 'syntax'],
    ['a,ro=1', 'syntax'],
    ['a,size', 'syntax'],
    ['a,colour=red', 'unknown-option'],
    ['a,ro,ro', 'duplicate-option'],
    ['mem:1G,size=2G', 'duplicate-option'],
    ['a,size=lots', 'bad-size'],
    ['mem:', 'bad-size'],
    ['a,bs=1024', 'bad-block-size'],
    ['a,delay=-3', 'bad-delay'],
    ['a,delay=1.5', 'bad-delay'],
    ['mem:1000', 'size-not-multiple'],
    ['a,size=6K,bs=4096', 'size-not-multiple'],
  ];
  for (const [spec, problem] of bad) {
    test(`refuses "${spec}" as ${problem}`, () => {
      try {
        parseLunSpec(spec);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(LunSpecError);
        expect(e).toMatchObject({ code: 'ERR_LUN_SPEC', problem, spec });
      }
    });
  }
});

describe('openBackend', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsiscsi-spec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('opens a memory backend', async () => {
    const b = await openBackend('mem:1M,bs=4096,ro');
    expect(b).toBeInstanceOf(MemoryBackend);
    expect([b.blocks, b.blockSize, b.readOnly]).toEqual([256, 4096, true]);
  });
  test('passes removable and pbs to the backend', async () => {
    const m = await openBackend('mem:1M,removable,pbs=4096');
    expect([m.removable, m.physicalBlockSize]).toEqual([true, 4096]);
    const path = join(dir, 'r.img');
    const f = await openBackend(`${path},size=1M,removable,pbs=512`);
    expect([f.removable, f.physicalBlockSize]).toEqual([true, 512]);
    await f.close();
  });
  test('creates a missing file when a size is given', async () => {
    const path = join(dir, 'new.img');
    const b = await openBackend(`${path},size=1M`);
    expect(b).toBeInstanceOf(FileBackend);
    expect((await stat(path)).size).toBe(2 ** 20);
    await b.close();
  });
  test('a missing file without a size is a missing-size error', async () => {
    await expect(openBackend(join(dir, 'none.img'))).rejects.toMatchObject({ name: 'LunSpecError', problem: 'missing-size' });
  });
  test('a missing read-only file is a not-found error', async () => {
    await expect(openBackend(`${join(dir, 'none.img')},size=1M,ro`)).rejects.toMatchObject({ problem: 'not-found' });
  });
  test('an existing file not a whole number of blocks is a size-not-multiple error', async () => {
    const path = join(dir, 'odd.img');
    await writeFile(path, Buffer.alloc(4096 + 512));
    await expect(openBackend(`${path},bs=4096`)).rejects.toMatchObject({ problem: 'size-not-multiple' });
  });
  test('a directory is a not-a-file error', async () => {
    await expect(openBackend(dir)).rejects.toMatchObject({ problem: 'not-a-file' });
  });
  test('opens read-only files read-only', async () => {
    const path = join(dir, 'ro.img');
    await writeFile(path, Buffer.alloc(4096));
    const b = await openBackend(`${path},ro`);
    expect(b.readOnly).toBe(true);
    await expect(b.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'ERR_BACKEND_READ_ONLY' });
    await b.close();
  });
  test('wraps the backend in a delay when asked', async () => {
    const b = await openBackend('mem:1M,delay=7');
    expect(b).toBeInstanceOf(DelayBackend);
    expect((b as DelayBackend).delayMs).toBe(7);
  });
});
