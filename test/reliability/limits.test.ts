// Limits of the target against hostile peers, end to end over TCP: a peer that never reads its Data-In
// (memory of the target process stays bounded, and every command is answered once it reads again),
// slowloris logins (a login trickled a byte at a time is dropped at the login timeout, which counts
// from the connection, not from the last byte), and max connections (refused at accept while the
// slots are taken, free again once the half-open logins are dropped).

import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rssOfMiB } from '../../fuzz/resources.js';
import { encodePduToBuffer } from '../../src/pdu/codec.js';
import { Opcode, RESERVED_TAG } from '../../src/pdu/constants.js';
import { splitPdus } from '../../fuzz/mutate.js';
import { encodeTextKeys } from '../../src/pdu/text-keys.js';
import { spawnTarget, startTarget, type RunningTarget } from '../interop/tsiscsi.js';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

function loginPdu(iqn: string, initiator: string, isid = '400000000001'): Buffer {
  return encodePduToBuffer({
    opcode: Opcode.LoginRequest, transit: true, continue: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0,
    isid, tsih: 0, itt: 1, cid: 0, cmdSN: 1, expStatSN: 0,
    data: encodeTextKeys([
      ['InitiatorName', initiator],
      ['TargetName', iqn],
      ['SessionType', 'Normal'],
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]),
  });
}

/** Logs in; resolves with the socket once the Login Response said success. */
async function login(port: number, iqn: string, initiator: string): Promise<Socket> {
  const s = await open(port);
  s.on('error', () => {});
  const reply = await new Promise<Buffer>((resolve, reject) => {
    s.once('data', resolve);
    s.once('close', () => reject(new Error('closed during login')));
    s.write(loginPdu(iqn, initiator));
  });
  expect(reply[0]! & 0x3f).toBe(Opcode.LoginResponse);
  expect(reply[36]).toBe(0);
  return s;
}

function read10(itt: number, cmdSN: number, lba: number, blocks: number): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x28;
  cdb.writeUInt32BE(lba, 2);
  cdb.writeUInt16BE(blocks, 7);
  return encodePduToBuffer({
    opcode: Opcode.ScsiCommand, immediate: false, final: true, read: true, write: false, attr: 1, lun: 0n, itt,
    expectedDataTransferLength: blocks * 512, cmdSN, expStatSN: 0, cdb, data: Buffer.alloc(0),
  });
}

const NOP = encodePduToBuffer({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: RESERVED_TAG, ttt: RESERVED_TAG, cmdSN: 129, expStatSN: 0, data: Buffer.alloc(0) });

describe('a peer that never reads (target in a child process)', () => {
  it('cannot make the target hold more than its read budget, and gets every answer once it reads', async () => {
    const t = await spawnTarget(['--lun', 'mem:16M', '--log-level', 'warn', '--queue-depth', '128']);
    try {
      const pid = t.proc.pid!;
      const before = rssOfMiB(pid);
      const s = await login(t.port, 'iqn.2026-11.io.tsiscsi:target0', 'iqn.2026-11.test:never-reads');
      s.pause();
      // 128 READs of 8 MiB (the MAXIMUM TRANSFER LENGTH): 1 GiB of Data-In asked for at once.
      for (let i = 0; i < 128; i++) s.write(read10(i + 1, 1 + i, 0, 16384));
      // Until the target stops reading us (its socket is congested): our writes back up.
      while (s.write(NOP)) await new Promise((r) => setImmediate(r));
      const held = rssOfMiB(pid) - before;
      // The read budget (32 MiB) plus the socket's high-water mark (4 MiB) and some slack; 1 GiB before.
      expect(held).toBeLessThan(200);
      // Reading again, every one of the 128 commands is answered.
      let buf = Buffer.alloc(0);
      const done = new Set<number>();
      await new Promise<void>((resolve) => {
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          const pdus = splitPdus(buf);
          let used = 0;
          for (const p of pdus) {
            used += p.length;
            const op = p[0]! & 0x3f;
            if (op === Opcode.ScsiResponse || (op === Opcode.DataIn && (p[1]! & 0x01) !== 0)) done.add(p.readUInt32BE(16));
          }
          buf = buf.subarray(used);
          if (done.size === 128) resolve();
        });
        s.resume();
      });
      expect(done.size).toBe(128);
      s.destroy();
    } finally {
      await t.stop('SIGKILL');
    }
  }, 120_000);
});

describe('slowloris and max connections (in-process target, login timeout 500 ms, 8 connections)', () => {
  let t: RunningTarget;
  beforeAll(async () => {
    t = await startTarget({ luns: ['mem:4M'], config: { loginTimeoutMs: 500, maxConnections: 8 } });
  });
  afterAll(() => t?.stop());

  it('drops logins trickled a byte at a time at the login timeout, before they complete', async () => {
    const pdu = loginPdu(t.iqn, 'iqn.2026-11.test:slowloris');
    const results = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const s = await open(t.port);
        s.on('error', () => {});
        let sent = 0;
        const timer = setInterval(() => {
          if (sent < pdu.length && !s.destroyed) s.write(pdu.subarray(sent, ++sent));
        }, 50);
        await new Promise((r) => s.once('close', r));
        clearInterval(timer);
        return sent;
      }),
    );
    // Every connection was closed by the target with its login still incomplete.
    for (const sent of results) expect(sent).toBeLessThan(pdu.length);
  }, 60_000);

  it('refuses connections beyond the limit at accept, and serves again once half-open logins are dropped', async () => {
    while (t.server.connectionCount > 0) await new Promise((r) => setTimeout(r, 10));
    const held = await Promise.all(Array.from({ length: 8 }, () => open(t.port)));
    const closedHeld = held.map((s) => {
      s.on('error', () => {});
      s.write(loginPdu(t.iqn, 'iqn.2026-11.test:holder').subarray(0, 20));
      return new Promise((r) => s.once('close', r));
    });
    // The 9th: closed by the target without a byte.
    const extra = await open(t.port);
    const got: Buffer[] = [];
    extra.on('data', (d: Buffer) => got.push(d));
    extra.on('error', () => {});
    await new Promise((r) => extra.once('close', r));
    expect(Buffer.concat(got).length).toBe(0);
    // The half-open ones go at the login timeout; then a real login gets in.
    await Promise.all(closedHeld);
    const s = await login(t.port, t.iqn, 'iqn.2026-11.test:after');
    s.destroy();
  }, 60_000);
});
