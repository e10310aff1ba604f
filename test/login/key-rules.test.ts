// The per-key rules (src/login/key-rules.ts) as pure functions; the key negotiator's tests cover them in
// whole negotiations, these pin each rule on its own.
import { describe, expect, it } from 'vitest';
import { LoginStatus, Stage } from '../../src/pdu/constants.js';
import { defaultSessionParams, lookupKey } from '../../src/login/keys.js';
import {
  acceptable,
  admitAnswer,
  answerOffer,
  applyCrossKeyRules,
  crossKeyAnswer,
  declarationProblem,
  fromWire,
  optionalAnswer,
  toWire,
  useProblem,
} from '../../src/login/key-rules.js';

const key = (name: string) => lookupKey(name)!;

describe('wire form (RFC 7143 §6.1)', () => {
  it('joins lists, spells Booleans Yes/No and reads numbers in any numerical form', () => {
    expect(toWire(key('HeaderDigest'), ['CRC32C', 'None'])).toBe('CRC32C,None');
    expect(toWire(key('InitialR2T'), false)).toBe('No');
    expect(toWire(key('MaxBurstLength'), 65536)).toBe('65536');
    expect(fromWire(key('InitialR2T'), 'Yes')).toBe(true);
    expect(fromWire(key('MaxBurstLength'), '0x10000')).toBe(65536);
    expect(fromWire(key('HeaderDigest'), 'CRC32C')).toBe('CRC32C');
  });
});

describe('answering an offer (§6.2.1, §6.2.2)', () => {
  it('applies the result function, and answers Reject to what is not admissible', () => {
    expect(answerOffer(key('ImmediateData'), 'Yes', 'No')).toBe('No');
    expect(answerOffer(key('InitialR2T'), 'No', 'Yes')).toBe('Yes');
    expect(answerOffer(key('MaxBurstLength'), '0x100000', '262144')).toBe('262144');
    expect(answerOffer(key('DefaultTime2Wait'), '1', '2')).toBe('2');
    expect(answerOffer(key('HeaderDigest'), 'X,CRC32C,None', 'None,CRC32C')).toBe('CRC32C');
    expect(answerOffer(key('HeaderDigest'), 'CRC32C', 'None')).toBe('Reject');
    expect(answerOffer(key('InitialR2T'), 'Maybe', 'Yes')).toBe('Reject');
    expect(answerOffer(key('MaxBurstLength'), '100', '262144')).toBe('Reject');
  });

  it('knows when the offer alone decides the outcome', () => {
    expect(optionalAnswer(key('ImmediateData'), 'No')).toBe(true);
    expect(optionalAnswer(key('ImmediateData'), 'Yes')).toBe(false);
    expect(optionalAnswer(key('InitialR2T'), 'Yes')).toBe(true);
    expect(optionalAnswer(key('MaxBurstLength'), '512')).toBe(false);
  });
});

describe('admitting an answer (§6.2)', () => {
  it('takes admissible answers, numbers in decimal', () => {
    expect(admitAnswer(key('MaxBurstLength'), '262144', '0x10000')).toEqual({ result: '65536' });
    expect(admitAnswer(key('HeaderDigest'), 'CRC32C,None', 'None')).toEqual({ result: 'None' });
    expect(admitAnswer(key('InitialR2T'), 'No', 'Yes')).toEqual({ result: 'Yes' });
  });

  it('says why it refuses the others', () => {
    expect(admitAnswer(key('ImmediateData'), 'No', 'Yes')).toEqual({ inadmissible: 'the AND of No is No' });
    expect(admitAnswer(key('InitialR2T'), 'Yes', 'No')).toEqual({ inadmissible: 'the OR of Yes is Yes' });
    expect(admitAnswer(key('MaxBurstLength'), '65536', '262144')).toEqual({ inadmissible: 'the Minimum cannot exceed the offer' });
    expect(admitAnswer(key('DefaultTime2Wait'), '2', '1')).toEqual({ inadmissible: 'the Maximum cannot be below the offer' });
    expect(admitAnswer(key('HeaderDigest'), 'None', 'CRC32C')).toEqual({ inadmissible: 'not one of the offered values' });
    expect(admitAnswer(key('InitialR2T'), 'No', 'Maybe')).toEqual({ inadmissible: 'not Yes or No' });
    expect(admitAnswer(key('SessionType'), 'Normal', 'Normal')).toEqual({ inadmissible: 'this key is not negotiated' });
  });

  it('judges a value left in force by this node’s own value', () => {
    expect(acceptable(key('MaxBurstLength'), '262144', '65536')).toBe(false);
    expect(acceptable(key('MaxBurstLength'), '65536', '262144')).toBe(true);
    expect(acceptable(key('DefaultTime2Wait'), '1', '2')).toBe(false);
    expect(acceptable(key('ImmediateData'), 'Yes', 'No')).toBe(false);
    expect(acceptable(key('InitialR2T'), 'No', 'Yes')).toBe(false);
    expect(acceptable(key('AuthMethod'), 'None', 'CHAP')).toBe(false);
  });
});

describe('who may send a key, and when (§13 "Senders" and "Use", §6.4, §12)', () => {
  it('names the wrong sender and the wrong phase apart', () => {
    expect(useProblem(key('TargetAlias'), 'initiator', Stage.Operational, true)).toMatchObject({ code: 'ERR_NEGOTIATION_SENDER' });
    expect(useProblem(key('MaxBurstLength'), 'initiator', Stage.Security, true)).toMatchObject({ code: 'ERR_NEGOTIATION_PHASE', rule: 'RFC 7143 §12' });
    expect(useProblem(key('MaxBurstLength'), 'initiator', undefined, true)).toMatchObject({ code: 'ERR_NEGOTIATION_PHASE', rule: 'RFC 7143 §6.4' });
    expect(useProblem(key('MaxBurstLength'), 'initiator', Stage.Operational, false)).toMatchObject({ code: 'ERR_NEGOTIATION_PHASE' });
    expect(useProblem(key('SendTargets'), 'initiator', Stage.Operational, true)).toMatchObject({ code: 'ERR_NEGOTIATION_PHASE' });
    expect(useProblem(key('MaxBurstLength'), 'target', Stage.Operational, true)).toBeUndefined();
    expect(useProblem(key('TargetName'), 'target', undefined, true)).toBeUndefined();
  });

  it('checks what a declaration holds', () => {
    expect(declarationProblem(key('InitiatorName'), 'iqn.2005-03.org.open-iscsi:x')).toBeUndefined();
    expect(declarationProblem(key('InitiatorName'), 'bad name')?.why).toMatch(/not an iSCSI name/);
    expect(declarationProblem(key('SessionType'), 'Other')).toEqual({ why: 'is not one of Discovery, Normal', loginStatus: LoginStatus.SessionTypeNotSupported });
    expect(declarationProblem(key('MaxRecvDataSegmentLength'), '256')?.loginStatus).toBe(LoginStatus.InitiatorError);
    expect(declarationProblem(key('TargetAddress'), '')?.why).toBe('is empty');
  });
});

describe('cross-key rules (§13.14, §13.19, §13.21)', () => {
  it('adjusts an answer', () => {
    const values: Record<string, string> = { InitialR2T: 'No', ImmediateData: 'Yes', MaxBurstLength: '65536', ErrorRecoveryLevel: '1', DataSequenceInOrder: 'Yes' };
    const effective = (name: string): string => values[name]!;
    expect(crossKeyAnswer('FirstBurstLength', '262144', effective)).toBe('65536');
    expect(crossKeyAnswer('FirstBurstLength', '8192', effective)).toBe('8192');
    expect(crossKeyAnswer('MaxOutstandingR2T', '4', effective)).toBe('1');
    expect(crossKeyAnswer('MaxBurstLength', '1024', effective)).toBe('1024');
    values['InitialR2T'] = 'Yes';
    values['ImmediateData'] = 'No';
    expect(crossKeyAnswer('FirstBurstLength', '8192', effective)).toBe('Irrelevant');
  });

  it('adjusts the values in force', () => {
    const s = { ...defaultSessionParams(), firstBurstLength: 1 << 20, errorRecoveryLevel: 2, maxOutstandingR2T: 8, sessionType: 'Discovery' as const, maxConnections: 4 };
    applyCrossKeyRules(s);
    expect(s).toMatchObject({ firstBurstLength: s.maxBurstLength, maxOutstandingR2T: 1, maxConnections: 1, errorRecoveryLevel: 0 });
  });
});
