// The key negotiator (src/login/key-negotiator.ts): text-mode negotiation (RFC 7143 §6.2 to §6.4, §12, §13)
// driven by the key table, as target and as initiator, at login and in Full Feature Phase.
import { describe, expect, it } from 'vitest';
import { IscsiProtocolError } from '../../src/errors.js';
import { Stage } from '../../src/pdu/constants.js';
import type { TextPair } from '../../src/pdu/text-keys.js';
import { KeyNegotiator, NegotiationError, type KeyNegotiatorOptions } from '../../src/login/key-negotiator.js';
import { defaultConnectionParams, defaultSessionParams, type KeyDefinition } from '../../src/login/keys.js';
import type { NegotiationPolicy } from '../../src/login/policy.js';

const INAME = 'iqn.2005-03.org.open-iscsi:client1';
const TNAME = 'iqn.2024-01.org.tsiscsi:disk1';
const SEC = Stage.Security;
const OP = Stage.Operational;

function target(policy: Partial<NegotiationPolicy> = {}, extra: Partial<KeyNegotiatorOptions> = {}): KeyNegotiator {
  return new KeyNegotiator({ role: 'target', policy, local: { targetPortalGroupTag: 1 }, ...extra });
}

function initiator(policy: Partial<NegotiationPolicy> = {}, extra: Partial<KeyNegotiatorOptions> = {}): KeyNegotiator {
  return new KeyNegotiator({ role: 'initiator', policy, local: { initiatorName: INAME, targetName: TNAME }, ...extra });
}

const names: TextPair[] = [
  ['InitiatorName', INAME],
  ['TargetName', TNAME],
];

/** A target that has seen the first Login Request (names only) and answers `pairs` in the operational stage. */
function answer(pairs: TextPair[], policy: Partial<NegotiationPolicy> = {}, peerTransit = false): { neg: KeyNegotiator; out: Map<string, string>; list: TextPair[] } {
  const neg = target(policy);
  const { pairs: list } = neg.step([...names, ...pairs], { stage: OP, peerTransit });
  return { neg, out: new Map(list), list };
}

function negotiationError(fn: () => unknown): NegotiationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NegotiationError);
    return e as NegotiationError;
  }
  throw new Error('expected a NegotiationError');
}

// What the Linux initiator (open-iscsi) offers for a Normal session's operational stage.
const LINUX_NORMAL_OFFER: TextPair[] = [
  ['HeaderDigest', 'None'],
  ['DataDigest', 'None'],
  ['DefaultTime2Wait', '2'],
  ['DefaultTime2Retain', '0'],
  ['IFMarker', 'No'],
  ['OFMarker', 'No'],
  ['ErrorRecoveryLevel', '0'],
  ['InitialR2T', 'No'],
  ['ImmediateData', 'Yes'],
  ['MaxBurstLength', '16776192'],
  ['FirstBurstLength', '262144'],
  ['MaxOutstandingR2T', '1'],
  ['MaxConnections', '1'],
  ['DataPDUInOrder', 'Yes'],
  ['DataSequenceInOrder', 'Yes'],
  ['MaxRecvDataSegmentLength', '262144'],
];

describe('KeyNegotiator as target (answering)', () => {
  it('answers the Linux initiator login with its limits and declares TPGT and MaxRecvDataSegmentLength', () => {
    const neg = target({ maxRecvDataSegmentLength: 65536 });
    const sec = neg.step(
      [
        ['InitiatorName', INAME],
        ['InitiatorAlias', 'client1'],
        ['TargetName', TNAME],
        ['SessionType', 'Normal'],
        ['AuthMethod', 'None'],
      ],
      { stage: SEC, peerTransit: true },
    );
    expect(sec.pairs).toEqual([
      ['AuthMethod', 'None'],
      ['TargetPortalGroupTag', '1'],
    ]);
    const op = neg.step(LINUX_NORMAL_OFFER, { stage: OP, peerTransit: true });
    expect(op.pairs).toEqual([
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
      ['IFMarker', 'Reject'],
      ['OFMarker', 'Reject'],
      ['ErrorRecoveryLevel', '0'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'Yes'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '65536'],
      ['MaxOutstandingR2T', '1'],
      ['MaxConnections', '1'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
      ['MaxRecvDataSegmentLength', '65536'],
    ]);
    expect(neg.pendingAnswers()).toEqual([]);
    const { session, connection } = neg.finish();
    expect(session).toMatchObject({
      sessionType: 'Normal',
      initiatorName: INAME,
      initiatorAlias: 'client1',
      targetName: TNAME,
      targetPortalGroupTag: 1,
      initialR2T: true,
      immediateData: true,
      maxBurstLength: 262144,
      firstBurstLength: 65536,
      defaultTime2Wait: 2,
      defaultTime2Retain: 0,
      errorRecoveryLevel: 0,
      maxConnections: 1,
    });
    expect(connection).toMatchObject({ headerDigest: 'None', dataDigest: 'None', maxRecvDataSegmentLength: 65536, maxSendDataSegmentLength: 262144 });
  });

  it.each(['0', '511', '16777216', 'abc', '0512', '-1', ''])('answers Reject to MaxBurstLength=%s', (v) => {
    const { neg, out } = answer([['MaxBurstLength', v]]);
    expect(out.get('MaxBurstLength')).toBe('Reject');
    expect(neg.finish().session.maxBurstLength).toBe(262144);
  });

  it('accepts a hex numerical value and answers in decimal', () => {
    expect(answer([['MaxBurstLength', '0x10000']]).out.get('MaxBurstLength')).toBe('65536');
  });

  it.each(['yes', 'True', '1', ''])('answers Reject to InitialR2T=%s (a Boolean is Yes or No)', (v) => {
    expect(answer([['InitialR2T', v]]).out.get('InitialR2T')).toBe('Reject');
  });

  it('answers the Minimum for Minimum keys and the Maximum for Maximum keys', () => {
    const { out, neg } = answer([
      ['MaxBurstLength', '1048576'],
      ['MaxOutstandingR2T', '4'],
      ['DefaultTime2Wait', '0'],
      ['DefaultTime2Retain', '60'],
    ], { maxOutstandingR2T: 8 });
    expect(out.get('MaxBurstLength')).toBe('262144');
    expect(out.get('MaxOutstandingR2T')).toBe('4');
    expect(out.get('DefaultTime2Wait')).toBe('2');
    expect(out.get('DefaultTime2Retain')).toBe('20');
    expect(neg.finish().session).toMatchObject({ maxBurstLength: 262144, maxOutstandingR2T: 4, defaultTime2Wait: 2, defaultTime2Retain: 20 });
  });

  it('answers ImmediateData with AND and InitialR2T with OR', () => {
    expect(answer([['ImmediateData', 'Yes']], { immediateData: false }).out.get('ImmediateData')).toBe('No');
    expect(answer([['ImmediateData', 'No']], { immediateData: true }).out.get('ImmediateData')).toBe('No');
    expect(answer([['InitialR2T', 'No']], { initialR2T: true }).out.get('InitialR2T')).toBe('Yes');
    expect(answer([['InitialR2T', 'No']], { initialR2T: false }).out.get('InitialR2T')).toBe('No');
  });

  it('picks the first digest of the initiator list that it accepts (§6.2.1)', () => {
    expect(answer([['HeaderDigest', 'CRC32C,None']]).out.get('HeaderDigest')).toBe('CRC32C');
    expect(answer([['HeaderDigest', 'None,CRC32C']]).out.get('HeaderDigest')).toBe('None');
    expect(answer([['HeaderDigest', 'CRC32C,None']], { headerDigest: ['None'] }).out.get('HeaderDigest')).toBe('None');
  });

  it('ignores list values it does not understand', () => {
    expect(answer([['DataDigest', 'Y-com.example.md9,CRC32C']]).out.get('DataDigest')).toBe('CRC32C');
  });

  it('selects None only when offered, answering Reject when nothing offered is acceptable', () => {
    const { out, neg } = answer([['HeaderDigest', 'CRC32C']], { headerDigest: ['None'] });
    expect(out.get('HeaderDigest')).toBe('Reject');
    expect(neg.finish().connection.headerDigest).toBe('None');
  });

  it('answers FirstBurstLength=Irrelevant when InitialR2T=Yes and ImmediateData=No (§13.14)', () => {
    const { out, neg } = answer([
      ['FirstBurstLength', '65536'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'No'],
    ]);
    expect(out.get('FirstBurstLength')).toBe('Irrelevant');
    expect(neg.finish().session.firstBurstLength).toBe(65536);
  });

  it('never answers a FirstBurstLength above the negotiated MaxBurstLength (§13.14)', () => {
    const { out, neg } = answer(
      [
        ['FirstBurstLength', '262144'],
        ['MaxBurstLength', '16776192'],
      ],
      { maxBurstLength: 65536, firstBurstLength: 262144 },
    );
    expect(out.get('MaxBurstLength')).toBe('65536');
    expect(out.get('FirstBurstLength')).toBe('65536');
    expect(neg.finish().session.firstBurstLength).toBe(65536);
  });

  it('answers MaxOutstandingR2T=1 when ErrorRecoveryLevel > 0 and DataSequenceInOrder=Yes (§13.19)', () => {
    const { out, neg } = answer(
      [
        ['MaxOutstandingR2T', '4'],
        ['ErrorRecoveryLevel', '1'],
        ['DataSequenceInOrder', 'Yes'],
      ],
      { errorRecoveryLevel: 2, maxOutstandingR2T: 8 },
    );
    expect(out.get('ErrorRecoveryLevel')).toBe('1');
    expect(out.get('MaxOutstandingR2T')).toBe('1');
    expect(neg.finish().session.maxOutstandingR2T).toBe(1);
  });

  it('caps ErrorRecoveryLevel at its policy (0 by default)', () => {
    expect(answer([['ErrorRecoveryLevel', '2']]).out.get('ErrorRecoveryLevel')).toBe('0');
  });

  it('answers MaxConnections with its limit of 1', () => {
    expect(answer([['MaxConnections', '8']]).out.get('MaxConnections')).toBe('1');
  });

  it('answers NotUnderstood to unknown keys (§6.2)', () => {
    const { out } = answer([
      ['X-com.example.feature', 'on'],
      ['FutureKey', '1'],
    ]);
    expect(out.get('X-com.example.feature')).toBe('NotUnderstood');
    expect(out.get('FutureKey')).toBe('NotUnderstood');
  });

  it('does not answer declarations', () => {
    const { list } = answer([
      ['InitiatorAlias', 'host'],
      ['MaxRecvDataSegmentLength', '8192'],
      ['X#NodeArchitecture', 'ExampleOS/v1234,ExampleInc_SW_Initiator/1.05a'],
    ]);
    expect(list.map(([k]) => k)).toEqual(['TargetPortalGroupTag', 'MaxRecvDataSegmentLength']);
    expect(list[1]).toEqual(['MaxRecvDataSegmentLength', '262144']);
  });

  it('answers the obsolete markers Reject, or No by policy, and MarkInt always Reject (§13.25)', () => {
    expect(answer([['IFMarker', 'Yes'], ['IFMarkInt', '2048~8192']]).list.slice(0, 2)).toEqual([
      ['IFMarker', 'Reject'],
      ['IFMarkInt', 'Reject'],
    ]);
    expect(answer([['OFMarker', 'No'], ['OFMarkInt', '1~65535']], { markerAnswer: 'No' }).list.slice(0, 2)).toEqual([
      ['OFMarker', 'No'],
      ['OFMarkInt', 'Reject'],
    ]);
  });

  it('takes the initiator MaxRecvDataSegmentLength as the limit of what the target sends (§13.12)', () => {
    const { neg } = answer([['MaxRecvDataSegmentLength', '0x2000']], { maxRecvDataSegmentLength: 131072 });
    expect(neg.finish().connection).toMatchObject({ maxRecvDataSegmentLength: 131072, maxSendDataSegmentLength: 8192 });
  });

  it('keeps 8192 as both limits when nobody declares (§13.12 default)', () => {
    const neg = target();
    neg.step(names, { stage: SEC });
    expect(neg.finish().connection).toMatchObject({ maxRecvDataSegmentLength: 8192, maxSendDataSegmentLength: 8192 });
  });

  it('negotiates iSCSIProtocolLevel with Minimum and TaskReporting as a list', () => {
    const { out, neg } = answer([
      ['iSCSIProtocolLevel', '2'],
      ['TaskReporting', 'FastAbort,ResponseFence,RFC3720'],
    ], { taskReporting: ['RFC3720', 'ResponseFence'] });
    expect(out.get('iSCSIProtocolLevel')).toBe('1');
    expect(out.get('TaskReporting')).toBe('ResponseFence');
    expect(neg.finish().session).toMatchObject({ iSCSIProtocolLevel: 1, taskReporting: 'ResponseFence' });
  });
});

describe('KeyNegotiator protocol errors', () => {
  it('refuses a key sent twice in one Login Request with Login reject 0x0200 (§6.2)', () => {
    const e = negotiationError(() => answer([['MaxBurstLength', '512'], ['MaxBurstLength', '1024']]));
    expect(e.code).toBe('ERR_NEGOTIATION_DUPLICATE');
    expect(e.action).toBe('login-reject');
    expect(e.loginStatus).toBe(0x0200);
    expect(e.key).toBe('MaxBurstLength');
  });

  it('refuses renegotiating a key whose negotiation completed earlier in the login (§6.2)', () => {
    const neg = target();
    neg.step([...names, ['MaxBurstLength', '65536']], { stage: OP });
    expect(negotiationError(() => neg.step([['MaxBurstLength', '65536']], { stage: OP })).code).toBe('ERR_NEGOTIATION_DUPLICATE');
  });

  it('refuses a key offered after it answered the same key (§6.2)', () => {
    const neg = target({ maxBurstLength: 65536 });
    neg.step(names, { stage: OP, peerTransit: true });
    neg.step([['MaxBurstLength', '65536']], { stage: OP });
    expect(negotiationError(() => neg.step([['MaxBurstLength', '512']], { stage: OP })).code).toBe('ERR_NEGOTIATION_DUPLICATE');
  });

  it('refuses a redeclared InitiatorName', () => {
    const neg = target();
    neg.step(names, { stage: SEC });
    expect(negotiationError(() => neg.step([['InitiatorName', INAME]], { stage: OP })).code).toBe('ERR_NEGOTIATION_DUPLICATE');
  });

  it('refuses an unknown key sent twice', () => {
    expect(negotiationError(() => answer([['X-a', '1'], ['X-a', '1']])).code).toBe('ERR_NEGOTIATION_DUPLICATE');
  });

  it.each(['Reject', 'Irrelevant', 'NotUnderstood'])('refuses %s used as an offered value (§6.2)', (v) => {
    expect(negotiationError(() => answer([['MaxBurstLength', v]])).code).toBe('ERR_NEGOTIATION_RESERVED_VALUE');
  });

  it('refuses operational keys in the SecurityNegotiation stage (§12)', () => {
    const e = negotiationError(() => target().step([...names, ['MaxBurstLength', '512']], { stage: SEC }));
    expect(e.code).toBe('ERR_NEGOTIATION_PHASE');
    expect(e.loginStatus).toBe(0x0200);
  });

  it('refuses AuthMethod and CHAP keys in the operational stage', () => {
    expect(negotiationError(() => answer([['AuthMethod', 'None']])).code).toBe('ERR_NEGOTIATION_PHASE');
    expect(negotiationError(() => answer([['CHAP_A', '5']])).code).toBe('ERR_NEGOTIATION_PHASE');
  });

  it('refuses SendTargets during login (FFPO, §13.3)', () => {
    expect(negotiationError(() => answer([['SendTargets', 'All']])).code).toBe('ERR_NEGOTIATION_PHASE');
  });

  it('refuses keys only the target may send', () => {
    expect(negotiationError(() => answer([['TargetAlias', 'x']])).code).toBe('ERR_NEGOTIATION_SENDER');
    expect(negotiationError(() => answer([['TargetPortalGroupTag', '1']])).code).toBe('ERR_NEGOTIATION_SENDER');
  });

  it('refuses leading-only keys on a connection added to a session', () => {
    const neg = target({}, { leading: false });
    const e = negotiationError(() => neg.step([...names, ['MaxBurstLength', '512']], { stage: OP }));
    expect(e.code).toBe('ERR_NEGOTIATION_PHASE');
  });

  it('accepts connection keys on a connection added to a session', () => {
    const neg = target({}, { leading: false });
    const { pairs } = neg.step([...names, ['HeaderDigest', 'CRC32C'], ['MaxRecvDataSegmentLength', '65536']], { stage: OP });
    expect(pairs[0]).toEqual(['HeaderDigest', 'CRC32C']);
  });

  it('requires InitiatorName in the first Login Request (missing parameter 0x0207)', () => {
    const e = negotiationError(() => target().step([['TargetName', TNAME]], { stage: SEC }));
    expect(e.code).toBe('ERR_NEGOTIATION_MISSING_KEY');
    expect(e.loginStatus).toBe(0x0207);
    expect(e.key).toBe('InitiatorName');
  });

  it('requires TargetName in the first Login Request of a Normal session (0x0207)', () => {
    const e = negotiationError(() => target().step([['InitiatorName', INAME]], { stage: SEC }));
    expect(e.loginStatus).toBe(0x0207);
    expect(e.key).toBe('TargetName');
  });

  it('refuses an unknown SessionType with 0x0209', () => {
    expect(negotiationError(() => target().step([...names, ['SessionType', 'Special']], { stage: SEC })).loginStatus).toBe(0x0209);
  });

  it.each(['foo', 'iqn.', 'eui.1234', 'naa.12', `iqn.${'a'.repeat(220)}`, 'iqn.2024-01.org.example:a b'])('refuses InitiatorName=%s', (name) => {
    expect(negotiationError(() => target().step([['InitiatorName', name], ['TargetName', TNAME]], { stage: SEC })).code).toBe('ERR_NEGOTIATION_INVALID_DECLARATION');
  });

  it('refuses a MaxRecvDataSegmentLength declaration out of range', () => {
    expect(negotiationError(() => answer([['MaxRecvDataSegmentLength', '256']])).code).toBe('ERR_NEGOTIATION_INVALID_DECLARATION');
  });

  it('answers a bad Text Request key with a Reject PDU in Full Feature Phase (§6.2)', () => {
    const neg = new KeyNegotiator({ role: 'target', mode: 'text' });
    const e = negotiationError(() => neg.step([['MaxBurstLength', '65536']]));
    expect(e.action).toBe('reject');
    expect(e.rejectReason).toBe(0x04);
  });
});

describe('KeyNegotiator in a Discovery session', () => {
  it('answers the Linux discovery offer, ErrorRecoveryLevel 0 and no TPGT', () => {
    const neg = target({ errorRecoveryLevel: 2 });
    const sec = neg.step([['InitiatorName', INAME], ['SessionType', 'Discovery'], ['AuthMethod', 'None']], { stage: SEC, peerTransit: true });
    expect(sec.pairs).toEqual([['AuthMethod', 'None']]);
    const op = neg.step(
      [
        ['HeaderDigest', 'None'],
        ['DataDigest', 'None'],
        ['DefaultTime2Wait', '2'],
        ['DefaultTime2Retain', '0'],
        ['IFMarker', 'No'],
        ['OFMarker', 'No'],
        ['ErrorRecoveryLevel', '2'],
        ['MaxRecvDataSegmentLength', '32768'],
      ],
      { stage: OP, peerTransit: true },
    );
    expect(op.pairs).toEqual([
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
      ['IFMarker', 'Reject'],
      ['OFMarker', 'Reject'],
      ['ErrorRecoveryLevel', '0'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    expect(neg.finish().session).toMatchObject({ sessionType: 'Discovery', errorRecoveryLevel: 0, maxConnections: 1, targetName: undefined });
  });

  it('answers operational keys Irrelevant (§13 "Irrelevant when: SessionType=Discovery")', () => {
    const neg = target();
    const { pairs } = neg.step(
      [
        ['InitiatorName', INAME],
        ['SessionType', 'Discovery'],
        ['MaxBurstLength', '512'],
        ['InitialR2T', 'No'],
        ['MaxConnections', '4'],
        ['TaskReporting', 'RFC3720'],
      ],
      { stage: OP },
    );
    expect(pairs.slice(0, 4)).toEqual([
      ['MaxBurstLength', 'Irrelevant'],
      ['InitialR2T', 'Irrelevant'],
      ['MaxConnections', 'Irrelevant'],
      ['TaskReporting', 'Irrelevant'],
    ]);
    expect(neg.finish().session).toMatchObject({ maxBurstLength: 262144, initialR2T: true, maxConnections: 1 });
  });

  it('applies SessionType=Discovery to keys before it in the same request', () => {
    const { pairs } = target().step(
      [
        ['InitiatorName', INAME],
        ['MaxBurstLength', '512'],
        ['SessionType', 'Discovery'],
      ],
      { stage: OP },
    );
    expect(pairs[0]).toEqual(['MaxBurstLength', 'Irrelevant']);
  });

  it('answers vendor extension keys NotUnderstood even when known (§13.22)', () => {
    const ext: KeyDefinition = { name: 'X-com.example.mode', section: 'vendor', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'text', result: 'declarative' };
    const neg = target({}, { extensions: [ext] });
    const { pairs } = neg.step([['InitiatorName', INAME], ['SessionType', 'Discovery'], ['X-com.example.mode', 'fast']], { stage: OP });
    expect(pairs[0]).toEqual(['X-com.example.mode', 'NotUnderstood']);
  });
});

describe('KeyNegotiator as target (proposing)', () => {
  it('offers MaxBurstLength when the default is above its limit and the initiator is done', () => {
    const neg = target({ maxBurstLength: 65536, firstBurstLength: 65536 });
    const first = neg.step([...names, ['InitialR2T', 'No']], { stage: OP, peerTransit: false });
    expect(first.pairs.some(([k]) => k === 'MaxBurstLength')).toBe(false);
    const second = neg.step([], { stage: OP, peerTransit: true });
    expect(second.pairs).toEqual([['MaxBurstLength', '65536']]);
    expect(neg.pendingAnswers()).toEqual(['MaxBurstLength']);
    neg.step([['MaxBurstLength', '32768']], { stage: OP, peerTransit: true });
    expect(neg.pendingAnswers()).toEqual([]);
    expect(neg.finish().session).toMatchObject({ maxBurstLength: 32768, firstBurstLength: 32768 });
  });

  it('offers nothing when the defaults suit it', () => {
    expect(target().step(names, { stage: OP, peerTransit: true }).pairs).toEqual([
      ['TargetPortalGroupTag', '1'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
  });

  it('refuses an answer above its Minimum offer', () => {
    const neg = target({ maxBurstLength: 65536 });
    neg.step(names, { stage: OP, peerTransit: true });
    const e = negotiationError(() => neg.step([['MaxBurstLength', '131072']], { stage: OP, peerTransit: true }));
    expect(e.code).toBe('ERR_NEGOTIATION_BAD_ANSWER');
    expect(e.loginStatus).toBe(0x0200);
  });

  it('fails the login when its offer is rejected and the default is unacceptable (§6.2)', () => {
    const neg = target({ maxBurstLength: 65536 });
    neg.step(names, { stage: OP, peerTransit: true });
    expect(negotiationError(() => neg.step([['MaxBurstLength', 'Reject']], { stage: OP })).code).toBe('ERR_NEGOTIATION_UNACCEPTABLE');
  });

  it('refuses to finish while an offer needing an answer is unanswered (§6.2.2)', () => {
    const neg = target({ maxBurstLength: 65536 });
    neg.step(names, { stage: OP, peerTransit: true });
    expect(negotiationError(() => neg.finish()).code).toBe('ERR_NEGOTIATION_NO_ANSWER');
  });
});

describe('KeyNegotiator as initiator', () => {
  it('declares its names and offers AuthMethod in the first Login Request', () => {
    const neg = initiator({ authMethod: ['CHAP', 'None'] }, { local: { initiatorName: INAME, initiatorAlias: 'client1', targetName: TNAME } });
    expect(neg.step([], { stage: SEC }).pairs).toEqual([
      ['InitiatorName', INAME],
      ['InitiatorAlias', 'client1'],
      ['SessionType', 'Normal'],
      ['TargetName', TNAME],
      ['AuthMethod', 'CHAP,None'],
    ]);
  });

  it('offers every operational key of a Normal session, as the Linux initiator does', () => {
    const neg = initiator();
    neg.step([], { stage: SEC });
    const keys = neg.step([['AuthMethod', 'None']], { stage: OP }).pairs.map(([k]) => k);
    expect(keys).toEqual([
      'MaxRecvDataSegmentLength',
      'HeaderDigest',
      'DataDigest',
      'MaxConnections',
      'InitialR2T',
      'ImmediateData',
      'MaxBurstLength',
      'FirstBurstLength',
      'DefaultTime2Wait',
      'DefaultTime2Retain',
      'MaxOutstandingR2T',
      'DataPDUInOrder',
      'DataSequenceInOrder',
      'ErrorRecoveryLevel',
    ]);
  });

  it('offers only the relevant keys in a Discovery session', () => {
    const neg = new KeyNegotiator({ role: 'initiator', local: { initiatorName: INAME, sessionType: 'Discovery' }, policy: { errorRecoveryLevel: 2 } });
    expect(neg.step([], { stage: OP }).pairs).toEqual([
      ['InitiatorName', INAME],
      ['SessionType', 'Discovery'],
      ['MaxRecvDataSegmentLength', '262144'],
      ['HeaderDigest', 'None,CRC32C'],
      ['DataDigest', 'None,CRC32C'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '20'],
      ['ErrorRecoveryLevel', '0'],
    ]);
  });

  it('offers iSCSIProtocolLevel and TaskReporting only when it wants other than the default', () => {
    const neg = initiator({ iSCSIProtocolLevel: 2, taskReporting: ['FastAbort', 'ResponseFence', 'RFC3720'] });
    const out = new Map(neg.step([], { stage: OP }).pairs);
    expect(out.get('iSCSIProtocolLevel')).toBe('2');
    expect(out.get('TaskReporting')).toBe('FastAbort,ResponseFence,RFC3720');
  });

  it('refuses a TaskReporting offer without RFC3720 and ResponseFence (§13.23)', () => {
    expect(() => initiator({ taskReporting: ['FastAbort'] })).toThrow(RangeError);
  });

  it('takes admissible answers', () => {
    const neg = initiator();
    neg.step([], { stage: OP });
    neg.step(
      [
        ['HeaderDigest', 'CRC32C'],
        ['DataDigest', 'None'],
        ['MaxBurstLength', '262144'],
        ['FirstBurstLength', '65536'],
        ['InitialR2T', 'Yes'],
        ['ImmediateData', 'Yes'],
        ['MaxConnections', '1'],
        ['DefaultTime2Wait', '2'],
        ['DefaultTime2Retain', '20'],
        ['MaxOutstandingR2T', '1'],
        ['DataPDUInOrder', 'Yes'],
        ['DataSequenceInOrder', 'Yes'],
        ['ErrorRecoveryLevel', '0'],
        ['MaxRecvDataSegmentLength', '65536'],
        ['TargetPortalGroupTag', '0x0003'],
        ['TargetAlias', 'disk one'],
      ],
      { stage: OP },
    );
    const { session, connection } = neg.finish();
    expect(connection).toMatchObject({ headerDigest: 'CRC32C', dataDigest: 'None', maxRecvDataSegmentLength: 262144, maxSendDataSegmentLength: 65536 });
    expect(session).toMatchObject({ initialR2T: true, maxBurstLength: 262144, targetPortalGroupTag: 3, targetAlias: 'disk one', targetName: TNAME });
  });

  it.each([
    ['MaxBurstLength', '16776193', 'the Minimum cannot exceed the offer'],
    ['DefaultTime2Wait', '1', 'the Maximum cannot be below the offer'],
    ['HeaderDigest', 'MD5', 'not one of the offered values'],
    ['HeaderDigest', 'None,CRC32C', 'not one of the offered values'],
    ['ImmediateData', 'Maybe', 'not Yes or No'],
    ['DataPDUInOrder', 'No', 'the OR of Yes is Yes'],
  ])('drops the connection on %s=%s (%s)', (k, v, why) => {
    const neg = initiator();
    neg.step([], { stage: OP });
    const e = negotiationError(() => neg.step([[k, v]], { stage: OP }));
    expect(e.code).toBe('ERR_NEGOTIATION_BAD_ANSWER');
    expect(e.message).toContain(why);
    expect(e.action).toBe('drop');
  });

  it('drops the connection on the AND of No answered Yes', () => {
    const neg = initiator({ immediateData: false });
    neg.step([], { stage: OP });
    expect(negotiationError(() => neg.step([['ImmediateData', 'Yes']], { stage: OP })).action).toBe('drop');
  });

  it('keeps the default after NotUnderstood from an older target', () => {
    const neg = initiator({ iSCSIProtocolLevel: 2 });
    neg.step([], { stage: OP });
    neg.step([['iSCSIProtocolLevel', 'NotUnderstood']], { stage: OP });
    expect(neg.outcome('iSCSIProtocolLevel')).toBe('NotUnderstood');
    expect(neg.params().session.iSCSIProtocolLevel).toBe(1);
  });

  it('fails when a Reject leaves a value it cannot accept', () => {
    const neg = initiator({ headerDigest: ['CRC32C'] });
    neg.step([], { stage: OP });
    const e = negotiationError(() => neg.step([['HeaderDigest', 'Reject']], { stage: OP }));
    expect(e.code).toBe('ERR_NEGOTIATION_UNACCEPTABLE');
    expect(e.action).toBe('drop');
  });

  it('takes the outcome of an offer whose answer is optional when none comes (§6.2.2)', () => {
    const neg = initiator({ immediateData: false, initialR2T: true });
    neg.step([], { stage: OP });
    const answers: TextPair[] = [
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['MaxConnections', '1'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '65536'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '20'],
      ['MaxOutstandingR2T', '1'],
      ['ErrorRecoveryLevel', '0'],
    ];
    neg.step(answers, { stage: OP });
    const { session } = neg.finish();
    expect(session).toMatchObject({ immediateData: false, initialR2T: true, dataPDUInOrder: true });
  });

  it('answers keys the target offers on its own', () => {
    const neg = initiator({ maxBurstLength: 131072 });
    neg.step([], { stage: OP });
    const { pairs } = neg.step([['MaxBurstLength', '65536'], ['X-com.example.tgt', 'x']], { stage: OP });
    // MaxBurstLength was offered by the initiator, so the target's value is an answer; X- is unknown.
    expect(pairs).toEqual([['X-com.example.tgt', 'NotUnderstood']]);
    expect(neg.outcome('MaxBurstLength')).toBe('65536');
  });

  it('answers a target proposal of a key it did not offer', () => {
    const neg = new KeyNegotiator({ role: 'initiator', local: { initiatorName: INAME, sessionType: 'Discovery' } });
    neg.step([], { stage: OP });
    expect(neg.step([['DataPDUInOrder', 'No']], { stage: OP }).pairs).toEqual([['DataPDUInOrder', 'Irrelevant']]);
  });

  it('accepts TargetAddress several times (§13.8)', () => {
    const neg = initiator();
    neg.step([], { stage: SEC });
    neg.step([['TargetAddress', '10.0.0.1:3260,1'], ['TargetAddress', '[2001:db8::1]:3260,1']], { stage: SEC });
    expect(neg.peerDeclarations('TargetAddress')).toEqual(['10.0.0.1:3260,1', '[2001:db8::1]:3260,1']);
  });

  it('tolerates NotUnderstood for its X#NodeArchitecture declaration (§13.26)', () => {
    const neg = initiator({}, { local: { initiatorName: INAME, targetName: TNAME, nodeArchitecture: 'tsiscsi/0.1' } });
    const { pairs } = neg.step([], { stage: OP });
    expect(pairs).toContainEqual(['X#NodeArchitecture', 'tsiscsi/0.1']);
    expect(() => neg.step([['X#NodeArchitecture', 'NotUnderstood']], { stage: OP })).not.toThrow();
  });

  it('drops the connection when the target sends InitiatorName', () => {
    const neg = initiator();
    neg.step([], { stage: SEC });
    expect(negotiationError(() => neg.step([['InitiatorName', INAME]], { stage: SEC })).action).toBe('drop');
  });

  it('needs an InitiatorName, and a TargetName for Normal sessions', () => {
    expect(() => new KeyNegotiator({ role: 'initiator', local: { targetName: TNAME } })).toThrow(TypeError);
    expect(() => new KeyNegotiator({ role: 'initiator', local: { initiatorName: INAME } })).toThrow(TypeError);
  });
});

describe('KeyNegotiator in Full Feature Phase (text mode, §6.4)', () => {
  const current = () => ({ session: { ...defaultSessionParams(), initiatorName: INAME, targetName: TNAME }, connection: { ...defaultConnectionParams(), maxSendDataSegmentLength: 65536 } });

  it('takes a new MaxRecvDataSegmentLength declaration', () => {
    const neg = new KeyNegotiator({ role: 'target', mode: 'text', current: current() });
    expect(neg.step([['MaxRecvDataSegmentLength', '131072']]).pairs).toEqual([]);
    expect(neg.finish().connection.maxSendDataSegmentLength).toBe(131072);
  });

  it('hands SendTargets to the caller', () => {
    const neg = new KeyNegotiator({ role: 'target', mode: 'text', current: current() });
    expect(neg.step([['SendTargets', 'All']])).toEqual({ pairs: [], delegated: [['SendTargets', 'All']] });
  });

  it('sends queued declarations and offers', () => {
    const neg = new KeyNegotiator({ role: 'initiator', mode: 'text', current: current() });
    neg.offer('MaxRecvDataSegmentLength', '65536');
    expect(neg.step([]).pairs).toEqual([['MaxRecvDataSegmentLength', '65536']]);
    expect(neg.finish().connection.maxRecvDataSegmentLength).toBe(65536);
  });

  it('keeps the values in force for keys not negotiated', () => {
    const neg = new KeyNegotiator({ role: 'target', mode: 'text', current: current() });
    neg.step([['X-com.example.q', '1']]);
    expect(neg.finish().session).toMatchObject({ initiatorName: INAME, targetName: TNAME });
  });
});

describe('KeyNegotiator robustness', () => {
  it('answers or refuses any offered key set without crashing (fuzz)', async () => {
    const fc = (await import('fast-check')).default;
    const keyNames = ['MaxBurstLength', 'FirstBurstLength', 'InitialR2T', 'ImmediateData', 'HeaderDigest', 'DataDigest', 'ErrorRecoveryLevel',
      'MaxOutstandingR2T', 'DefaultTime2Wait', 'TaskReporting', 'iSCSIProtocolLevel', 'MaxRecvDataSegmentLength', 'IFMarker', 'OFMarkInt', 'X-a', 'Zz'];
    const values = ['0', '1', '2', '512', '65536', '0x200', 'Yes', 'No', 'None', 'CRC32C', 'CRC32C,None', 'RFC3720', 'Reject', '', 'x'];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...keyNames), fc.constantFrom(...values)), { maxLength: 12 }), (pairs) => {
        try {
          const { out, neg } = answer(pairs);
          for (const [k] of pairs) if (k !== 'MaxRecvDataSegmentLength') expect(out.has(k), k).toBe(true);
          const { session } = neg.finish();
          expect(session.firstBurstLength).toBeLessThanOrEqual(session.maxBurstLength);
        } catch (e) {
          expect(e).toBeInstanceOf(NegotiationError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('NegotiationError', () => {
  it('is an IscsiProtocolError that cites the rule', () => {
    const e = negotiationError(() => answer([['MaxBurstLength', 'Reject']]));
    expect(e).toBeInstanceOf(IscsiProtocolError);
    expect(e.rule).toBe('RFC 7143 §6.2');
    expect(e.message).toContain('RFC 7143 §6.2');
  });
});
