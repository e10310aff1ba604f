// Sense data (SPC-4 §4.5): fixed and descriptor builders, the parser, and the errors built on them.
import { describe, expect, test } from 'vitest';
import { ScsiError } from '../../src/errors.js';
import { ASC, SENSE_KEY, STATUS, ascName, opcodeName, senseKeyName, statusName } from '../../src/scsi/constants.js';
import {
  CheckConditionError,
  buildDescriptorSense,
  buildFixedSense,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  parseSense,
  scsiErrorFromStatus,
} from '../../src/scsi/sense.js';

describe('names (SPC-4 Annex D, SAM-5 §5.3)', () => {
  test('statusName names SAM status codes', () => {
    expect(statusName(STATUS.CHECK_CONDITION)).toBe('CHECK CONDITION');
    expect(statusName(STATUS.RESERVATION_CONFLICT)).toBe('RESERVATION CONFLICT');
    expect(statusName(0x77)).toBe('STATUS 0x77');
  });
  test('senseKeyName names sense keys', () => {
    expect(senseKeyName(SENSE_KEY.ILLEGAL_REQUEST)).toBe('ILLEGAL REQUEST');
    expect(senseKeyName(SENSE_KEY.UNIT_ATTENTION)).toBe('UNIT ATTENTION');
  });
  test('ascName gives T10 wording and falls back to the numbers', () => {
    expect(ascName(0x21, 0x00)).toBe('LOGICAL BLOCK ADDRESS OUT OF RANGE');
    expect(ascName(0x29, 0x07)).toBe('I_T NEXUS LOSS OCCURRED');
    expect(ascName(0x3f, 0x0e)).toBe('REPORTED LUNS DATA HAS CHANGED');
    expect(ascName(0x7e, 0x55)).toBe('ASC 0x7e ASCQ 0x55');
  });
  test('every ASC constant has a name', () => {
    for (const code of Object.values(ASC)) expect(ascName(code >> 8, code & 0xff)).not.toMatch(/^ASC 0x/);
  });
  test('opcodeName uses T10 spelling', () => {
    expect(opcodeName(0x28)).toBe('READ(10)');
    expect(opcodeName(0x9e)).toBe('SERVICE ACTION IN(16)');
  });
});

describe('fixed format sense (SPC-4 §4.5.3)', () => {
  test('is 18 bytes with response code 70h and the key, ASC and ASCQ in place', () => {
    const b = buildFixedSense({ key: 5, asc: 0x24, ascq: 0 });
    expect(b.length).toBe(18);
    expect(b[0]).toBe(0x70);
    expect(b[2]).toBe(5);
    expect(b[7]).toBe(10);
    expect([b[12], b[13]]).toEqual([0x24, 0]);
  });
  test('sets VALID and the INFORMATION field', () => {
    const b = buildFixedSense({ key: 0xe, asc: 0x1d, ascq: 0, information: 1234 });
    expect(b[0]).toBe(0xf0);
    expect(b.readUInt32BE(3)).toBe(1234);
  });
  test('leaves VALID clear when the information does not fit 4 bytes', () => {
    const b = buildFixedSense({ key: 0xe, asc: 0x1d, ascq: 0, information: 2 ** 40 });
    expect(b[0]).toBe(0x70);
  });
  test('encodes a field pointer with C/D, BPV and bit pointer (SPC-4 §4.5.2.4.2)', () => {
    const b = buildFixedSense({ key: 5, asc: 0x24, ascq: 0, fieldPointer: { cd: true, field: 1, bit: 7 } });
    expect([b[15], b[16], b[17]]).toEqual([0x80 | 0x40 | 0x08 | 7, 0, 1]);
  });
  test('encodes a byte-wide field pointer without BPV', () => {
    const b = buildFixedSense({ key: 5, asc: 0x26, ascq: 0, fieldPointer: { cd: false, field: 300 } });
    expect([b[15], b.readUInt16BE(16)]).toEqual([0x80, 300]);
  });
  test('marks deferred errors with response code 71h', () => {
    expect(buildFixedSense({ key: 3, asc: 0x0c, ascq: 0, deferred: true })[0]).toBe(0x71);
  });
});

describe('descriptor format sense (SPC-4 §4.5.2)', () => {
  test('has response code 72h and key, ASC, ASCQ in bytes 1..3', () => {
    const b = buildDescriptorSense({ key: 6, asc: 0x29, ascq: 3 });
    expect([...b]).toEqual([0x72, 6, 0x29, 3, 0, 0, 0, 0]);
  });
  test('carries an information descriptor with VALID and an 8-byte field', () => {
    const b = buildDescriptorSense({ key: 0xe, asc: 0x1d, ascq: 0, information: 2 ** 40 + 5 });
    expect(b[7]).toBe(12);
    expect([b[8], b[9], b[10]]).toEqual([0x00, 0x0a, 0x80]);
    expect(parseSense(b).information).toBe(2 ** 40 + 5);
  });
  test('carries a sense key specific descriptor for a field pointer', () => {
    const b = buildDescriptorSense({ key: 5, asc: 0x24, ascq: 0, fieldPointer: { cd: true, field: 2 } });
    expect([b[8], b[9]]).toEqual([0x02, 0x06]);
    expect(parseSense(b).fieldPointer).toEqual({ cd: true, field: 2 });
  });
});

describe('parseSense', () => {
  test('round-trips fixed format with information and field pointer', () => {
    const s = parseSense(buildFixedSense({ key: 5, asc: 0x24, ascq: 0, information: 7, fieldPointer: { cd: true, field: 8, bit: 3 } }));
    expect(s).toMatchObject({ responseCode: 0x70, format: 'fixed', senseKey: 5, asc: 0x24, ascq: 0, information: 7 });
    expect(s.fieldPointer).toEqual({ cd: true, field: 8, bit: 3 });
  });
  test('round-trips descriptor format with both descriptors', () => {
    const s = parseSense(
      buildDescriptorSense({ key: 5, asc: 0x26, ascq: 0, information: 9, fieldPointer: { cd: false, field: 4, bit: 6 } }),
    );
    expect(s).toMatchObject({ format: 'descriptor', senseKey: 5, asc: 0x26, information: 9 });
    expect(s.fieldPointer).toEqual({ cd: false, field: 4, bit: 6 });
  });
  test('reads a progress indication for NOT READY', () => {
    const b = buildFixedSense({ key: 2, asc: 4, ascq: 4 });
    b[15] = 0x80;
    b.writeUInt16BE(0x8000, 16);
    expect(parseSense(b).progress).toBe(0x8000);
  });
  test('tolerates fixed format sense shorter than 18 bytes', () => {
    const s = parseSense(Buffer.from([0x70, 0, 0x06, 0, 0, 0, 0, 0]));
    expect(s).toMatchObject({ senseKey: 6, asc: 0, ascq: 0 });
  });
  test('refuses an unknown response code', () => {
    expect(() => parseSense(Buffer.from([0x7f, 0, 0, 0]))).toThrow(RangeError);
  });
  test('refuses empty sense data', () => {
    expect(() => parseSense(Buffer.alloc(0))).toThrow(RangeError);
  });
});

describe('CheckConditionError', () => {
  test('is a ScsiError naming status, key and ASC', () => {
    const e = invalidFieldInCdb(1, 7);
    expect(e).toBeInstanceOf(ScsiError);
    expect(e.status).toBe(STATUS.CHECK_CONDITION);
    expect(e.senseKeyName).toBe('ILLEGAL REQUEST');
    expect(e.ascName).toBe('INVALID FIELD IN CDB');
    expect(e.message).toContain('INVALID FIELD IN CDB');
  });
  test('builds its sense in the requested format', () => {
    const e = invalidFieldInParameterList(5, 2);
    expect(e.toSense(false)[0]).toBe(0x70);
    expect(e.toSense(true)[0]).toBe(0x72);
    expect(parseSense(e.toSense(true)).fieldPointer).toEqual({ cd: false, field: 5, bit: 2 });
  });
  test('carries the information field', () => {
    const e = new CheckConditionError(SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY_OPERATION, { information: 17 });
    expect(parseSense(e.toSense(false)).information).toBe(17);
  });
});

describe('scsiErrorFromStatus', () => {
  test('decodes the sense for the initiator', () => {
    const e = scsiErrorFromStatus(2, buildFixedSense({ key: 5, asc: 0x21, ascq: 0 }));
    expect(e).toMatchObject({ status: 2, senseKey: 5, asc: 0x21, ascq: 0, ascName: 'LOGICAL BLOCK ADDRESS OUT OF RANGE' });
  });
  test('names a status without sense', () => {
    expect(scsiErrorFromStatus(0x18).statusName).toBe('RESERVATION CONFLICT');
  });
  test('keeps unparseable sense as raw bytes', () => {
    const raw = Buffer.from([1, 2, 3]);
    const e = scsiErrorFromStatus(2, raw);
    expect(e.sense).toBe(raw);
    expect(e.senseKey).toBeUndefined();
  });
});
