// CDB builders and parameter data parsers (SPC-4, SBC-3) shared by both ends.
import { describe, expect, test } from 'vitest';
import {
  cdbInquiry,
  cdbModeSense10,
  cdbModeSense6,
  cdbRead10,
  cdbRead16,
  cdbRead6,
  cdbReadCapacity16,
  cdbReportLuns,
  cdbReportSupportedOpcodes,
  cdbStartStopUnit,
  cdbSynchronizeCache10,
  cdbVerify10,
  cdbWrite12,
  cdbWrite16,
  cdbWriteAndVerify16,
  decodeLun,
  encodeLun,
  parseModeSense,
  parseReadCapacity10,
  parseReadCapacity16,
  parseReportLuns,
  parseSupportedOpcodesAll,
  parseSupportedOpcodesOne,
  parseVpd83,
  readU64,
} from '../../src/scsi/cdb/index.js';

describe('READ/WRITE builders (SBC-3 §5.10-5.13, §5.31-5.34)', () => {
  test('READ(16) puts a 64-bit LBA, transfer length, DPO and FUA in place', () => {
    const c = cdbRead16(0x1_0000_0002, 7, { fua: true, dpo: true });
    expect(c.length).toBe(16);
    expect(c[0]).toBe(0x88);
    expect(c[1]).toBe(0x18);
    expect(readU64(c, 2)).toBe(0x1_0000_0002);
    expect(c.readUInt32BE(10)).toBe(7);
  });
  test('READ(16) refuses an LBA at or beyond 2^53', () => {
    expect(() => cdbRead16(2 ** 53, 1)).toThrow(RangeError);
  });
  test('READ(10) refuses an LBA beyond 32 bits and a length beyond 16 bits', () => {
    expect(() => cdbRead10(2 ** 32, 1)).toThrow(RangeError);
    expect(() => cdbRead10(0, 65536)).toThrow(RangeError);
  });
  test('READ(6) encodes 256 blocks as 0 and refuses 0 blocks', () => {
    expect(cdbRead6(0x1f_ffff, 256)[4]).toBe(0);
    expect(cdbRead6(0x12_3456, 1).subarray(1, 4)).toEqual(Buffer.from([0x12, 0x34, 0x56]));
    expect(() => cdbRead6(0, 0)).toThrow(RangeError);
    expect(() => cdbRead6(0x20_0000, 1)).toThrow(RangeError);
  });
  test('WRITE(12) and WRITE(16) carry WRPROTECT and the group number', () => {
    expect(cdbWrite12(1, 2, { protect: 1, group: 3 }).subarray(0, 2)).toEqual(Buffer.from([0xaa, 0x20]));
    expect(cdbWrite16(1, 2, { group: 0x1f })[14]).toBe(0x1f);
  });
  test('VERIFY and WRITE AND VERIFY encode BYTCHK in bits 2..1', () => {
    expect(cdbVerify10(0, 1, { bytchk: 1 })[1]).toBe(0x02);
    expect(cdbVerify10(0, 1, { bytchk: 3, dpo: true })[1]).toBe(0x16);
    expect(cdbWriteAndVerify16(0, 1, { bytchk: 1 })[0]).toBe(0x8e);
  });
  test('SYNCHRONIZE CACHE(10) sets IMMED', () => {
    expect(cdbSynchronizeCache10(0, 0, { immed: true }).subarray(0, 2)).toEqual(Buffer.from([0x35, 0x02]));
  });
});

describe('SPC builders', () => {
  test('INQUIRY puts EVPD, page code and a 16-bit allocation length', () => {
    expect([...cdbInquiry({ evpd: true, page: 0x83, alloc: 512 })]).toEqual([0x12, 1, 0x83, 2, 0, 0]);
  });
  test('REPORT LUNS carries SELECT REPORT and a 32-bit allocation length', () => {
    const c = cdbReportLuns({ selectReport: 2, alloc: 1024 });
    expect([c[0], c[2], c.readUInt32BE(6)]).toEqual([0xa0, 2, 1024]);
  });
  test('READ CAPACITY(16) is SERVICE ACTION IN(16) service action 10h', () => {
    const c = cdbReadCapacity16({ alloc: 32 });
    expect([c[0], c[1], c.readUInt32BE(10)]).toEqual([0x9e, 0x10, 32]);
  });
  test('MODE SENSE(6) and (10) carry PC, page, DBD and LLBAA', () => {
    expect([...cdbModeSense6({ page: 0x0a, pc: 1, dbd: true, alloc: 255 })]).toEqual([0x1a, 0x08, 0x4a, 0, 255, 0]);
    const c = cdbModeSense10({ page: 0x3f, llbaa: true, alloc: 300 });
    expect([c[0], c[1], c[2], c.readUInt16BE(7)]).toEqual([0x5a, 0x10, 0x3f, 300]);
  });
  test('REPORT SUPPORTED OPERATION CODES carries RCTD, options, opcode and service action', () => {
    const c = cdbReportSupportedOpcodes({ rctd: true, options: 2, opcode: 0x9e, serviceAction: 0x10, alloc: 100 });
    expect([c[0], c[1], c[2], c[3], c.readUInt16BE(4), c.readUInt32BE(6)]).toEqual([0xa3, 0x0c, 0x82, 0x9e, 0x10, 100]);
  });
  test('START STOP UNIT packs power condition, LOEJ and START', () => {
    expect(cdbStartStopUnit({ loej: true, start: true, immed: true })).toEqual(Buffer.from([0x1b, 1, 0, 0, 3, 0]));
  });
});

describe('LUN encoding (SAM-5 §4.6)', () => {
  test('uses peripheral addressing below 256 and flat addressing above', () => {
    expect([...encodeLun(5)]).toEqual([0, 5, 0, 0, 0, 0, 0, 0]);
    expect([...encodeLun(0x123)]).toEqual([0x41, 0x23, 0, 0, 0, 0, 0, 0]);
  });
  test('decodes what it encodes', () => {
    for (const l of [0, 1, 255, 256, 16383]) expect(decodeLun(encodeLun(l))).toBe(l);
  });
  test('refuses LUNs beyond flat addressing', () => {
    expect(() => encodeLun(16384)).toThrow(RangeError);
  });
});

describe('parsers', () => {
  test('parseReadCapacity10 reports null blocks for FFFFFFFFh', () => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(0xffffffff, 0);
    b.writeUInt32BE(512, 4);
    expect(parseReadCapacity10(b)).toEqual({ lastLba: 0xffffffff, blockLength: 512, blocks: null });
  });
  test('parseReadCapacity16 decodes LBPME, LBPRZ and the exponent', () => {
    const b = Buffer.alloc(32);
    b.writeUInt32BE(1, 0);
    b.writeUInt32BE(7, 4);
    b.writeUInt32BE(4096, 8);
    b[13] = 3;
    b[14] = 0xc0;
    expect(parseReadCapacity16(b)).toMatchObject({ lastLba: 2 ** 32 + 7, blocks: 2 ** 32 + 8, blockLength: 4096, lbppbe: 3, lbpme: true, lbprz: true });
  });
  test('parseReportLuns decodes each LUN', () => {
    const b = Buffer.alloc(24);
    b.writeUInt32BE(16, 0);
    encodeLun(3, b, 8);
    encodeLun(300, b, 16);
    expect(parseReportLuns(b)).toEqual([3, 300]);
  });
  test('parseModeSense splits header, block descriptor and pages', () => {
    const b = Buffer.from([23, 0, 0x90, 8, 0, 0, 0, 100, 0, 0, 2, 0, 0x0a, 10, 0x04, 0x10, 0, 0, 0, 0, 0, 0, 0, 0]);
    const m = parseModeSense(b, false);
    expect(m.writeProtect).toBe(true);
    expect(m.dpofua).toBe(true);
    expect(m.blockDescriptors).toEqual([{ blocks: 100, blockLength: 512 }]);
    expect(m.pages.map((p) => p.pageCode)).toEqual([0x0a]);
  });
  test('parseVpd83 reads designators and their text', () => {
    const name = Buffer.from('iqn.x\0\0\0');
    const b = Buffer.concat([Buffer.from([0, 0x83, 0, 4 + name.length, 0x53, 0xa8, 0, name.length]), name]);
    expect(parseVpd83(b)).toEqual([
      { protocolIdentifier: 5, codeSet: 3, piv: true, association: 2, designatorType: 8, designator: name, text: 'iqn.x' },
    ]);
  });
  test('parseSupportedOpcodesAll follows timeouts descriptors', () => {
    const b = Buffer.alloc(4 + 20 + 8);
    b.writeUInt32BE(28, 0);
    b[4] = 0x28;
    b[9] = 0x02;
    b.writeUInt16BE(10, 10);
    b.writeUInt16BE(0x0a, 12);
    b.writeUInt32BE(30, 20);
    b[24] = 0x9e;
    b.writeUInt16BE(0x10, 26);
    b[29] = 0x01;
    b.writeUInt16BE(16, 30);
    expect(parseSupportedOpcodesAll(b)).toEqual([
      { opcode: 0x28, serviceAction: 0, servactv: false, ctdp: true, cdbLength: 10, timeouts: { commandSpecific: 0, nominal: 0, recommended: 30 } },
      { opcode: 0x9e, serviceAction: 0x10, servactv: true, ctdp: false, cdbLength: 16 },
    ]);
  });
  test('parseSupportedOpcodesOne returns the usage data', () => {
    const b = Buffer.from([0, 3, 0, 6, 0x12, 1, 0xff, 0xff, 0xff, 0]);
    expect(parseSupportedOpcodesOne(b)).toEqual({ support: 3, ctdp: false, usage: Buffer.from([0x12, 1, 0xff, 0xff, 0xff, 0]) });
  });
});
