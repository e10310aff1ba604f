// The target's login phase without a socket (RFC 7143 §6.3, §11.12, §11.13).

import { describe, expect, it } from 'vitest';
import { LoginStatus, Opcode, Stage } from '../../src/pdu/constants.js';
import { encodeTextKeys, parseTextKeys } from '../../src/pdu/text-keys.js';
import type { LoginRequestPdu } from '../../src/pdu/types.js';
import { LoginRefusal, TargetLogin, type LoginRegistry } from '../../src/target/login.js';
import { silent } from './harness.js';

const registry: LoginRegistry = {
  tpgt: 1,
  authorize(ctx) {
    if (ctx.sessionType === 'Normal' && ctx.targetName !== 'iqn.2026-11.test:t') throw new LoginRefusal(LoginStatus.NotFound, 'no such target');
    return { auth: { methods: ['None'] }, policy: {} };
  },
};

function req(keys: [string, string][], over: Partial<LoginRequestPdu> = {}): LoginRequestPdu {
  return {
    opcode: Opcode.LoginRequest,
    transit: true,
    continue: false,
    csg: Stage.Operational,
    nsg: Stage.FullFeature,
    versionMax: 0,
    versionMin: 0,
    isid: '400000000001',
    tsih: 0,
    itt: 1,
    cid: 0,
    cmdSN: 5,
    expStatSN: 0,
    data: encodeTextKeys(keys),
    ...over,
  };
}

const NAMES: [string, string][] = [
  ['InitiatorName', 'iqn.2026-11.test:i'],
  ['TargetName', 'iqn.2026-11.test:t'],
  ['SessionType', 'Normal'],
];

describe('target login', () => {
  it('completes an operational-stage login and builds a final response with the TSIH, T=1 and NSG=3', () => {
    const l = new TargetLogin(registry, silent);
    const step = l.handle(req([...NAMES, ['MaxRecvDataSegmentLength', '65536'], ['HeaderDigest', 'None']]));
    expect(step.kind).toBe('complete');
    if (step.kind !== 'complete') return;
    expect(step.done.params.connection.maxSendDataSegmentLength).toBe(65536);
    const [final] = l.finalResponse(step.done, 77, 5 + 31);
    expect(final).toMatchObject({ transit: true, nsg: Stage.FullFeature, tsih: 77, statusClass: 0, expCmdSN: 5, maxCmdSN: 36, itt: 1 });
    const keys = parseTextKeys(final!.data, { source: 'response' });
    expect(keys.find(([k]) => k === 'TargetPortalGroupTag')?.[1]).toBe('1');
  });

  it('refuses an initiator whose versions exclude 0 (Unsupported version)', () => {
    const step = new TargetLogin(registry, silent).handle(req(NAMES, { versionMin: 1, versionMax: 2 }));
    expect(step.kind).toBe('refuse');
    if (step.kind === 'refuse') expect([step.pdu.statusClass, step.pdu.statusDetail]).toEqual([2, 5]);
  });

  it('refuses a first request without InitiatorName (Missing parameter)', () => {
    const step = new TargetLogin(registry, silent).handle(req([['TargetName', 'iqn.2026-11.test:t']]));
    expect(step.kind).toBe('refuse');
    if (step.kind === 'refuse') expect([step.pdu.statusClass, step.pdu.statusDetail]).toEqual([2, 7]);
  });

  it('refuses a target that does not exist (Not found)', () => {
    const step = new TargetLogin(registry, silent).handle(req([['InitiatorName', 'iqn.2026-11.test:i'], ['TargetName', 'iqn.2026-11.test:x']]));
    expect(step.kind).toBe('refuse');
    if (step.kind === 'refuse') expect([step.pdu.statusClass, step.pdu.statusDetail]).toEqual([2, 3]);
  });

  it('answers a request split with the C bit with an empty response until the text is whole', () => {
    const l = new TargetLogin(registry, silent);
    const whole = encodeTextKeys(NAMES);
    const first = l.handle({ ...req([]), transit: false, continue: true, nsg: 0, data: whole.subarray(0, 20) });
    expect(first.kind).toBe('respond');
    if (first.kind === 'respond') expect(first.pdus[0]).toMatchObject({ transit: false, continue: false, data: Buffer.alloc(0) });
    const second = l.handle({ ...req([]), data: whole.subarray(20) });
    expect(second.kind).toBe('complete');
  });

  it('refuses a login whose ISID changes between requests', () => {
    const l = new TargetLogin(registry, silent);
    l.handle({ ...req(NAMES), transit: false, nsg: 0 });
    const step = l.handle(req([], { isid: '400000000002' }));
    expect(step.kind).toBe('refuse');
  });

  it('numbers login responses with consecutive StatSNs from the initiator\'s ExpStatSN', () => {
    const l = new TargetLogin(registry, silent);
    const a = l.handle({ ...req(NAMES, { expStatSN: 40 }), transit: false, nsg: 0 });
    expect(a.kind === 'respond' && a.pdus[0]!.statSN).toBe(40);
    expect(l.statSN).toBe(41);
  });
});
