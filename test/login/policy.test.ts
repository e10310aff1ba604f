// The negotiation policy (src/login/policy.ts): each role's defaults, and how options override them.
import { describe, expect, it } from 'vitest';
import { DEFAULT_INITIATOR_POLICY, DEFAULT_TARGET_POLICY, resolvePolicy } from '../../src/login/policy.js';

describe('default policies', () => {
  it('target: the RFC 7143 defaults, both digests accepted, 256 KiB receive segments, no authentication', () => {
    expect(DEFAULT_TARGET_POLICY).toEqual({
      headerDigest: ['CRC32C', 'None'],
      dataDigest: ['CRC32C', 'None'],
      maxConnections: 1,
      initialR2T: true,
      immediateData: true,
      maxRecvDataSegmentLength: 262144,
      maxBurstLength: 262144,
      firstBurstLength: 65536,
      defaultTime2Wait: 2,
      defaultTime2Retain: 20,
      maxOutstandingR2T: 1,
      dataPDUInOrder: true,
      dataSequenceInOrder: true,
      errorRecoveryLevel: 0,
      iSCSIProtocolLevel: 1,
      taskReporting: ['RFC3720'],
      authMethod: ['None'],
      markerAnswer: 'Reject',
    });
  });

  it('initiator: what the Linux initiator offers', () => {
    expect(DEFAULT_INITIATOR_POLICY).toEqual({
      headerDigest: ['None', 'CRC32C'],
      dataDigest: ['None', 'CRC32C'],
      maxConnections: 1,
      initialR2T: false,
      immediateData: true,
      maxRecvDataSegmentLength: 262144,
      maxBurstLength: 16776192,
      firstBurstLength: 262144,
      defaultTime2Wait: 2,
      defaultTime2Retain: 20,
      maxOutstandingR2T: 1,
      dataPDUInOrder: true,
      dataSequenceInOrder: true,
      errorRecoveryLevel: 0,
      iSCSIProtocolLevel: 1,
      taskReporting: ['RFC3720'],
      authMethod: ['None'],
      markerAnswer: 'Reject',
    });
  });

  it('are frozen and share no list', () => {
    expect(Object.isFrozen(DEFAULT_TARGET_POLICY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_INITIATOR_POLICY)).toBe(true);
    expect(DEFAULT_TARGET_POLICY.taskReporting).not.toBe(DEFAULT_INITIATOR_POLICY.taskReporting);
    expect(DEFAULT_TARGET_POLICY.authMethod).not.toBe(DEFAULT_INITIATOR_POLICY.authMethod);
  });
});

describe('resolvePolicy', () => {
  it('overrides the role defaults with the fields given, and keeps a default for a field given as undefined', () => {
    const p = resolvePolicy('target', { maxBurstLength: 65536, firstBurstLength: undefined });
    expect(p).toEqual({ ...DEFAULT_TARGET_POLICY, maxBurstLength: 65536 });
    expect(resolvePolicy('initiator')).toEqual(DEFAULT_INITIATOR_POLICY);
  });

  it('refuses values a key cannot take', () => {
    expect(() => resolvePolicy('target', { maxBurstLength: 100 })).toThrow(RangeError);
    expect(() => resolvePolicy('target', { initialR2T: 'Yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => resolvePolicy('target', { headerDigest: [] })).toThrow(RangeError);
    expect(() => resolvePolicy('target', { maxRecvDataSegmentLength: 256 })).toThrow(/RFC 7143 §13.12/);
    expect(() => resolvePolicy('initiator', { authMethod: ['SRP' as 'CHAP'] })).toThrow(/not implemented/);
    expect(() => resolvePolicy('initiator', { markerAnswer: 'Yes' as 'No' })).toThrow(/§13.25/);
  });
});
