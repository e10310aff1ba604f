// Nothing a peer sends takes the target down or touches other sessions: garbage, oversized segments,
// PDUs out of place, half-open logins. Each ends in a closed connection, and the target keeps serving.

import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePduToBuffer } from '../../src/pdu/codec.js';
import { Opcode } from '../../src/pdu/constants.js';
import { encodeTextKeys } from '../../src/pdu/text-keys.js';
import { startTarget, type RunningTarget } from '../interop/tsiscsi.js';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with what the target sent before it closed the connection. */
function untilClosed(s: Socket): Promise<Buffer> {
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  s.on('error', () => {});
  return new Promise((r) => s.once('close', () => r(Buffer.concat(got))));
}

const loginPdu = (data: Buffer, over: Record<string, unknown> = {}) =>
  encodePduToBuffer({
    opcode: Opcode.LoginRequest, transit: true, continue: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0,
    isid: '400000000001', tsih: 0, itt: 1, cid: 0, cmdSN: 1, expStatSN: 0, data, ...over,
  } as never);

describe('target robustness on hostile input', () => {
  let t: RunningTarget;
  beforeAll(async () => {
    t = await startTarget({ luns: ['mem:4M'], config: { loginTimeoutMs: 500 } });
  });
  afterAll(() => t?.stop());

  async function stillServes(): Promise<void> {
    const s = await open(t.port);
    const closed = untilClosed(s);
    s.write(
      loginPdu(
        encodeTextKeys([
          ['InitiatorName', 'iqn.2026-11.test:check'],
          ['TargetName', t.iqn],
          ['SessionType', 'Normal'],
        ]),
      ),
    );
    await new Promise((r) => setTimeout(r, 50));
    s.end();
    const reply = await closed;
    expect(reply[0]! & 0x3f).toBe(Opcode.LoginResponse);
    expect(reply[36]).toBe(0); // success
  }

  it('drops a connection that sends random bytes', async () => {
    const s = await open(t.port);
    const closed = untilClosed(s);
    s.write(randomBytes(1 << 16));
    await closed;
    await stillServes();
  });

  it('drops a login whose data segment exceeds 8192 bytes before buffering it', async () => {
    const s = await open(t.port);
    const closed = untilClosed(s);
    const h = loginPdu(Buffer.alloc(0));
    h.writeUIntBE(0xffffff, 5, 3);
    s.write(h);
    await closed;
    await stillServes();
  });

  it('drops a connection that sends a SCSI command before logging in', async () => {
    const s = await open(t.port);
    const closed = untilClosed(s);
    const cmd = encodePduToBuffer({
      opcode: Opcode.ScsiCommand, immediate: false, final: true, read: true, write: false, attr: 1, lun: 0n, itt: 1,
      expectedDataTransferLength: 512, cmdSN: 1, expStatSN: 0, cdb: Buffer.from('28000000000000000100000000000000', 'hex'), data: Buffer.alloc(0),
    });
    s.write(cmd);
    expect((await closed).length).toBe(0);
    await stillServes();
  });

  it('drops a half-open login after the login timeout', async () => {
    const s = await open(t.port);
    const closed = untilClosed(s);
    s.write(loginPdu(Buffer.alloc(0)).subarray(0, 20));
    const started = Date.now();
    await closed;
    expect(Date.now() - started).toBeLessThan(5000);
    await stillServes();
  });

  it('survives a thousand random but well-framed PDUs on a logged-in session', async () => {
    const s = await open(t.port);
    const closed = untilClosed(s);
    s.write(
      loginPdu(
        encodeTextKeys([
          ['InitiatorName', 'iqn.2026-11.test:fuzz'],
          ['TargetName', t.iqn],
          ['SessionType', 'Normal'],
        ]),
      ),
    );
    const chunks: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      const bhs = randomBytes(48);
      bhs[4] = 0;
      const dsl = bhs[7]! & 0x3f;
      bhs.writeUIntBE(dsl, 5, 3);
      chunks.push(bhs, Buffer.alloc((dsl + 3) & ~3));
    }
    s.write(Buffer.concat(chunks));
    await new Promise((r) => setTimeout(r, 300));
    s.destroy();
    await closed;
    await stillServes();
  });
});
