// CHAP (RFC 1994, RFC 7143 §12.1.3): response hash, verification, both state machines.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CHAP_ALGORITHMS,
  ChapAuthenticator,
  ChapClient,
  ChapConfigError,
  ChapError,
  chapResponse,
  createChallenge,
  encodeChapBinary,
  parseChapAlgorithmList,
  verifyChapResponse,
  type ChapAlgorithmId,
  type RandomBytes,
} from '../../src/login/chap.js';

const SECRET = 'secretsecret1234';
const TARGET_SECRET = 'targetsecret5678';
const CHALLENGE = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);

/** A deterministic random source: counts up from `seed`. */
function counter(seed = 0): RandomBytes {
  let n = seed;
  return (size) => Buffer.from(Array.from({ length: size }, () => n++ & 0xff));
}

function chapError(fn: () => unknown): ChapError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChapError);
    return e as ChapError;
  }
  throw new Error('expected a ChapError');
}

describe('chapResponse: H(id || secret || challenge)', () => {
  // Digests of 0x2a || "secretsecret1234" || 01..10, computed with md5sum, sha1sum, sha256sum and
  // `openssl dgst -sha3-256` over the concatenated bytes.
  it.each([
    [5, '022fa78312aa214a887481831c70cf64'],
    [6, '9fd9b6cedadaf9a1878778b5dede964c13285899'],
    [7, 'b271b0bf34716acee07ef368c8661796008410efd1ed4c4037171ec0f4c0791b'],
    [8, 'e7aa76ab2b52e57be3aef2f869fb072cfd61c51137d60eb92edcba2ba3e02f50'],
  ] as const)('computes the known digest for algorithm %i', (alg, hex) => {
    expect(chapResponse(alg, 42, SECRET, CHALLENGE).toString('hex')).toBe(hex);
  });

  it('equals the hash of the concatenation for any input (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<ChapAlgorithmId>(5, 6, 7, 8),
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ minLength: 1, maxLength: 1024 }),
        (alg, id, secret, challenge) => {
          const h = createHash(CHAP_ALGORITHMS.get(alg)!.hash);
          h.update(Buffer.concat([Buffer.from([id]), secret, challenge]));
          expect(chapResponse(alg, id, secret, challenge)).toEqual(h.digest());
        },
      ),
    );
  });

  it('uses a string secret as its UTF-8 bytes', () => {
    expect(chapResponse(5, 1, 'pässwörd-12345', CHALLENGE)).toEqual(chapResponse(5, 1, Buffer.from('pässwörd-12345', 'utf8'), CHALLENGE));
  });

  it('refuses an identifier outside 0..255', () => {
    expect(() => chapResponse(5, 256, SECRET, CHALLENGE)).toThrow(RangeError);
  });
});

describe('verifyChapResponse', () => {
  it('accepts the right response and refuses a wrong one', () => {
    const r = chapResponse(7, 9, SECRET, CHALLENGE);
    expect(verifyChapResponse(7, 9, SECRET, CHALLENGE, r)).toBe(true);
    const bad = Buffer.from(r);
    bad[31]! ^= 1;
    expect(verifyChapResponse(7, 9, SECRET, CHALLENGE, bad)).toBe(false);
    expect(verifyChapResponse(7, 10, SECRET, CHALLENGE, r)).toBe(false);
  });

  it('refuses a response of the wrong length without throwing', () => {
    expect(verifyChapResponse(7, 9, SECRET, CHALLENGE, Buffer.alloc(16))).toBe(false);
    expect(verifyChapResponse(5, 9, SECRET, CHALLENGE, Buffer.alloc(0))).toBe(false);
  });
});

describe('helpers', () => {
  it('makes challenges at least as long as the digest and never under 16 bytes', () => {
    expect(createChallenge(5)).toHaveLength(16);
    expect(createChallenge(6)).toHaveLength(20);
    expect(createChallenge(7)).toHaveLength(32);
    expect(createChallenge(8)).toHaveLength(32);
  });

  it('encodes binary values as 0x and lower-case hex', () => {
    expect(encodeChapBinary(Uint8Array.of(0xab, 0x01))).toBe('0xab01');
  });

  it('parses a CHAP_A list, ignoring values it does not understand (§6.2.1)', () => {
    expect(parseChapAlgorithmList('7,foo,0x05,256,5')).toEqual([7, 5, 5]);
  });
});

describe('ChapAuthenticator (target)', () => {
  const lookup = (name: string): string | undefined => (name === 'alice' ? SECRET : undefined);

  it('picks the first algorithm of the initiator list that it supports and issues I and C', () => {
    const t = new ChapAuthenticator({ lookup, algorithms: [5, 6], randomBytes: counter(7) });
    const out = t.selectAlgorithm('7,6,5');
    expect(out).toEqual([
      ['CHAP_A', '6'],
      ['CHAP_I', '7'],
      ['CHAP_C', `0x${Buffer.from(Array.from({ length: 20 }, (_, i) => 8 + i)).toString('hex')}`],
    ]);
    expect(t.state).toBe('challenged');
    expect(t.algorithm).toBe(6);
  });

  it('answers a Login reject (authentication failure) when no offered algorithm is supported', () => {
    const t = new ChapAuthenticator({ lookup, algorithms: [7] });
    const e = chapError(() => t.selectAlgorithm('5,99'));
    expect(e.code).toBe('ERR_CHAP_ALGORITHM');
    expect(e.action).toBe('login-reject');
    expect(e.loginStatus).toBe(0x0201);
  });

  it('authenticates an initiator that knows the secret', () => {
    const t = new ChapAuthenticator({ lookup, randomBytes: counter(1) });
    const [, [, i], [, c]] = t.selectAlgorithm('5');
    const id = Number(i);
    const challenge = Buffer.from(c.slice(2), 'hex');
    const out = t.verify([
      ['CHAP_N', 'alice'],
      ['CHAP_R', encodeChapBinary(chapResponse(5, id, SECRET, challenge))],
    ]);
    expect(out).toEqual([]);
    expect(t.state).toBe('authenticated');
    expect(t.authenticatedName).toBe('alice');
    expect(t.mutual).toBe(false);
  });

  it('accepts CHAP_R in base64', () => {
    const t = new ChapAuthenticator({ lookup, randomBytes: counter(1) });
    const [, [, i], [, c]] = t.selectAlgorithm('7');
    const r = chapResponse(7, Number(i), SECRET, Buffer.from(c.slice(2), 'hex'));
    expect(t.verify([['CHAP_N', 'alice'], ['CHAP_R', `0b${r.toString('base64')}`]])).toEqual([]);
  });

  it('refuses a wrong response with authentication failure 0x0201', () => {
    const t = new ChapAuthenticator({ lookup });
    t.selectAlgorithm('5');
    const e = chapError(() => t.verify([['CHAP_N', 'alice'], ['CHAP_R', `0x${'00'.repeat(16)}`]]));
    expect(e.loginStatus).toBe(0x0201);
    expect(e.action).toBe('login-reject');
  });

  it('refuses an unknown CHAP name', () => {
    const t = new ChapAuthenticator({ lookup });
    t.selectAlgorithm('5');
    expect(chapError(() => t.verify([['CHAP_N', 'mallory'], ['CHAP_R', `0x${'00'.repeat(16)}`]])).loginStatus).toBe(0x0201);
  });

  it('refuses a CHAP_R that is not hex or base64', () => {
    const t = new ChapAuthenticator({ lookup });
    t.selectAlgorithm('5');
    expect(chapError(() => t.verify([['CHAP_N', 'alice'], ['CHAP_R', '1234']])).code).toBe('ERR_CHAP_AUTH');
  });

  it('refuses CHAP_N/CHAP_R before CHAP_A', () => {
    const t = new ChapAuthenticator({ lookup });
    expect(chapError(() => t.verify([['CHAP_N', 'alice'], ['CHAP_R', '0x00']])).code).toBe('ERR_CHAP_SEQUENCE');
  });

  it('refuses a configured initiator secret under 96 bits unless allowed', () => {
    const short = (): string => 'short';
    const t = new ChapAuthenticator({ lookup: short, randomBytes: counter() });
    const [, [, i], [, c]] = t.selectAlgorithm('5');
    const r = encodeChapBinary(chapResponse(5, Number(i), 'short', Buffer.from(c.slice(2), 'hex')));
    expect(chapError(() => t.verify([['CHAP_N', 'x'], ['CHAP_R', r]])).code).toBe('ERR_CHAP_SECRET_TOO_SHORT');
    const ok = new ChapAuthenticator({ lookup: short, allowShortSecrets: true, randomBytes: counter() });
    ok.selectAlgorithm('5');
    expect(ok.verify([['CHAP_N', 'x'], ['CHAP_R', r]])).toEqual([]);
  });

  it('answers mutual CHAP with its own name and response', () => {
    const t = new ChapAuthenticator({ lookup, mutual: { name: 'iqn.2024-01.org.example:t', secret: TARGET_SECRET }, randomBytes: counter() });
    const [, [, i], [, c]] = t.selectAlgorithm('7');
    const myChallenge = Buffer.alloc(32, 0x77);
    const out = t.verify([
      ['CHAP_N', 'alice'],
      ['CHAP_R', encodeChapBinary(chapResponse(7, Number(i), SECRET, Buffer.from(c.slice(2), 'hex')))],
      ['CHAP_I', '200'],
      ['CHAP_C', encodeChapBinary(myChallenge)],
    ]);
    expect(out).toEqual([
      ['CHAP_N', 'iqn.2024-01.org.example:t'],
      ['CHAP_R', encodeChapBinary(chapResponse(7, 200, TARGET_SECRET, myChallenge))],
    ]);
    expect(t.mutual).toBe(true);
  });

  it('closes the connection when the initiator reflects the target challenge (§12.1.3)', () => {
    const t = new ChapAuthenticator({ lookup, mutual: { name: 't', secret: TARGET_SECRET } });
    const [, [, i], [, c]] = t.selectAlgorithm('5');
    const e = chapError(() =>
      t.verify([
        ['CHAP_N', 'alice'],
        ['CHAP_R', encodeChapBinary(chapResponse(5, Number(i), SECRET, Buffer.from(c.slice(2), 'hex')))],
        ['CHAP_I', i],
        ['CHAP_C', c],
      ]),
    );
    expect(e.code).toBe('ERR_CHAP_REFLECTED');
    expect(e.action).toBe('drop');
    expect(t.state).not.toBe('authenticated');
  });

  it('refuses mutual CHAP when it has no credentials of its own', () => {
    const t = new ChapAuthenticator({ lookup });
    const [, [, i], [, c]] = t.selectAlgorithm('5');
    const e = chapError(() =>
      t.verify([
        ['CHAP_N', 'alice'],
        ['CHAP_R', encodeChapBinary(chapResponse(5, Number(i), SECRET, Buffer.from(c.slice(2), 'hex')))],
        ['CHAP_I', '1'],
        ['CHAP_C', '0x0102030405060708090a0b0c0d0e0f10'],
      ]),
    );
    expect(e.loginStatus).toBe(0x0201);
  });

  it('refuses an initiator that does not authenticate the target when mutual CHAP is required', () => {
    const t = new ChapAuthenticator({ lookup, mutual: { name: 't', secret: TARGET_SECRET }, requireMutual: true });
    const [, [, i], [, c]] = t.selectAlgorithm('5');
    const r = encodeChapBinary(chapResponse(5, Number(i), SECRET, Buffer.from(c.slice(2), 'hex')));
    expect(chapError(() => t.verify([['CHAP_N', 'alice'], ['CHAP_R', r]])).loginStatus).toBe(0x0201);
  });

  it('refuses an initiator secret equal to its own (one secret per direction, §12.1.3)', () => {
    const t = new ChapAuthenticator({ lookup: () => TARGET_SECRET, mutual: { name: 't', secret: TARGET_SECRET } });
    const [, [, i], [, c]] = t.selectAlgorithm('5');
    const r = encodeChapBinary(chapResponse(5, Number(i), TARGET_SECRET, Buffer.from(c.slice(2), 'hex')));
    expect(chapError(() => t.verify([['CHAP_N', 'alice'], ['CHAP_R', r]])).code).toBe('ERR_CHAP_SHARED_SECRET');
  });

  it('refuses a mutual identifier over 255', () => {
    const t = new ChapAuthenticator({ lookup, mutual: { name: 't', secret: TARGET_SECRET } });
    const [, [, i], [, c]] = t.selectAlgorithm('5');
    const r = encodeChapBinary(chapResponse(5, Number(i), SECRET, Buffer.from(c.slice(2), 'hex')));
    expect(chapError(() => t.verify([['CHAP_N', 'alice'], ['CHAP_R', r], ['CHAP_I', '256'], ['CHAP_C', '0x00112233445566778899aabbccddeeff']])).code).toBe('ERR_CHAP_AUTH');
  });

  it('refuses configurations it cannot honour', () => {
    expect(() => new ChapAuthenticator({ lookup, algorithms: [4 as ChapAlgorithmId] })).toThrow(ChapConfigError);
    expect(() => new ChapAuthenticator({ lookup, requireMutual: true })).toThrow(ChapConfigError);
    expect(() => new ChapAuthenticator({ lookup, mutual: { name: 't', secret: 'short' } })).toThrow(ChapConfigError);
  });
});

describe('ChapClient (initiator)', () => {
  it('offers SHA-256, SHA-1 and MD5 by default (MD5 MUST be offered, §12.1.3)', () => {
    expect(new ChapClient({ name: 'alice', secret: SECRET }).offer()).toEqual([['CHAP_A', '7,6,5']]);
  });

  it('answers CHAP_N and CHAP_R to the target challenge', () => {
    const c = new ChapClient({ name: 'alice', secret: SECRET });
    c.offer();
    expect(c.respond([['CHAP_A', '5'], ['CHAP_I', '42'], ['CHAP_C', encodeChapBinary(CHALLENGE)]])).toEqual([
      ['CHAP_N', 'alice'],
      ['CHAP_R', '0x022fa78312aa214a887481831c70cf64'],
    ]);
    expect(c.authenticated).toBe(true);
  });

  it('accepts the challenge in base64 and the identifier in hex', () => {
    const c = new ChapClient({ name: 'alice', secret: SECRET });
    c.offer();
    const out = c.respond([['CHAP_A', '7'], ['CHAP_I', '0x2a'], ['CHAP_C', `0b${CHALLENGE.toString('base64')}`]]);
    expect(out[1]).toEqual(['CHAP_R', '0xb271b0bf34716acee07ef368c8661796008410efd1ed4c4037171ec0f4c0791b']);
  });

  it('drops the connection when the target picks an algorithm it did not offer', () => {
    const c = new ChapClient({ name: 'alice', secret: SECRET, algorithms: [7] });
    c.offer();
    const e = chapError(() => c.respond([['CHAP_A', '5'], ['CHAP_I', '1'], ['CHAP_C', encodeChapBinary(CHALLENGE)]]));
    expect(e.code).toBe('ERR_CHAP_ALGORITHM');
    expect(e.action).toBe('drop');
  });

  it('refuses a challenge without an identifier', () => {
    const c = new ChapClient({ name: 'alice', secret: SECRET });
    c.offer();
    expect(chapError(() => c.respond([['CHAP_A', '5'], ['CHAP_C', encodeChapBinary(CHALLENGE)]])).action).toBe('drop');
  });

  it('sends its own identifier and challenge for mutual CHAP and verifies the target', () => {
    const c = new ChapClient({ name: 'alice', secret: SECRET, mutual: { name: 'tgt', secret: TARGET_SECRET }, randomBytes: counter(100) });
    c.offer();
    const out = c.respond([['CHAP_A', '7'], ['CHAP_I', '3'], ['CHAP_C', encodeChapBinary(CHALLENGE)]]);
    const myChallenge = Buffer.from(Array.from({ length: 32 }, (_, i) => 101 + i));
    expect(out.slice(2)).toEqual([
      ['CHAP_I', '100'],
      ['CHAP_C', encodeChapBinary(myChallenge)],
    ]);
    expect(c.authenticated).toBe(false);
    c.verifyTarget([['CHAP_N', 'tgt'], ['CHAP_R', encodeChapBinary(chapResponse(7, 100, TARGET_SECRET, myChallenge))]]);
    expect(c.authenticated).toBe(true);
  });

  it('drops the connection when the target response is wrong or from another name', () => {
    const c = new ChapClient({ name: 'alice', secret: SECRET, mutual: { name: 'tgt', secret: TARGET_SECRET }, randomBytes: counter() });
    c.offer();
    c.respond([['CHAP_A', '5'], ['CHAP_I', '3'], ['CHAP_C', encodeChapBinary(CHALLENGE)]]);
    expect(chapError(() => c.verifyTarget([['CHAP_N', 'tgt'], ['CHAP_R', `0x${'00'.repeat(16)}`]])).action).toBe('drop');
    const d = new ChapClient({ name: 'alice', secret: SECRET, mutual: { name: 'tgt', secret: TARGET_SECRET }, randomBytes: counter() });
    d.offer();
    d.respond([['CHAP_A', '5'], ['CHAP_I', '3'], ['CHAP_C', encodeChapBinary(CHALLENGE)]]);
    expect(chapError(() => d.verifyTarget([['CHAP_N', 'other'], ['CHAP_R', `0x${'00'.repeat(16)}`]])).action).toBe('drop');
  });

  it('never sends back the challenge the target sent (§12.1.3)', () => {
    // The random source first yields the target's own challenge bytes, then something else.
    const queue = [Buffer.from([9]), Buffer.from(CHALLENGE), Buffer.alloc(16, 0xee)];
    const c = new ChapClient({ name: 'alice', secret: SECRET, mutual: { secret: TARGET_SECRET }, randomBytes: () => queue.shift()! });
    c.offer();
    const out = c.respond([['CHAP_A', '5'], ['CHAP_I', '3'], ['CHAP_C', encodeChapBinary(CHALLENGE)]]);
    expect(out[3]).toEqual(['CHAP_C', encodeChapBinary(Buffer.alloc(16, 0xee))]);
  });

  it('refuses short secrets and one secret for both directions', () => {
    expect(() => new ChapClient({ name: 'a', secret: 'elevenbytes' })).toThrow(ChapConfigError);
    expect(() => new ChapClient({ name: 'a', secret: 'elevenbytes', allowShortSecrets: true })).not.toThrow();
    expect(() => new ChapClient({ name: 'a', secret: SECRET, mutual: { secret: SECRET } })).toThrow(ChapConfigError);
  });

  it('completes an exchange with ChapAuthenticator for every algorithm, one-way and mutual', () => {
    for (const alg of [5, 6, 7, 8] as const) {
      for (const mutual of [false, true]) {
        const t = new ChapAuthenticator({ lookup: () => SECRET, ...(mutual && { mutual: { name: 'tgt', secret: TARGET_SECRET } }) });
        const c = new ChapClient({ name: 'alice', secret: SECRET, algorithms: [alg], ...(mutual && { mutual: { name: 'tgt', secret: TARGET_SECRET } }) });
        const challenge = t.selectAlgorithm(c.offer()[0]![1]);
        const answer = t.verify(c.respond(challenge));
        if (mutual) c.verifyTarget(answer);
        expect(t.authenticatedName).toBe('alice');
        expect(c.authenticated).toBe(true);
        expect(t.algorithm).toBe(alg);
      }
    }
  });
});
