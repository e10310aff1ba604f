// `tsiscsi dump` as a user runs it: JSON lines per PDU, digest errors flagged with a non-zero exit.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Opcode, encodePduToBuffer, type Pdu } from '../../src/pdu/index.js';

const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;
const fixture = (f: string) => new URL(`../fixtures/${f}`, import.meta.url).pathname;

function dump(args: string[], input?: Buffer) {
  const r = spawnSync(CLI, ['dump', ...args], { input, encoding: 'utf8' });
  return { status: r.status, lines: r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), stderr: r.stderr };
}

const login = (transit: boolean): Pdu => ({
  opcode: Opcode.LoginRequest, transit, continue: false, csg: 1, nsg: transit ? 3 : 0, versionMax: 0, versionMin: 0,
  isid: '400001370000', tsih: 0, itt: 0, cid: 0, cmdSN: 1, expStatSN: 0, data: Buffer.from('InitiatorName=iqn.x\0HeaderDigest=CRC32C\0'),
});
const read10: Pdu = {
  opcode: Opcode.ScsiCommand, immediate: false, final: true, read: true, write: false, attr: 1, lun: 0x0001000000000000n,
  itt: 1, expectedDataTransferLength: 512, cmdSN: 1, expStatSN: 1, cdb: Buffer.from('28000000000000000100000000000000', 'hex'),
  data: Buffer.alloc(0),
};
const write: Pdu = { ...read10, read: false, write: true, itt: 2, cmdSN: 2, cdb: Buffer.from('2a000000000000000100000000000000', 'hex'), data: Buffer.alloc(512, 3) };

describe('tsiscsi dump', () => {
  it('prints one JSON object per PDU with the RFC field names, LUN, flags, CDB and text keys', () => {
    const r = dump([fixture('inquiry.i2t.bin')]);
    expect(r.status).toBe(0);
    const [first, cmd] = r.lines;
    expect(first).toMatchObject({ opcode: 3, name: 'Login Request', transit: true, csg: 1, nsg: 3 });
    expect(first!.textKeys).toContain('SessionType=Normal');
    expect(cmd).toMatchObject({ opcode: 1, name: 'SCSI Command', lun: 1, flags: 0x81, cdb: expect.stringMatching(/^00/) });
    for (const k of ['itt', 'cmdSN', 'expStatSN', 'expectedDataTransferLength']) expect(cmd).toHaveProperty(k);
  });

  it('reads stdin with -', () => {
    const r = dump(['-'], readFileSync(fixture('readcapacity16.t2i.bin')));
    expect(r.status).toBe(0);
    expect(r.lines[0]).toMatchObject({ name: 'Login Response', statusClass: 0, statusDetail: 0 });
  });

  it('checks digests after login and flags a corrupted data digest with a non-zero exit', () => {
    const d = { header: true, data: true };
    const good = Buffer.concat([encodePduToBuffer(login(true)), encodePduToBuffer(read10, d), encodePduToBuffer(write, d)]);
    expect(dump(['--header-digest', '--data-digest'], good).status).toBe(0);
    const bad = Buffer.from(good);
    bad[bad.length - 10] ^= 0x40; // inside the WRITE's immediate data
    const r = dump(['--header-digest', '--data-digest', '-'], bad);
    expect(r.status).toBe(1);
    expect(r.lines.map((l) => l.name ?? l.code)).toEqual(['Login Request', 'SCSI Command', 'ERR_DATA_DIGEST']);
    expect(r.lines[2]!.error).toMatch(/data digest mismatch/);
    expect(r.stderr).toMatch(/1 of 3 PDUs had errors|errors/);
  });

  it('flags a corrupted header digest and stops, since the stream cannot be trusted', () => {
    const d = { header: true, data: false };
    const wire = Buffer.concat([encodePduToBuffer(login(true)), encodePduToBuffer(read10, d), encodePduToBuffer(read10, d)]);
    const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-dump-'));
    const f = join(dir, 'bad.bin');
    wire[wire.length - 60] ^= 1; // the second command's header
    writeFileSync(f, wire);
    const r = dump([f, '--header-digest']);
    expect(r.status).toBe(1);
    expect(r.lines.at(-1)).toMatchObject({ code: 'ERR_HEADER_DIGEST' });
  });

  it('applies the digests from the first PDU of a stream that starts after login (RFC 7143 §13.1)', () => {
    const d = { header: true, data: true };
    const cut = Buffer.concat([encodePduToBuffer(read10, d), encodePduToBuffer(write, d), encodePduToBuffer(read10, d)]);
    const r = dump(['--header-digest', '--data-digest', '-'], cut);
    expect(r.lines.filter((l) => 'error' in l)).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.lines.map((l) => l.name)).toEqual(['SCSI Command', 'SCSI Command', 'SCSI Command']);
    expect(r.lines[1]).toMatchObject({ itt: 2, expectedDataTransferLength: 512 });
  });

  it('decodes a real digest-carrying capture cut after its login', () => {
    const wire = readFileSync(fixture('linux-crc32c.i2t.bin'));
    const all = dump(['--header-digest', '--data-digest', '-'], wire).lines;
    // Where the full feature phase starts: after the Login Requests, which carry no digest (BHS, AHS, padded data).
    const firstFfp = all.findIndex((l) => l.name !== 'Login Request');
    const skip = all.slice(0, firstFfp).reduce((n, l) => n + 48 + 4 * (l.totalAHSLength as number) + Math.ceil((l.dataSegmentLength as number) / 4) * 4, 0);
    const r = dump(['--header-digest', '--data-digest', '-'], wire.subarray(skip));
    expect(r.status).toBe(0);
    expect(r.lines.filter((l) => 'error' in l)).toEqual([]);
    expect(r.lines).toHaveLength(all.length - firstFfp);
  });

  it('reports a stream that ends inside a PDU', () => {
    const r = dump(['-'], encodePduToBuffer(read10).subarray(0, 30));
    expect(r.status).toBe(1);
    expect(r.lines[0]).toMatchObject({ code: 'ERR_TRUNCATED' });
  });

  it('exits 2 with a usage message on an unknown option', () => {
    const r = spawnSync(CLI, ['dump', '--nope'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Unknown argument/);
  });
});

describe('tsiscsi dump on Linux traffic with CRC32C digests', () => {
  it('decodes every PDU of a real open-iscsi session with header and data digests, 0 errors', () => {
    for (const f of ['linux-crc32c.i2t.bin', 'linux-crc32c.t2i.bin']) {
      const r = dump(['--header-digest', '--data-digest', fixture(f)]);
      expect(r.status).toBe(0);
      expect(r.lines.length).toBeGreaterThan(40);
      expect(r.lines.filter((l) => 'error' in l)).toEqual([]);
    }
  });

  it('flags one flipped byte in a real data segment with the data digest error and exit 1', () => {
    const wire = Buffer.from(readFileSync(fixture('linux-crc32c.i2t.bin')));
    // The last PDU of this capture is a Data-Out with 64 KiB... of which we flip a byte in the middle.
    wire[wire.length - 1000] ^= 0x01;
    const r = dump(['--header-digest', '--data-digest', '-'], wire);
    expect(r.status).toBe(1);
    expect(r.lines.some((l) => l.code === 'ERR_DATA_DIGEST' || l.code === 'ERR_HEADER_DIGEST')).toBe(true);
  });

  it('does not print a stack trace when its reader goes away', () => {
    const r = spawnSync('sh', ['-c', `${CLI} dump --header-digest --data-digest ${fixture('linux-crc32c.i2t.bin')} | head -n 1`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
  });
});

describe('tsiscsi dump errors', () => {
  it('exits 2 with a one-line message when the file cannot be read', () => {
    const r = spawnSync(CLI, ['dump', '/nonexistent/capture.bin'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot read \/nonexistent\/capture.bin: ENOENT/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
