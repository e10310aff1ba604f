// Text data segment codec (RFC 7143 §6.1): parsing, encoding, C-bit assembly, splitting, value encodings.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  TextAssembler,
  TextFormatError,
  TextSplitter,
  binaryByteLength,
  decodeBase64Constant,
  decodeBinaryValue,
  decodeDecimalConstant,
  decodeHexConstant,
  decodeNumericValue,
  decodeRegularBinaryNumber,
  encodeBase64Constant,
  encodeHexConstant,
  encodeNumericValue,
  encodeTextKeys,
  keyNameProblem,
  parseNumericValue,
  parseTextKeys,
  rfcValueLimit,
  tryParseNumericValue,
  type TextPair,
} from '../../src/pdu/text-keys.js';

const seg = (s: string): Buffer => Buffer.from(s, 'utf8');

function textError(fn: () => unknown): TextFormatError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TextFormatError);
    return e as TextFormatError;
  }
  throw new Error('expected a TextFormatError');
}

describe('parseTextKeys (RFC 7143 §6.1)', () => {
  it('parses NUL-terminated pairs in wire order', () => {
    expect(parseTextKeys(seg('InitiatorName=iqn.2024-01.org.example:i\0SessionType=Normal\0'))).toEqual([
      ['InitiatorName', 'iqn.2024-01.org.example:i'],
      ['SessionType', 'Normal'],
    ]);
  });

  it('keeps a repeated key so the negotiation can refuse it', () => {
    expect(parseTextKeys(seg('MaxBurstLength=512\0MaxBurstLength=1024\0'))).toEqual([
      ['MaxBurstLength', '512'],
      ['MaxBurstLength', '1024'],
    ]);
  });

  it('parses an empty segment as no pairs', () => {
    expect(parseTextKeys(Buffer.alloc(0))).toEqual([]);
  });

  it('keeps everything after the first "=" as the value', () => {
    expect(parseTextKeys(seg('X-com.example.expr=a=b\0'))).toEqual([['X-com.example.expr', 'a=b']]);
  });

  it('accepts an empty value (SendTargets= asks for the current target, §13.3)', () => {
    expect(parseTextKeys(seg('SendTargets=\0'))).toEqual([['SendTargets', '']]);
  });

  it('tolerates NUL padding after the last pair', () => {
    expect(parseTextKeys(seg('A=1\0\0\0\0'))).toEqual([['A', '1']]);
    expect(parseTextKeys(seg('\0\0\0'))).toEqual([]);
  });

  it('refuses an empty pair followed by more text', () => {
    expect(textError(() => parseTextKeys(seg('A=1\0\0B=2\0'))).code).toBe('ERR_TEXT_EMPTY_PAIR');
  });

  it('refuses a last pair without its NUL', () => {
    expect(textError(() => parseTextKeys(seg('A=1\0B=2'))).code).toBe('ERR_TEXT_NOT_TERMINATED');
  });

  it('refuses a pair without "="', () => {
    expect(textError(() => parseTextKeys(seg('HeaderDigest\0'))).code).toBe('ERR_TEXT_MISSING_EQUALS');
  });

  it('accepts a 63-byte key and refuses a 64-byte one', () => {
    const k63 = `X-${'a'.repeat(61)}`;
    expect(parseTextKeys(seg(`${k63}=1\0`))).toEqual([[k63, '1']]);
    const e = textError(() => parseTextKeys(seg(`${k63}b=1\0`)));
    expect(e.code).toBe('ERR_TEXT_KEY_TOO_LONG');
    expect(e.rule).toBe('RFC 7143 §6.1');
  });

  it.each([
    ['a space', 'Max Burst=1'],
    ['a leading digit', '1Key=1'],
    ['an empty key', '=1'],
    ['a "#" outside the X# prefix', 'Foo#Bar=1'],
    ['a non-ASCII byte', 'Kéy=1'],
  ])('refuses a key with %s', (_what, pair) => {
    expect(textError(() => parseTextKeys(seg(`${pair}\0`))).code).toBe('ERR_TEXT_KEY_INVALID');
  });

  it('accepts X- and X# extension keys and iSCSIProtocolLevel', () => {
    expect(keyNameProblem('X-com.example.do_something')).toBeUndefined();
    expect(keyNameProblem('X#NodeArchitecture')).toBeUndefined();
    expect(keyNameProblem('iSCSIProtocolLevel')).toBeUndefined();
  });

  it('accepts a 255-byte value and refuses a 256-byte one', () => {
    expect(parseTextKeys(seg(`TargetAlias=${'a'.repeat(255)}\0`))[0]![1]).toHaveLength(255);
    const e = textError(() => parseTextKeys(seg(`TargetAlias=${'a'.repeat(256)}\0`)));
    expect(e.code).toBe('ERR_TEXT_VALUE_TOO_LONG');
    expect(e.key).toBe('TargetAlias');
  });

  it('counts UTF-8 bytes, not characters, against the 255-byte limit', () => {
    expect(parseTextKeys(seg(`InitiatorAlias=${'é'.repeat(127)}\0`))[0]![1]).toBe('é'.repeat(127));
    expect(textError(() => parseTextKeys(seg(`InitiatorAlias=${'é'.repeat(128)}\0`))).code).toBe('ERR_TEXT_VALUE_TOO_LONG');
  });

  it('applies the 255-byte limit per list element, not per list (§6.1 "not including the delimiter")', () => {
    const long = `${'X-e'.padEnd(200, 'x')},${'Y-e'.padEnd(200, 'y')},None`;
    expect(parseTextKeys(seg(`HeaderDigest=${long}\0`))[0]![1]).toBe(long);
    expect(textError(() => parseTextKeys(seg(`HeaderDigest=${'z'.repeat(256)},None\0`))).code).toBe('ERR_TEXT_VALUE_TOO_LONG');
  });

  it('accepts a 1024-byte CHAP_C in hex or base64 and refuses 1025 bytes (§12.1.3)', () => {
    const b = Buffer.alloc(1024, 0xa5);
    expect(parseTextKeys(seg(`CHAP_C=0x${b.toString('hex')}\0`))).toHaveLength(1);
    expect(parseTextKeys(seg(`CHAP_C=0b${b.toString('base64')}\0`))).toHaveLength(1);
    const c = Buffer.alloc(1025, 0xa5);
    expect(textError(() => parseTextKeys(seg(`CHAP_R=0x${c.toString('hex')}\0`))).code).toBe('ERR_TEXT_VALUE_TOO_LONG');
    expect(textError(() => parseTextKeys(seg(`CHAP_R=0b${c.toString('base64')}\0`))).code).toBe('ERR_TEXT_VALUE_TOO_LONG');
  });

  it('accepts a 65536-byte KRB_AP_REQ and refuses one byte more (§12.1.1)', () => {
    expect(parseTextKeys(seg(`KRB_AP_REQ=0b${Buffer.alloc(65536, 1).toString('base64')}\0`))).toHaveLength(1);
    expect(textError(() => parseTextKeys(seg(`KRB_AP_REQ=0b${Buffer.alloc(65537, 1).toString('base64')}\0`))).code).toBe('ERR_TEXT_VALUE_TOO_LONG');
  });

  it('refuses a value that is not UTF-8', () => {
    const buf = Buffer.concat([seg('TargetAlias='), Buffer.from([0xc3, 0x28]), Buffer.from([0])]);
    expect(textError(() => parseTextKeys(buf)).code).toBe('ERR_TEXT_NOT_UTF8');
  });

  it('makes a target answer a bad Login Request with a Login reject (initiator error)', () => {
    const e = textError(() => parseTextKeys(seg('Oops\0'), { source: 'login-request' }));
    expect(e.action).toBe('login-reject');
    expect(e.loginStatus).toBe(0x0200);
  });

  it('makes a target answer a bad Text Request with a Reject PDU (protocol error)', () => {
    const e = textError(() => parseTextKeys(seg('Oops\0'), { source: 'text-request' }));
    expect(e.action).toBe('reject');
    expect(e.rejectReason).toBe(0x04);
  });

  it('makes an initiator drop the connection on a bad response', () => {
    expect(textError(() => parseTextKeys(seg('Oops\0'), { source: 'response' })).action).toBe('drop');
  });

  it('throws nothing but TextFormatError on random bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          parseTextKeys(Buffer.from(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(TextFormatError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('knows the per-key value limits of §6.1 and §12', () => {
    expect(rfcValueLimit('MaxBurstLength')).toEqual({ kind: 'simple', maxBytes: 255 });
    expect(rfcValueLimit('AuthMethod')).toEqual({ kind: 'list', maxElementBytes: 255 });
    expect(rfcValueLimit('CHAP_R')).toEqual({ kind: 'binary', maxDecodedBytes: 1024 });
    expect(rfcValueLimit('KRB_AP_REP')).toEqual({ kind: 'binary', maxDecodedBytes: 65536 });
  });
});

describe('encodeTextKeys', () => {
  it('writes key=value NUL for each pair', () => {
    expect(encodeTextKeys([['HeaderDigest', 'None'], ['TargetAlias', 'Disk é']]).toString('utf8')).toBe('HeaderDigest=None\0TargetAlias=Disk é\0');
  });

  it('encodes no pairs as an empty segment', () => {
    expect(encodeTextKeys([])).toHaveLength(0);
  });

  it('refuses an invalid key name, a NUL in a value, and an oversize value', () => {
    expect(() => encodeTextKeys([['Bad Key', '1']])).toThrow(TypeError);
    expect(() => encodeTextKeys([['TargetAlias', 'a\0b']])).toThrow(TypeError);
    expect(() => encodeTextKeys([['TargetAlias', 'a'.repeat(256)]])).toThrow(RangeError);
  });

  it('round-trips any valid key set (property)', () => {
    const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9.+@_-]{0,62}$/);
    const value = fc.string({ unit: 'grapheme', maxLength: 60 }).filter((v) => !v.includes('\0') && Buffer.byteLength(v) <= 255);
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 20 }), (pairs) => {
        const ok = pairs.filter(([k]) => rfcValueLimit(k).kind === 'simple') as TextPair[];
        expect(parseTextKeys(encodeTextKeys(ok))).toEqual(ok);
      }),
    );
  });
});

describe('TextAssembler (C bit, RFC 7143 §11.10.2, §11.12.2)', () => {
  it('joins a value split across three PDUs with C=1', () => {
    const a = new TextAssembler();
    expect(a.push(seg('TargetAlias=Da'), true)).toBeUndefined();
    expect(a.pending).toBe(true);
    expect(a.push(seg('tabase Se'), true)).toBeUndefined();
    expect(a.push(seg('rver 1\0'), false)).toEqual([['TargetAlias', 'Database Server 1']]);
    expect(a.pending).toBe(false);
  });

  it('joins a key split in the middle', () => {
    const a = new TextAssembler();
    expect(a.push(seg('MaxBurst'), true)).toBeUndefined();
    expect(a.push(seg('Length=65536\0Initial'), true)).toBeUndefined();
    expect(a.push(seg('R2T=No\0'), false)).toEqual([
      ['MaxBurstLength', '65536'],
      ['InitialR2T', 'No'],
    ]);
  });

  it('accepts empty PDUs in a C=1 run', () => {
    const a = new TextAssembler();
    a.push(seg('A=1'), true);
    a.push(Buffer.alloc(0), true);
    expect(a.push(seg('\0'), false)).toEqual([['A', '1']]);
  });

  it('does not keep a reference to a segment the framer may reuse', () => {
    const a = new TextAssembler();
    const b = seg('TargetAlias=abc');
    a.push(b, true);
    b.fill(0x5a);
    expect(a.push(seg('\0'), false)).toEqual([['TargetAlias', 'abc']]);
  });

  it('refuses text over its bound and forgets the partial text', () => {
    const a = new TextAssembler({ maxBytes: 1000 });
    a.push(Buffer.alloc(600, 0x41), true);
    const e = textError(() => a.push(Buffer.alloc(401, 0x41), true));
    expect(e.code).toBe('ERR_TEXT_TOO_LARGE');
    expect(a.pending).toBe(false);
    expect(a.bufferedBytes).toBe(0);
  });

  it('bounds at 64 KiB by default (RFC 7143 §6.1)', () => {
    const a = new TextAssembler();
    a.push(Buffer.alloc(65536, 0x41), true);
    expect(() => a.push(Buffer.alloc(1, 0x41), false)).toThrow(TextFormatError);
  });

  it('parses any chunking of a key set to the same pairs (property)', () => {
    const whole = encodeTextKeys([
      ['InitiatorName', 'iqn.1994-05.com.redhat:abc'],
      ['TargetAlias', 'Disk ü 1'],
      ['CHAP_C', `0x${'ab'.repeat(100)}`],
    ]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: whole.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((x, y) => x - y), whole.length];
        const a = new TextAssembler();
        let out: TextPair[] | undefined;
        for (let i = 0; i + 1 < points.length; i++) out = a.push(whole.subarray(points[i], points[i + 1]), i + 2 < points.length);
        expect(out).toEqual(parseTextKeys(whole));
      }),
    );
  });
});

describe('TextSplitter', () => {
  it('cuts into segments of at most MaxRecvDataSegmentLength, C=1 on all but the last', () => {
    const data = Buffer.alloc(1300, 0x41);
    const chunks = TextSplitter.split(data, 512);
    expect(chunks.map((c) => c.data.length)).toEqual([512, 512, 276]);
    expect(chunks.map((c) => c.continue)).toEqual([true, true, false]);
    expect(Buffer.concat(chunks.map((c) => c.data))).toEqual(data);
  });

  it('sends an exact multiple without a trailing empty PDU', () => {
    expect(TextSplitter.split(Buffer.alloc(1024), 512).map((c) => c.continue)).toEqual([true, false]);
  });

  it('sends an empty key set as one empty PDU with C=0', () => {
    const s = new TextSplitter([], 8192);
    expect(s.next()).toEqual({ data: Buffer.alloc(0), continue: false });
    expect(s.done).toBe(true);
    expect(s.next()).toBeUndefined();
  });

  it('encodes pairs and round-trips through the assembler', () => {
    const pairs: TextPair[] = Array.from({ length: 40 }, (_, i) => [`X-com.example.k${i}`, 'v'.repeat(50)]);
    const a = new TextAssembler();
    let out: TextPair[] | undefined;
    for (const c of new TextSplitter(pairs, 512)) out = a.push(c.data, c.continue);
    expect(out).toEqual(pairs);
  });

  it('refuses a segment length outside 512 to 2^24-1 (§13.12)', () => {
    expect(() => new TextSplitter(Buffer.alloc(1), 511)).toThrow(RangeError);
    expect(() => new TextSplitter(Buffer.alloc(1), 2 ** 24)).toThrow(RangeError);
  });
});

describe('value encodings (RFC 7143 §6.1)', () => {
  it('reads decimal constants, refusing leading zeros and values from 2^64', () => {
    expect(decodeDecimalConstant('0')).toBe(0n);
    expect(decodeDecimalConstant('8192')).toBe(8192n);
    expect(decodeDecimalConstant('08192')).toBeUndefined();
    expect(decodeDecimalConstant('18446744073709551615')).toBe(2n ** 64n - 1n);
    expect(decodeDecimalConstant('18446744073709551616')).toBeUndefined();
    expect(decodeDecimalConstant('-1')).toBeUndefined();
    expect(decodeDecimalConstant('')).toBeUndefined();
  });

  it('reads hex constants as numbers and as bytes, with an implied leading nibble', () => {
    expect(decodeNumericValue('0x2000')).toBe(8192n);
    expect(decodeNumericValue('0X00ff')).toBe(255n);
    expect(decodeNumericValue('0xffffffffffffffff')).toBe(2n ** 64n - 1n);
    expect(decodeNumericValue('0x10000000000000000')).toBeUndefined();
    expect(decodeHexConstant('0xabc')).toEqual(Buffer.from([0x0a, 0xbc]));
    expect(decodeHexConstant('0x')).toBeUndefined();
    expect(decodeHexConstant('0xg1')).toBeUndefined();
  });

  it('reads base64 constants strictly', () => {
    expect(decodeBase64Constant('0bAQID')).toEqual(Buffer.from([1, 2, 3]));
    expect(decodeBase64Constant('0BAQI=')).toEqual(Buffer.from([1, 2]));
    expect(decodeBase64Constant('0bAQI')).toEqual(Buffer.from([1, 2]));
    expect(decodeBase64Constant('0bA')).toBeUndefined(); // 4k+1 digits
    expect(decodeBase64Constant('0bAR==')).toBeUndefined(); // non-zero trailing bits
    expect(decodeBase64Constant('0bAQ=')).toBeUndefined(); // bad padding
    expect(decodeBase64Constant('0bA*AA')).toBeUndefined();
  });

  it('gives the implicit byte length of binary constants', () => {
    expect(binaryByteLength('0x123')).toBe(2);
    expect(binaryByteLength('0bAQID')).toBe(3);
    expect(binaryByteLength('123')).toBeUndefined();
  });

  it('reads a binary number (TargetPortalGroupTag) in any of the three encodings', () => {
    expect(decodeRegularBinaryNumber('1')).toBe(1n);
    expect(decodeRegularBinaryNumber('0x0001')).toBe(1n);
    expect(decodeRegularBinaryNumber('0bAAE=')).toBe(1n);
    expect(decodeRegularBinaryNumber('0bAAAAAAAAAAAA')).toBeUndefined(); // 9 bytes > 64 bits
  });

  it('reads large binary values as bytes within their limit', () => {
    expect(decodeBinaryValue('0x0102', 2)).toEqual(Buffer.from([1, 2]));
    expect(decodeBinaryValue('0x010203', 2)).toBeUndefined();
    expect(decodeBinaryValue('258')).toBeUndefined(); // a large-binary-value is never decimal
  });

  it('parses numbers with range checks and typed errors', () => {
    expect(parseNumericValue('512', { min: 512, max: 2 ** 24 - 1 })).toBe(512);
    expect(parseNumericValue('0bAAE=', { encoding: 'binary' })).toBe(1);
    expect(textError(() => parseNumericValue('511', { min: 512, key: 'MaxBurstLength' })).code).toBe('ERR_TEXT_VALUE_OUT_OF_RANGE');
    expect(textError(() => parseNumericValue('0bAAE=', {})).code).toBe('ERR_TEXT_VALUE_INVALID');
    expect(textError(() => parseNumericValue('abc', { source: 'response' })).action).toBe('drop');
    expect(tryParseNumericValue('3601', 0, 3600)).toBeUndefined();
    expect(tryParseNumericValue('0xe10', 0, 3600)).toBe(3600);
  });

  it('encodes hex, base64 and decimal constants', () => {
    expect(encodeHexConstant(Uint8Array.of(0, 0xab))).toBe('0x00ab');
    expect(encodeBase64Constant(Uint8Array.of(1, 2))).toBe('0bAQI=');
    expect(encodeNumericValue(8192)).toBe('8192');
    expect(encodeNumericValue(2n ** 64n - 1n)).toBe('18446744073709551615');
    expect(() => encodeNumericValue(-1)).toThrow(RangeError);
  });
});
