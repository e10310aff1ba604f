// Whole logins (RFC 7143 §6.3, §11.12, §11.13, §12.1.3): TargetLoginNegotiator against InitiatorLoginNegotiator,
// and each against hand-written peers in the style of the RFC 7143 Appendix B examples.
import { describe, expect, it } from 'vitest';
import { IscsiProtocolError } from '../../src/errors.js';
import { LoginStatus, Stage } from '../../src/pdu/constants.js';
import { TextAssembler, TextSplitter, encodeTextKeys, type TextPair } from '../../src/pdu/text-keys.js';
import { chapResponse, encodeChapBinary, type ChapClientOptions } from '../../src/login/chap.js';
import { InitiatorLoginNegotiator, type LoginRequestOutput } from '../../src/login/initiator-negotiator.js';
import { NegotiationError } from '../../src/login/key-negotiator.js';
import { TargetLoginNegotiator, type LoginResponseOutput, type TargetAuthConfig } from '../../src/login/target-negotiator.js';

const INAME = 'iqn.2005-03.org.open-iscsi:client1';
const TNAME = 'iqn.2024-01.org.tsiscsi:disk1';
const SECRET = 'initiator-secret-1';
const TSECRET = 'target-secret-2024';
const SEC = Stage.Security;
const OP = Stage.Operational;
const FFP = Stage.FullFeature;

const chapAuth = (extra: Partial<NonNullable<TargetAuthConfig['chap']>> = {}): TargetAuthConfig => ({
  methods: ['CHAP'],
  chap: { lookup: (n) => (n === 'alice' ? SECRET : undefined), ...extra },
});

/** Send pairs through the text codec, cut at `mrdsl`, as the Login PDUs would carry them. */
function wire(pairs: readonly (readonly [string, string])[], mrdsl: number): TextPair[] {
  const a = new TextAssembler();
  let out: TextPair[] | undefined;
  for (const c of new TextSplitter(encodeTextKeys(pairs), mrdsl)) out = a.push(c.data, c.continue);
  return out!;
}

interface Exchange {
  requests: LoginRequestOutput[];
  responses: LoginResponseOutput[];
}

/** Run a login to its end; the text goes through the codec in 512-byte PDUs. */
function login(initiator: InitiatorLoginNegotiator, target: TargetLoginNegotiator): Exchange {
  const ex: Exchange = { requests: [], responses: [] };
  let req: LoginRequestOutput | undefined = initiator.start();
  for (let round = 0; round < 10 && req !== undefined; round++) {
    ex.requests.push(req);
    const resp = target.handleRequest({ ...req, pairs: wire(req.pairs, 512) });
    ex.responses.push(resp);
    // RFC 7143 §11.13.1: the target never sets T=1 when the request had T=0.
    if (!req.transit) expect(resp.transit).toBe(false);
    req = initiator.handleResponse({ ...resp, pairs: wire(resp.pairs, 512) });
  }
  if (req !== undefined) throw new Error('login did not finish');
  return ex;
}

function protocolError(fn: () => unknown): IscsiProtocolError {
  try {
    fn();
  } catch (e) {
    expect(IscsiProtocolError.is(e)).toBe(true);
    return e as IscsiProtocolError;
  }
  throw new Error('expected an IscsiProtocolError');
}

describe('login without authentication', () => {
  it('completes in two round trips and both ends agree on every value', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, policy: { maxRecvDataSegmentLength: 131072 } });
    const t = new TargetLoginNegotiator({ portalGroupTag: 1, targetAlias: 'disk one', policy: { maxRecvDataSegmentLength: 65536 } });
    const ex = login(i, t);
    expect(ex.requests.map((r) => [r.stage, r.transit, r.nextStage])).toEqual([
      [SEC, true, OP],
      [OP, true, FFP],
    ]);
    expect(ex.responses.map((r) => [r.stage, r.transit, r.nextStage, r.complete])).toEqual([
      [SEC, true, OP, false],
      [OP, true, FFP, true],
    ]);
    expect(ex.responses[0]!.pairs).toEqual([
      ['AuthMethod', 'None'],
      ['TargetPortalGroupTag', '1'],
      ['TargetAlias', 'disk one'],
    ]);
    expect(i.complete && t.complete).toBe(true);
    expect(i.params.session).toEqual(t.params.session);
    expect(i.params.connection.maxSendDataSegmentLength).toBe(t.params.connection.maxRecvDataSegmentLength);
    expect(t.params.connection.maxSendDataSegmentLength).toBe(i.params.connection.maxRecvDataSegmentLength);
    expect(t.params.session).toMatchObject({ initiatorName: INAME, targetName: TNAME, targetPortalGroupTag: 1, targetAlias: 'disk one', initialR2T: true, immediateData: true });
    expect(t.params.connection.authMethod).toBe('None');
    expect(t.authMethod).toBe('None');
  });

  it('completes a Discovery session without a TargetName', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, sessionType: 'Discovery' });
    const t = new TargetLoginNegotiator({ portalGroupTag: 1 });
    login(i, t);
    expect(t.params.session).toMatchObject({ sessionType: 'Discovery', targetName: undefined, errorRecoveryLevel: 0 });
  });

  it('lets the initiator start in the operational stage when no authentication is needed', () => {
    const t = new TargetLoginNegotiator();
    const resp = t.handleRequest({
      stage: OP,
      transit: true,
      nextStage: FFP,
      pairs: [['InitiatorName', INAME], ['TargetName', TNAME], ['SessionType', 'Normal'], ['MaxRecvDataSegmentLength', '8192']],
    });
    expect(resp).toMatchObject({ transit: true, nextStage: FFP, complete: true });
  });

  it('keeps T=0 while the initiator asks for no transit', () => {
    const t = new TargetLoginNegotiator();
    const resp = t.handleRequest({ stage: SEC, transit: false, nextStage: SEC, pairs: [['InitiatorName', INAME], ['TargetName', TNAME], ['AuthMethod', 'None']] });
    expect(resp.transit).toBe(false);
  });
});

describe('login with CHAP', () => {
  it('authenticates the initiator (one-way CHAP) in the RFC 7143 order: AuthMethod, CHAP_A, CHAP_N/R', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, chap: { name: 'alice', secret: SECRET } });
    const t = new TargetLoginNegotiator({ portalGroupTag: 1, auth: chapAuth() });
    const ex = login(i, t);
    const keys = (p: TextPair[]): string[] => p.map(([k]) => k);
    expect(keys(ex.requests[0]!.pairs)).toEqual(['InitiatorName', 'SessionType', 'TargetName', 'AuthMethod']);
    expect(ex.requests[0]!.pairs[3]).toEqual(['AuthMethod', 'CHAP,None']);
    expect(ex.responses[0]!.pairs).toEqual([['AuthMethod', 'CHAP'], ['TargetPortalGroupTag', '1']]);
    expect(ex.requests[1]!.pairs).toEqual([['CHAP_A', '7,6,5']]);
    expect(keys(ex.responses[1]!.pairs)).toEqual(['CHAP_A', 'CHAP_I', 'CHAP_C']);
    expect(ex.responses[1]!.pairs[0]).toEqual(['CHAP_A', '7']);
    expect(keys(ex.requests[2]!.pairs)).toEqual(['CHAP_N', 'CHAP_R']);
    expect(ex.requests[2]!).toMatchObject({ stage: SEC, transit: true, nextStage: OP });
    expect(ex.responses[2]!).toMatchObject({ stage: SEC, transit: true, nextStage: OP, pairs: [] });
    expect(t.chapName).toBe('alice');
    expect(t.params.connection.authMethod).toBe('CHAP');
    expect(i.authMethod).toBe('CHAP');
  });

  it('authenticates both ends with mutual CHAP', () => {
    const chap: ChapClientOptions = { name: 'alice', secret: SECRET, mutual: { name: TNAME, secret: TSECRET } };
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, chap });
    const t = new TargetLoginNegotiator({ portalGroupTag: 1, auth: chapAuth({ mutual: { name: TNAME, secret: TSECRET } }) });
    const ex = login(i, t);
    // Mutual CHAP: the initiator offers CHAP alone, and the target answers CHAP_N/CHAP_R with T=1.
    expect(ex.requests[0]!.pairs[3]).toEqual(['AuthMethod', 'CHAP']);
    expect(ex.requests[2]!.pairs.map(([k]) => k)).toEqual(['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C']);
    expect(ex.responses[2]!.pairs.map(([k]) => k)).toEqual(['CHAP_N', 'CHAP_R']);
    expect(ex.responses[2]!.transit).toBe(true);
    expect(i.complete).toBe(true);
  });

  it('uses the algorithm the initiator prefers among those the target accepts', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, chap: { name: 'alice', secret: SECRET, algorithms: [8, 6, 5] } });
    const t = new TargetLoginNegotiator({ auth: chapAuth({ algorithms: [5, 6] }) });
    const ex = login(i, t);
    expect(ex.responses[1]!.pairs[0]).toEqual(['CHAP_A', '6']);
  });

  it('refuses a wrong secret with Login reject 0x0201', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, chap: { name: 'alice', secret: 'not-the-right-secret' } });
    const t = new TargetLoginNegotiator({ auth: chapAuth() });
    const e = protocolError(() => login(i, t));
    expect(e.action).toBe('login-reject');
    expect(e.loginStatus).toBe(LoginStatus.AuthenticationFailure);
  });

  it('refuses an initiator that offers only None when CHAP is required (0x0201)', () => {
    const t = new TargetLoginNegotiator({ auth: chapAuth() });
    const e = protocolError(() => t.handleRequest({ stage: SEC, transit: true, nextStage: OP, pairs: [['InitiatorName', INAME], ['TargetName', TNAME], ['AuthMethod', 'None']] }));
    expect(e.loginStatus).toBe(0x0201);
  });

  it('refuses an initiator that skips the security stage when authentication is required (0x0201)', () => {
    const t = new TargetLoginNegotiator({ auth: chapAuth() });
    const e = protocolError(() => t.handleRequest({ stage: OP, transit: true, nextStage: FFP, pairs: [['InitiatorName', INAME], ['TargetName', TNAME]] }));
    expect(e.code).toBe('ERR_AUTH_REQUIRED');
    expect(e.loginStatus).toBe(0x0201);
  });

  it('proposes AuthMethod itself when the initiator offers none (§12.1) and proceeds when the initiator answers with CHAP_A', () => {
    const t = new TargetLoginNegotiator({ auth: chapAuth() });
    const r1 = t.handleRequest({ stage: SEC, transit: false, nextStage: SEC, pairs: [['InitiatorName', INAME], ['TargetName', TNAME]] });
    expect(r1.pairs).toEqual([['AuthMethod', 'CHAP']]);
    const r2 = t.handleRequest({ stage: SEC, transit: false, nextStage: SEC, pairs: [['AuthMethod', 'CHAP'], ['CHAP_A', '5']] });
    expect(r2.pairs.map(([k]) => k)).toEqual(['CHAP_A', 'CHAP_I', 'CHAP_C']);
    const id = Number(r2.pairs[1]![1]);
    const c = Buffer.from(r2.pairs[2]![1].slice(2), 'hex');
    const r3 = t.handleRequest({ stage: SEC, transit: true, nextStage: OP, pairs: [['CHAP_N', 'alice'], ['CHAP_R', encodeChapBinary(chapResponse(5, id, SECRET, c))]] });
    expect(r3).toMatchObject({ transit: true, nextStage: OP, pairs: [] });
  });

  it('follows an RFC 7143 Appendix B style exchange with a hand-written initiator (KRB5 offered first, CHAP chosen)', () => {
    const t = new TargetLoginNegotiator({ portalGroupTag: 1, auth: chapAuth({ mutual: { name: 'iqn.1999-07.com.example:diskarray.sn.88', secret: TSECRET } }) });
    const r1 = t.handleRequest({
      stage: SEC,
      transit: false,
      nextStage: SEC,
      pairs: [
        ['InitiatorName', 'iqn.1999-07.com.os:hostid.77'],
        ['TargetName', 'iqn.1999-07.com.example:diskarray.sn.88'],
        ['AuthMethod', 'KRB5,CHAP,None'],
      ],
    });
    expect(r1.pairs).toEqual([['AuthMethod', 'CHAP'], ['TargetPortalGroupTag', '1']]);
    const r2 = t.handleRequest({ stage: SEC, transit: false, nextStage: SEC, pairs: [['CHAP_A', '5']] });
    const id = Number(r2.pairs[1]![1]);
    const challenge = Buffer.from(r2.pairs[2]![1].slice(2), 'hex');
    const myChallenge = Buffer.alloc(16, 0x3c);
    const r3 = t.handleRequest({
      stage: SEC,
      transit: true,
      nextStage: OP,
      pairs: [
        ['CHAP_N', 'alice'],
        ['CHAP_R', encodeChapBinary(chapResponse(5, id, SECRET, challenge))],
        ['CHAP_I', '113'],
        ['CHAP_C', encodeChapBinary(myChallenge)],
      ],
    });
    expect(r3.transit).toBe(true);
    expect(r3.pairs).toEqual([
      ['CHAP_N', 'iqn.1999-07.com.example:diskarray.sn.88'],
      ['CHAP_R', encodeChapBinary(chapResponse(5, 113, TSECRET, myChallenge))],
    ]);
    const r4 = t.handleRequest({
      stage: OP,
      transit: true,
      nextStage: FFP,
      pairs: [
        ['HeaderDigest', 'CRC32C,None'],
        ['DataDigest', 'CRC32C,None'],
        ['MaxRecvDataSegmentLength', '65536'],
      ],
    });
    expect(r4.complete).toBe(true);
    expect(r4.pairs).toEqual([
      ['HeaderDigest', 'CRC32C'],
      ['DataDigest', 'CRC32C'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    expect(t.params.connection).toMatchObject({ headerDigest: 'CRC32C', dataDigest: 'CRC32C', maxSendDataSegmentLength: 65536, authMethod: 'CHAP' });
  });

  it('does not let the initiator transit before CHAP completes', () => {
    const t = new TargetLoginNegotiator({ auth: chapAuth() });
    const r1 = t.handleRequest({ stage: SEC, transit: true, nextStage: OP, pairs: [['InitiatorName', INAME], ['TargetName', TNAME], ['AuthMethod', 'CHAP'], ['CHAP_A', '5']] });
    expect(r1.transit).toBe(false);
    expect(r1.pairs.map(([k]) => k)).toEqual(['AuthMethod', 'CHAP_A', 'CHAP_I', 'CHAP_C']);
  });

  it('refuses CHAP keys out of order', () => {
    const t = new TargetLoginNegotiator({ auth: chapAuth() });
    t.handleRequest({ stage: SEC, transit: false, nextStage: SEC, pairs: [['InitiatorName', INAME], ['TargetName', TNAME], ['AuthMethod', 'CHAP']] });
    const e = protocolError(() => t.handleRequest({ stage: SEC, transit: false, nextStage: SEC, pairs: [['CHAP_N', 'alice'], ['CHAP_R', '0x00']] }));
    expect(e.loginStatus).toBe(0x0201);
  });

  it('drops the connection when the target leaves the security stage without proving itself (mutual CHAP)', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, chap: { name: 'alice', secret: SECRET, mutual: { secret: TSECRET } } });
    i.start();
    i.handleResponse({ stage: SEC, transit: false, nextStage: SEC, pairs: [['AuthMethod', 'CHAP']] });
    i.handleResponse({ stage: SEC, transit: false, nextStage: SEC, pairs: [['CHAP_A', '7'], ['CHAP_I', '1'], ['CHAP_C', `0x${'11'.repeat(32)}`]] });
    const e = protocolError(() => i.handleResponse({ stage: SEC, transit: true, nextStage: OP, pairs: [] }));
    expect(e.code).toBe('ERR_AUTH_INCOMPLETE');
    expect(e.action).toBe('drop');
  });

  it('drops the connection when the target chooses None but the initiator requires mutual CHAP', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, chap: { name: 'alice', secret: SECRET, mutual: { secret: TSECRET } } });
    i.start();
    const e = protocolError(() => i.handleResponse({ stage: SEC, transit: true, nextStage: OP, pairs: [['AuthMethod', 'None']] }));
    expect(e.action).toBe('drop');
  });
});

describe('login policy and stage rules', () => {
  it('chooses authentication per session type, letting Discovery in without CHAP', () => {
    const auth = (id: { sessionType: string }): TargetAuthConfig => (id.sessionType === 'Discovery' ? { methods: ['None'] } : chapAuth());
    const d = new TargetLoginNegotiator({ auth });
    login(new InitiatorLoginNegotiator({ initiatorName: INAME, sessionType: 'Discovery' }), d);
    expect(d.complete).toBe(true);
    const n = new TargetLoginNegotiator({ auth });
    expect(protocolError(() => login(new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME }), n)).loginStatus).toBe(0x0201);
  });

  it('lets the auth callback refuse an unknown target (Login reject 0x0203)', () => {
    const t = new TargetLoginNegotiator({
      auth: (id) => {
        if (id.targetName !== TNAME) throw new IscsiProtocolError('ERR_TARGET_NOT_FOUND', 'no such target', { rule: 'RFC 7143 §11.13.5', action: 'login-reject', loginStatus: LoginStatus.NotFound });
        return { methods: ['None'] };
      },
    });
    const e = protocolError(() => t.handleRequest({ stage: SEC, transit: true, nextStage: OP, pairs: [['InitiatorName', INAME], ['TargetName', 'iqn.2024-01.org.tsiscsi:other'], ['AuthMethod', 'None']] }));
    expect(e.loginStatus).toBe(0x0203);
  });

  it('refuses a request in a stage it did not agree to', () => {
    const t = new TargetLoginNegotiator();
    t.handleRequest({ stage: SEC, transit: false, nextStage: SEC, pairs: [['InitiatorName', INAME], ['TargetName', TNAME], ['AuthMethod', 'None']] });
    const e = protocolError(() => t.handleRequest({ stage: OP, transit: true, nextStage: FFP, pairs: [] }));
    expect(e.code).toBe('ERR_LOGIN_STAGE');
    expect(e.loginStatus).toBe(0x0200);
  });

  it('refuses T=1 with an NSG that is not after the CSG', () => {
    const t = new TargetLoginNegotiator();
    expect(protocolError(() => t.handleRequest({ stage: OP, transit: true, nextStage: OP, pairs: [['InitiatorName', INAME], ['TargetName', TNAME]] })).code).toBe('ERR_LOGIN_STAGE');
  });

  it('holds T=0 while its own offers wait for answers, then completes', () => {
    const t = new TargetLoginNegotiator({ policy: { maxBurstLength: 65536 } });
    const r1 = t.handleRequest({ stage: OP, transit: true, nextStage: FFP, pairs: [['InitiatorName', INAME], ['TargetName', TNAME]] });
    expect(r1.transit).toBe(false);
    expect(r1.pairs).toContainEqual(['MaxBurstLength', '65536']);
    const r2 = t.handleRequest({ stage: OP, transit: true, nextStage: FFP, pairs: [['MaxBurstLength', '65536']] });
    expect(r2).toMatchObject({ transit: true, complete: true });
    expect(t.params.session.maxBurstLength).toBe(65536);
  });

  it('sends an offer with an optional answer in the final response (ImmediateData=No, §6.2.2)', () => {
    const t = new TargetLoginNegotiator({ policy: { immediateData: false } });
    const r = t.handleRequest({ stage: OP, transit: true, nextStage: FFP, pairs: [['InitiatorName', INAME], ['TargetName', TNAME]] });
    expect(r).toMatchObject({ transit: true, complete: true });
    expect(r.pairs).toContainEqual(['ImmediateData', 'No']);
    expect(t.params.session.immediateData).toBe(false);
  });

  it('refuses an initiator that asks to leave the stage without answering its offer', () => {
    const t = new TargetLoginNegotiator({ policy: { maxBurstLength: 65536 } });
    t.handleRequest({ stage: OP, transit: true, nextStage: FFP, pairs: [['InitiatorName', INAME], ['TargetName', TNAME]] });
    const e = protocolError(() => t.handleRequest({ stage: OP, transit: true, nextStage: FFP, pairs: [] }));
    expect(e.code).toBe('ERR_NEGOTIATION_NO_ANSWER');
    expect(e.loginStatus).toBe(0x0200);
  });

  it('has the initiator answer what the target offers and finish', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME });
    const t = new TargetLoginNegotiator({ policy: { maxBurstLength: 65536 } });
    login(i, t);
    expect(i.params.session.maxBurstLength).toBe(65536);
  });

  it('drops the connection when the target moves further than asked', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME });
    i.start();
    const e = protocolError(() => i.handleResponse({ stage: SEC, transit: true, nextStage: FFP, pairs: [['AuthMethod', 'None']] }));
    expect(e.code).toBe('ERR_LOGIN_STAGE');
  });

  it('drops the connection when a transit response carries keys to answer (§11.13.1)', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME });
    i.start();
    i.handleResponse({ stage: SEC, transit: true, nextStage: OP, pairs: [['AuthMethod', 'None']] });
    // TaskReporting was not offered by the initiator: it is the target's own offer, which needs an answer.
    const e = protocolError(() => i.handleResponse({ stage: OP, transit: true, nextStage: FFP, pairs: [['TaskReporting', 'RFC3720']] }));
    expect(e).toBeInstanceOf(NegotiationError);
    expect(e.code).toBe('ERR_LOGIN_TRANSIT');
    expect(e.action).toBe('drop');
  });

  it('accepts an offer with an optional answer in the final response (§6.2.2)', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, sessionType: 'Discovery' });
    i.start();
    i.handleResponse({ stage: SEC, transit: true, nextStage: OP, pairs: [['AuthMethod', 'None']] });
    const answers: TextPair[] = [
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '20'],
      ['ErrorRecoveryLevel', '0'],
      ['OFMarker', 'No'],
    ];
    expect(i.handleResponse({ stage: OP, transit: true, nextStage: FFP, pairs: answers })).toBeUndefined();
    expect(i.complete).toBe(true);
  });

  it('drops the connection when the final response leaves an offer unanswered (§6.2.2)', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME });
    i.start();
    i.handleResponse({ stage: SEC, transit: true, nextStage: OP, pairs: [['AuthMethod', 'None']] });
    const e = protocolError(() => i.handleResponse({ stage: OP, transit: true, nextStage: FFP, pairs: [['HeaderDigest', 'None']] }));
    expect(e.code).toBe('ERR_NEGOTIATION_NO_ANSWER');
  });

  it('lets go of unknown keys in the final response', () => {
    const i = new InitiatorLoginNegotiator({ initiatorName: INAME, targetName: TNAME, policy: { headerDigest: ['None'], dataDigest: ['None'] } });
    i.start();
    i.handleResponse({ stage: SEC, transit: true, nextStage: OP, pairs: [['AuthMethod', 'None']] });
    const answers: TextPair[] = [
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['MaxConnections', '1'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'Yes'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '65536'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '20'],
      ['MaxOutstandingR2T', '1'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
      ['ErrorRecoveryLevel', '0'],
      ['X-com.example.hello', 'world'],
    ];
    expect(i.handleResponse({ stage: OP, transit: true, nextStage: FFP, pairs: answers })).toBeUndefined();
    expect(i.params.session).toMatchObject({ initialR2T: true, maxBurstLength: 262144, firstBurstLength: 65536 });
  });
});
