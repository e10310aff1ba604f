// JSON documents beside a medium, replaced atomically (write, fdatasync, rename, fsync the directory).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { JsonSidecar } from '../../src/backend/sidecar.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsiscsi-sidecar-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JsonSidecar', () => {
  test('a missing file loads as null', () => {
    expect(new JsonSidecar(join(dir, 'x.json')).load()).toBeNull();
  });
  test('concurrent saves land in order and leave no temporary file behind', async () => {
    const s = new JsonSidecar(join(dir, 'x.json'));
    await Promise.all([s.save({ n: 1 }), s.save({ n: 2 }), s.save({ n: 3 })]);
    expect(JSON.parse(await readFile(join(dir, 'x.json'), 'utf8'))).toEqual({ n: 3 });
    expect(await readdir(dir)).toEqual(['x.json']);
  });
  test('a document that is not JSON is an error, not an empty state', async () => {
    await writeFile(join(dir, 'x.json'), '{ half');
    expect(() => new JsonSidecar(join(dir, 'x.json')).load()).toThrow(/not valid JSON/);
  });
  test('a failed save rejects and the next one still runs', async () => {
    const s = new JsonSidecar(join(dir, 'missing-dir', 'x.json'));
    await expect(s.save({ n: 1 })).rejects.toMatchObject({ code: 'ENOENT' });
    const t = new JsonSidecar(join(dir, 'x.json'));
    await t.save({ n: 2 });
    expect(t.load()).toEqual({ n: 2 });
  });
});
