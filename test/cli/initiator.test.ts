// The initiator commands as a person runs them: output, one-line errors, exit codes (0 ok, 1 failed,
// 2 usage, 3 cannot connect or log in). The target is the in-process fake, so the CLI runs as a child.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Opcode } from '../../src/pdu/constants.js';
import { FAKE_IQN, FakeTarget } from '../initiator/fake-target.js';

const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;

function cli(args: string[], input?: Buffer): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(CLI, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: err }));
    p.stdin.end(input);
  });
}

describe('initiator commands', () => {
  let t: FakeTarget;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-cli-'));
  beforeAll(async () => {
    t = await FakeTarget.start();
    url = t.url(0);
  });
  afterAll(async () => {
    await t.close();
  });

  it('writes stdin and reads it back into a file', async () => {
    const data = Buffer.alloc(64 * 512);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const w = await cli(['write', url, '--lba', '100'], data);
    expect([w.status, w.stderr]).toEqual([0, '']);
    expect(t.disk.subarray(100 * 512, 164 * 512).equals(data)).toBe(true);
    const out = join(dir, 'out.bin');
    const r = await cli(['read', url, '--lba', '100', '--blocks', '64', '-o', out]);
    expect(r.status).toBe(0);
    expect(readFileSync(out).equals(data)).toBe(true);
  });

  it('prints the capacity and INQUIRY data, as text or JSON', async () => {
    expect((await cli(['readcap', url])).stdout.toString()).toMatch(/Blocks:\s+8192\nBlock size:\s+512/);
    expect(JSON.parse((await cli(['inquiry', url, '--json'])).stdout.toString())).toMatchObject({ vendor: 'TSISCSI', deviceTypeName: 'DIRECT_ACCESS' });
  });

  it('refuses input that is not a whole number of blocks (exit 2)', async () => {
    const input = join(dir, 'odd.bin');
    writeFileSync(input, Buffer.alloc(1000));
    const r = await cli(['write', url, '-i', input]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('tsiscsi write: the input is 1000 bytes, not a whole number of 512-byte blocks (pad it, e.g. truncate -s %512 FILE)\n');
  });

  it('refuses a read past the end of the LUN (exit 2)', async () => {
    const r = await cli(['read', url, '--lba', '8190', '--blocks', '4', '-o', join(dir, 'x')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^tsiscsi read: blocks 8190\.\.8193 go past the end of the LUN \(last LBA 8191\)\n$/);
  });

  it('refuses a malformed URL (exit 2) and a URL without a LUN', async () => {
    const r = await cli(['readcap', 'iscsi://127.0.0.1:1/iqn.x:y/banana']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^tsiscsi readcap: LUN "banana" is not a number/);
    const r2 = await cli(['readcap', `iscsi://127.0.0.1:${t.port}/${FAKE_IQN}`]);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/names no target and LUN/);
  });

  it('says when nothing listens (exit 3), without a stack trace', async () => {
    const r = await cli(['readcap', 'iscsi://127.0.0.1:1/iqn.x:y/0']);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^tsiscsi readcap: cannot connect to 127\.0\.0\.1:1: ECONNREFUSED/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports a SCSI error with its sense, in one line (exit 1)', async () => {
    const sense = Buffer.alloc(18);
    sense[0] = 0x70;
    sense[2] = 0x03;
    sense[7] = 10;
    sense[12] = 0x11;
    const bad = await FakeTarget.start({
      onCommand: (c, conn) => {
        if (c.cdb[0] !== 0x9e) return undefined;
        conn.send({ opcode: Opcode.ScsiResponse, bidiReadResidualOverflow: false, bidiReadResidualUnderflow: false, residualOverflow: false, residualUnderflow: false, response: 0, status: 2, itt: c.itt, snackTag: 0, statSN: conn.statSN++, expCmdSN: 0, maxCmdSN: 0, expDataSN: 0, bidiReadResidualCount: 0, residualCount: 0, sense, responseData: Buffer.alloc(0) });
        return 'ignore';
      },
    });
    try {
      const r = await cli(['readcap', bad.url(0)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe('tsiscsi readcap: SCSI command failed: CHECK CONDITION: MEDIUM ERROR / UNRECOVERED READ ERROR\n');
    } finally {
      await bad.close();
    }
  });

  it('bench --json prints one JSON object with iops', async () => {
    const r = await cli(['bench', url, '--rw', 'randrw', '--bs', '4k', '--qd', '4', '--time', '1', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout.toString()) as { iops: number; rw: string; locks: { name: string }[] };
    expect(j.rw).toBe('randrw');
    expect(j.iops).toBeGreaterThan(0);
    expect(j.locks.map((l) => l.name)).toEqual(['frwdLock', 'backLock']);
  });

  it('discovers the fake target', async () => {
    const r = await cli(['discover', `127.0.0.1:${t.port}`, '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toEqual([{ name: FAKE_IQN, portals: [{ host: '127.0.0.1', port: t.port, portalGroupTag: 1 }] }]);
    expect((await cli(['discover', `127.0.0.1:${t.port}`])).stdout.toString()).toBe(`127.0.0.1:${t.port},1 ${FAKE_IQN}\n`);
  });
});
