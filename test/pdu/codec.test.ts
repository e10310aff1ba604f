// Round trips of every PDU (RFC 7143 §11), golden bytes from real captures, and the decoder's refusals.

import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BHS_LENGTH,
  Framer,
  Opcode,
  RejectReason,
  decodePdu,
  encodePdu,
  encodePduToBuffer,
  type Frame,
  type Pdu,
} from '../../src/pdu/index.js';
import { IscsiProtocolError } from '../../src/errors.js';
import { ALL } from './arbitraries.js';

function directionOf(p: Pdu): 'initiator' | 'target' {
  return p.opcode < 0x20 ? 'initiator' : 'target';
}

function frames(buf: Buffer, opts: { headerDigest?: boolean; dataDigest?: boolean } = {}): Frame[] {
  const out: Frame[] = [];
  const f = new Framer(
    {
      onFrame: (fr) => out.push(fr),
      onError: (e) => {
        throw e;
      },
    },
    { maxRecvDataSegmentLength: 16777215, maxAhsLength: 1020, ...opts },
  );
  f.push(buf);
  expect(f.buffered).toBe(0);
  return out;
}

function roundTrip(p: Pdu, digests = { header: false, data: false }): Pdu {
  const wire = encodePduToBuffer(p, digests);
  const [fr] = frames(wire, { headerDigest: digests.header, dataDigest: digests.data });
  return decodePdu(directionOf(p), fr!.bhs, fr!.ahs, fr!.data);
}

function normalize(p: Pdu): unknown {
  return JSON.parse(
    JSON.stringify(p, (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('hex') : v,
    ),
  );
}

describe('round trip of every PDU (RFC 7143 §11)', () => {
  for (const [name, arb] of Object.entries(ALL)) {
    it(`decodes what it encodes: ${name}`, () => {
      fc.assert(
        fc.property(arb, (p) => {
          expect(normalize(roundTrip(p))).toEqual(normalize(p));
        }),
        { numRuns: 200 },
      );
    });
    it(`decodes what it encodes with header and data digests: ${name}`, () => {
      fc.assert(
        fc.property(arb, (p) => {
          expect(normalize(roundTrip(p, { header: true, data: true }))).toEqual(normalize(p));
        }),
        { numRuns: 50 },
      );
    });
  }
});

describe('encoding', () => {
  it('passes the data buffer through without copying it', () => {
    const data = Buffer.alloc(4096, 7);
    const iov = encodePdu({
      opcode: Opcode.DataIn, final: true, acknowledge: false, residualOverflow: false, residualUnderflow: false,
      statusPresent: true, status: 0, lun: 0n, itt: 1, ttt: 0xffffffff, statSN: 1, expCmdSN: 1, maxCmdSN: 1,
      dataSN: 0, bufferOffset: 0, residualCount: 0, data,
    });
    expect(iov).toHaveLength(2);
    expect(iov[1]).toBe(data);
  });

  it('pads the data segment to a multiple of 4 with zeros (RFC 7143 §11.2.3)', () => {
    const iov = encodePdu({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: 1, ttt: 0xffffffff, cmdSN: 0, expStatSN: 0, data: Buffer.from('abcde') });
    expect(Buffer.concat(iov).length).toBe(48 + 8);
    expect(iov[2]).toEqual(Buffer.alloc(3));
    expect(iov[0]!.readUIntBE(5, 3)).toBe(5);
  });

  it('puts CDB bytes beyond 16 into an Extended CDB AHS (RFC 7143 §11.3.5)', () => {
    const cdb = Buffer.alloc(32, 0xab);
    const wire = encodePduToBuffer({
      opcode: Opcode.ScsiCommand, immediate: false, final: true, read: false, write: false, attr: 1, lun: 0n, itt: 5,
      expectedDataTransferLength: 0, cmdSN: 1, expStatSN: 1, cdb, data: Buffer.alloc(0),
    });
    // AHSLength = CDB length - 15 = 17, type 1, 3 + 17 = 20 bytes, no padding: TotalAHSLength 5 words.
    expect(wire[4]).toBe(5);
    expect(wire.readUInt16BE(48)).toBe(17);
    expect(wire[50]).toBe(1);
  });
});

describe('golden bytes from real captures (test/fixtures)', () => {
  const dir = new URL('../fixtures/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.bin'));
  it('has fixtures', () => expect(files.length).toBeGreaterThan(10));
  for (const file of files) {
    it(`re-encodes every PDU of ${file} to the same bytes`, () => {
      const wire = readFileSync(new URL(file, dir));
      const direction = file.includes('.i2t.') ? 'initiator' : 'target';
      // The Linux captures negotiated CRC32C: digests start after the login phase (RFC 7143 §13.1).
      const digestsAfterLogin = file.includes('crc32c');
      let digests = { header: false, data: false };
      const got: { frame: Frame; digests: { header: boolean; data: boolean } }[] = [];
      const framer: Framer = new Framer(
        {
          onFrame: (fr) => {
            got.push({ frame: fr, digests });
            const op = fr.bhs[0]! & 0x3f;
            if (digestsAfterLogin && (op === Opcode.LoginRequest || op === Opcode.LoginResponse) && (fr.bhs[1]! & 0x80) !== 0 && (fr.bhs[1]! & 3) === 3) {
              digests = { header: true, data: true };
              framer.setDigests(true, true);
            }
          },
          onError: (e) => {
            throw e;
          },
        },
        { maxRecvDataSegmentLength: 16777215 },
      );
      framer.push(wire);
      expect(got.length).toBeGreaterThan(0);
      let offset = 0;
      for (const { frame, digests: d } of got) {
        const p = decodePdu(direction, frame.bhs, frame.ahs, frame.data);
        const again = encodePduToBuffer(p, d);
        expect(again.toString('hex')).toBe(wire.subarray(offset, offset + frame.wireLength).toString('hex'));
        offset += frame.wireLength;
      }
      expect(offset).toBe(wire.length);
    });
  }
});

function headerWith(opcode: number, patch: (h: Buffer) => void): Buffer {
  const h = Buffer.alloc(BHS_LENGTH);
  h[0] = opcode;
  h[1] = 0x80;
  patch(h);
  return h;
}

function refusal(direction: 'initiator' | 'target', h: Buffer, data = Buffer.alloc(0), ahs: Buffer | null = null): IscsiProtocolError {
  try {
    decodePdu(direction, h, ahs, data);
  } catch (e) {
    expect(e).toBeInstanceOf(IscsiProtocolError);
    return e as IscsiProtocolError;
  }
  throw new Error('decoder accepted an invalid PDU');
}

describe('decoder refusals (RFC 7143 §11: reserved code values are protocol errors)', () => {
  it('answers an unknown initiator opcode with Reject "command not supported"', () => {
    const e = refusal('initiator', headerWith(0x1c, () => {}));
    expect(e.code).toBe('ERR_UNKNOWN_OPCODE');
    expect(e.rejectReason).toBe(RejectReason.CommandNotSupported);
    expect(e.header).toHaveLength(48);
  });
  it('refuses a target opcode arriving from an initiator', () => {
    expect(refusal('initiator', headerWith(Opcode.DataIn, () => {})).code).toBe('ERR_UNKNOWN_OPCODE');
  });
  it('refuses a reserved task attribute', () => {
    const e = refusal('initiator', headerWith(Opcode.ScsiCommand, (h) => (h[1] = 0x85)));
    expect(e.rule).toBe('RFC 7143 §11.3.1.1');
    expect(e.action).toBe('reject');
  });
  it('refuses a reserved AHS type', () => {
    const ahs = Buffer.from([0, 1, 9, 0]);
    expect(refusal('initiator', headerWith(Opcode.ScsiCommand, (h) => (h[4] = 1)), Buffer.alloc(0), ahs).rule).toBe('RFC 7143 §11.2.2.2');
  });
  it('refuses an AHS whose length overruns TotalAHSLength', () => {
    const ahs = Buffer.from([0, 9, 1, 0]);
    expect(refusal('initiator', headerWith(Opcode.ScsiCommand, (h) => (h[4] = 1)), Buffer.alloc(0), ahs).rule).toBe('RFC 7143 §11.2.2.1');
  });
  it('refuses a bidirectional read AHS of the wrong length', () => {
    const ahs = Buffer.from([0, 1, 2, 0]);
    expect(refusal('initiator', headerWith(Opcode.ScsiCommand, (h) => (h[4] = 1)), Buffer.alloc(0), ahs).rule).toBe('RFC 7143 §11.3.6');
  });
  it('refuses an AHS on a PDU other than a SCSI Command', () => {
    expect(refusal('initiator', headerWith(Opcode.NopOut, (h) => (h[16] = 1)), Buffer.alloc(0), Buffer.alloc(4)).rule).toBe('RFC 7143 §11.2.2');
  });
  it('refuses a NOP-Out with the reserved ITT that is not immediate', () => {
    expect(refusal('initiator', headerWith(Opcode.NopOut, (h) => h.writeUInt32BE(0xffffffff, 16))).rule).toBe('RFC 7143 §11.18.1');
  });
  it('refuses a Login Request with both T and C set', () => {
    expect(refusal('initiator', headerWith(Opcode.LoginRequest, (h) => (h[1] = 0xc1))).rule).toBe('RFC 7143 §11.12.2');
  });
  it('refuses a Login Request whose CSG is the reserved stage 2', () => {
    expect(refusal('initiator', headerWith(Opcode.LoginRequest, (h) => (h[1] = 0x08))).rule).toBe('RFC 7143 §11.12.3');
  });
  it('refuses a Login Request whose NSG is the reserved stage 2', () => {
    expect(refusal('initiator', headerWith(Opcode.LoginRequest, (h) => (h[1] = 0x82))).rule).toBe('RFC 7143 §11.12.3');
  });
  it('refuses a Text Request with both F and C set', () => {
    expect(refusal('initiator', headerWith(Opcode.TextRequest, (h) => (h[1] = 0xc0))).rule).toBe('RFC 7143 §11.10.2');
  });
  it('refuses a reserved task management function', () => {
    expect(refusal('initiator', headerWith(Opcode.TaskManagementRequest, (h) => (h[1] = 0x80 | 13))).rule).toBe('RFC 7143 §11.5.1');
  });
  it('refuses a reserved logout reason', () => {
    expect(refusal('initiator', headerWith(Opcode.LogoutRequest, (h) => (h[1] = 0x83))).rule).toBe('RFC 7143 §11.14.1');
  });
  it('refuses a reserved SNACK type', () => {
    expect(refusal('initiator', headerWith(Opcode.SnackRequest, (h) => (h[1] = 0x84))).rule).toBe('RFC 7143 §11.16.1');
  });
  it('refuses a data segment on a PDU that has none', () => {
    expect(refusal('initiator', headerWith(Opcode.LogoutRequest, () => {}), Buffer.alloc(4)).rule).toBe('RFC 7143 §11.2.1.5');
  });
  it('refuses a Data-In with S set and F clear', () => {
    expect(refusal('target', headerWith(Opcode.DataIn, (h) => (h[1] = 0x01))).rule).toBe('RFC 7143 §11.7.1');
  });
  it('refuses a Data-In with both O and U', () => {
    expect(refusal('target', headerWith(Opcode.DataIn, (h) => (h[1] = 0x87))).rule).toBe('RFC 7143 §11.7.1');
  });
  it('refuses a SCSI Response with both O and U', () => {
    expect(refusal('target', headerWith(Opcode.ScsiResponse, (h) => (h[1] = 0x86))).rule).toBe('RFC 7143 §11.4.1');
  });
  it('refuses a SCSI Response with both o and u', () => {
    expect(refusal('target', headerWith(Opcode.ScsiResponse, (h) => (h[1] = 0x98))).rule).toBe('RFC 7143 §11.4.1');
  });
  it('refuses a SCSI Response whose SenseLength overruns the data', () => {
    expect(refusal('target', headerWith(Opcode.ScsiResponse, () => {}), Buffer.from([0, 9, 1, 2])).rule).toBe('RFC 7143 §11.4.7.2');
  });
  it('refuses a SCSI Response with a 1-byte data segment', () => {
    expect(refusal('target', headerWith(Opcode.ScsiResponse, () => {}), Buffer.from([0])).rule).toBe('RFC 7143 §11.4.7.2');
  });
  it('refuses an R2T with the reserved TTT', () => {
    expect(refusal('target', headerWith(Opcode.R2T, (h) => h.writeUInt32BE(0xffffffff, 20))).rule).toBe('RFC 7143 §11.8.3');
  });
  it('refuses an R2T asking for 0 bytes', () => {
    expect(refusal('target', headerWith(Opcode.R2T, (h) => h.writeUInt32BE(5, 20))).rule).toBe('RFC 7143 §11.8.4');
  });
  it('refuses a NOP-In with both ITT and TTT set', () => {
    expect(refusal('target', headerWith(Opcode.NopIn, (h) => { h.writeUInt32BE(1, 16); h.writeUInt32BE(2, 20); })).rule).toBe('RFC 7143 §11.19.1');
  });
  it('refuses a reserved TMF response', () => {
    expect(refusal('target', headerWith(Opcode.TaskManagementResponse, (h) => (h[2] = 9))).rule).toBe('RFC 7143 §11.6.1');
  });
  it('refuses a reserved logout response', () => {
    expect(refusal('target', headerWith(Opcode.LogoutResponse, (h) => (h[2] = 4))).rule).toBe('RFC 7143 §11.15.1');
  });
  it('refuses a reserved async event', () => {
    expect(refusal('target', headerWith(Opcode.AsyncMessage, (h) => (h[36] = 5))).rule).toBe('RFC 7143 §11.9.1');
  });
  it('refuses an async message whose SenseLength overruns the data', () => {
    expect(refusal('target', headerWith(Opcode.AsyncMessage, () => {}), Buffer.from([0, 8, 0, 0])).rule).toBe('RFC 7143 §11.9.4');
  });
  it('refuses a truncated async message data segment', () => {
    expect(refusal('target', headerWith(Opcode.AsyncMessage, () => {}), Buffer.from([0])).rule).toBe('RFC 7143 §11.9.4');
  });
  it('refuses a reserved reject reason', () => {
    expect(refusal('target', headerWith(Opcode.Reject, (h) => (h[2] = 0x0d))).rule).toBe('RFC 7143 §11.17.1');
  });
  it('refuses a Login Response with both T and C set', () => {
    expect(refusal('target', headerWith(Opcode.LoginResponse, (h) => (h[1] = 0xc1))).rule).toBe('RFC 7143 §11.12.2');
  });
  it('refuses a Text Response with both F and C set', () => {
    expect(refusal('target', headerWith(Opcode.TextResponse, (h) => (h[1] = 0xc0))).rule).toBe('RFC 7143 §11.10.2');
  });
  it('refuses two Extended CDB AHS', () => {
    const one = Buffer.from([0, 5, 1, 0, 1, 2, 3, 4]);
    const ahs = Buffer.concat([one, one]);
    expect(refusal('initiator', headerWith(Opcode.ScsiCommand, (h) => (h[4] = 4)), Buffer.alloc(0), ahs).rule).toBe('RFC 7143 §11.3.5');
  });
  it('refuses a truncated AHS', () => {
    expect(refusal('initiator', headerWith(Opcode.ScsiCommand, (h) => (h[4] = 1)), Buffer.alloc(0), Buffer.alloc(2)).rule).toBe('RFC 7143 §11.2.2');
  });
});
