// The key table (RFC 7143 §12, §13; RFC 7144): complete, consistent with itself and with the defaults.
import { describe, expect, it } from 'vitest';
import { decodeNumericValue } from '../../src/pdu/text-keys.js';
import {
  KEYS,
  KEY_DEFINITIONS,
  defaultConnectionParams,
  defaultSessionParams,
  iscsiNameProblem,
  isExtensionKey,
  lookupKey,
} from '../../src/login/keys.js';

const key = (name: string) => {
  const d = lookupKey(name);
  expect(d, name).toBeDefined();
  return d!;
};

describe('key table (RFC 7143 §13)', () => {
  it('has every key of RFC 7143 §12.1.3 and §13 and RFC 7144', () => {
    const names = [
      'HeaderDigest', 'DataDigest', 'MaxConnections', 'SendTargets', 'TargetName', 'InitiatorName', 'TargetAlias',
      'InitiatorAlias', 'TargetAddress', 'TargetPortalGroupTag', 'InitialR2T', 'ImmediateData', 'MaxRecvDataSegmentLength',
      'MaxBurstLength', 'FirstBurstLength', 'DefaultTime2Wait', 'DefaultTime2Retain', 'MaxOutstandingR2T', 'DataPDUInOrder',
      'DataSequenceInOrder', 'ErrorRecoveryLevel', 'SessionType', 'AuthMethod', 'CHAP_A', 'CHAP_I', 'CHAP_C', 'CHAP_N', 'CHAP_R',
      'iSCSIProtocolLevel', 'TaskReporting', 'IFMarker', 'OFMarker', 'IFMarkInt', 'OFMarkInt', 'X#NodeArchitecture',
    ];
    for (const n of names) expect(KEYS.has(n), n).toBe(true);
    expect(new Set(KEY_DEFINITIONS.map((d) => d.name)).size).toBe(KEY_DEFINITIONS.length);
  });

  it.each([
    ['MaxBurstLength', 'min', '262144', 512, 2 ** 24 - 1],
    ['FirstBurstLength', 'min', '65536', 512, 2 ** 24 - 1],
    ['MaxConnections', 'min', '1', 1, 65535],
    ['DefaultTime2Wait', 'max', '2', 0, 3600],
    ['DefaultTime2Retain', 'min', '20', 0, 3600],
    ['MaxOutstandingR2T', 'min', '1', 1, 65535],
    ['ErrorRecoveryLevel', 'min', '0', 0, 2],
    ['iSCSIProtocolLevel', 'min', '1', 0, 31],
  ] as const)('%s is a %s numeric key, default %s, range %i..%i', (name, result, def, min, max) => {
    const d = key(name);
    expect(d.type).toBe('numeric');
    expect(d.result).toBe(result);
    expect(d.default).toBe(def);
    expect(d.range).toEqual({ min, max });
    expect(d.use).toBe('LO');
  });

  it.each([
    ['InitialR2T', 'or', 'Yes'],
    ['ImmediateData', 'and', 'Yes'],
    ['DataPDUInOrder', 'or', 'Yes'],
    ['DataSequenceInOrder', 'or', 'Yes'],
  ] as const)('%s is a Boolean %s key, default %s', (name, result, def) => {
    expect(key(name)).toMatchObject({ type: 'boolean', result, default: def, use: 'LO', scope: 'session' });
  });

  it('declares MaxRecvDataSegmentLength per connection, any time, 512 to 2^24-1, default 8192 (§13.12)', () => {
    expect(key('MaxRecvDataSegmentLength')).toMatchObject({ result: 'declarative', scope: 'connection', use: 'ALL', default: '8192', range: { min: 512, max: 2 ** 24 - 1 } });
  });

  it('negotiates the digests per connection at login, CRC32C or None, default None (§13.1)', () => {
    for (const n of ['HeaderDigest', 'DataDigest']) {
      expect(key(n)).toMatchObject({ type: 'list', result: 'first-acceptable', scope: 'connection', use: 'IO', default: 'None', values: ['CRC32C', 'None'] });
    }
  });

  it('records who may send the declarative keys', () => {
    expect(key('InitiatorName').senders).toBe('initiator');
    expect(key('InitiatorAlias').senders).toBe('initiator');
    expect(key('SessionType').senders).toBe('initiator');
    expect(key('TargetAlias').senders).toBe('target');
    expect(key('TargetAddress').senders).toBe('target');
    expect(key('TargetPortalGroupTag').senders).toBe('target');
    expect(key('TargetName')).toMatchObject({ senders: 'both', use: 'IO', targetUse: 'FFPO' });
    expect(key('SendTargets')).toMatchObject({ senders: 'initiator', use: 'FFPO', result: 'request' });
  });

  it('lets only the §12 keys into the SecurityNegotiation stage', () => {
    const anyStage = KEY_DEFINITIONS.filter((d) => d.anyStage && d.use !== 'security').map((d) => d.name).sort();
    expect(anyStage).toEqual(['InitiatorAlias', 'InitiatorName', 'SessionType', 'TargetAddress', 'TargetAlias', 'TargetName', 'TargetPortalGroupTag']);
    for (const n of ['AuthMethod', 'CHAP_A', 'CHAP_I', 'CHAP_C', 'CHAP_N', 'CHAP_R']) expect(key(n).use).toBe('security');
  });

  it('marks as Irrelevant in Discovery sessions exactly the keys RFC 7143 and 7144 say', () => {
    expect(KEY_DEFINITIONS.filter((d) => d.irrelevantInDiscovery).map((d) => d.name).sort()).toEqual(
      ['DataPDUInOrder', 'DataSequenceInOrder', 'FirstBurstLength', 'ImmediateData', 'InitialR2T', 'MaxBurstLength', 'MaxConnections', 'MaxOutstandingR2T', 'TaskReporting', 'iSCSIProtocolLevel'].sort(),
    );
    expect(key('ErrorRecoveryLevel').discoveryValue).toBe('0');
  });

  it('answers the obsolete marker keys as RFC 7143 §13.25 says, never NotUnderstood', () => {
    expect(key('IFMarker').obsoleteAnswer).toBe('markerPolicy');
    expect(key('OFMarker').obsoleteAnswer).toBe('markerPolicy');
    expect(key('IFMarkInt').obsoleteAnswer).toBe('Reject');
    expect(key('OFMarkInt').obsoleteAnswer).toBe('Reject');
  });

  it('lists the TaskReporting values of §13.23', () => {
    expect(key('TaskReporting')).toMatchObject({ values: ['RFC3720', 'ResponseFence', 'FastAbort'], default: 'RFC3720' });
  });

  it('has defaults that are valid for their own key', () => {
    for (const d of KEY_DEFINITIONS) {
      if (d.default === undefined) continue;
      if (d.type === 'numeric') {
        const n = Number(decodeNumericValue(d.default));
        expect(n, d.name).toBeGreaterThanOrEqual(d.range!.min);
        expect(n, d.name).toBeLessThanOrEqual(d.range!.max);
      } else if (d.type === 'boolean') {
        expect(['Yes', 'No'], d.name).toContain(d.default);
      } else if (d.type === 'list' || d.type === 'enum') {
        expect(d.values, d.name).toContain(d.default);
      }
    }
  });

  it('agrees with defaultSessionParams and defaultConnectionParams', () => {
    const s = defaultSessionParams() as unknown as Record<string, unknown>;
    const c = defaultConnectionParams() as unknown as Record<string, unknown>;
    for (const d of KEY_DEFINITIONS) {
      if (d.param === undefined) continue;
      const v = d.scope === 'session' ? s[d.param] : c[d.param];
      const wire = typeof v === 'boolean' ? (v ? 'Yes' : 'No') : String(v);
      expect(wire, d.name).toBe(d.default);
    }
    expect(c['maxRecvDataSegmentLength']).toBe(8192);
    expect(c['maxSendDataSegmentLength']).toBe(8192);
  });

  it('recognises X- and X# extension keys', () => {
    expect(isExtensionKey('X-com.example.foo')).toBe(true);
    expect(isExtensionKey('X#NodeArchitecture')).toBe(true);
    expect(isExtensionKey('MaxBurstLength')).toBe(false);
    expect(lookupKey('X-com.example.foo')).toBeUndefined();
  });
});

describe('iSCSI names', () => {
  it('recognises the three iSCSI name formats (§4.2.7)', () => {
    expect(iscsiNameProblem('iqn.2001-04.com.example:storage.disk2.sys1.xyz')).toBeUndefined();
    expect(iscsiNameProblem('eui.02004567A425678D')).toBeUndefined();
    expect(iscsiNameProblem('naa.52004567BA64678D')).toBeUndefined();
    expect(iscsiNameProblem('naa.62004567BA64678D0123456789ABCDEF')).toBeUndefined();
  });
});
