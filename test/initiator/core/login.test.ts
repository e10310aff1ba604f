// The Login Phase as PDUs (RFC 7143 §6, §11.12, §11.13) against the project's target-side negotiator:
// stages, the C bit both ways, CHAP and mutual CHAP, status classes.
import { describe, expect, it } from 'vitest';
import { IscsiProtocolError, LoginError } from '../../../src/errors.js';
import { LoginExchange, type LoginExchangeOptions, type LoginStep } from '../../../src/initiator/core/login.js';
import { Opcode } from '../../../src/pdu/constants.js';
import { TextAssembler, encodeTextKeys } from '../../../src/pdu/text-keys.js';
import type { LoginRequestPdu, LoginResponsePdu } from '../../../src/pdu/types.js';
import { TargetLoginNegotiator, type TargetLoginOptions } from '../../../src/login/target-negotiator.js';

const INAME = 'iqn.2026-01.dev.tsiscsi:test';
const TNAME = 'iqn.2026-01.dev.tsiscsi:disk';
const SECRET = 'initiator-secret-123';
const TSECRET = 'target-secret-45678';

const base = (o: Partial<LoginExchangeOptions> = {}): LoginExchangeOptions => ({
  initiatorName: INAME,
  targetName: TNAME,
  isid: '80123456789a',
  tsih: 0,
  cmdSN: 7,
  itt: 0x80000001,
  ...o,
});

/** Cuts text anywhere, in pieces of any size (TextSplitter keeps to the RFC's 512-byte minimum). */
class Pieces {
  #off = 0;
  constructor(
    readonly data: Buffer,
    readonly size: number,
  ) {}
  next(): { data: Buffer; continue: boolean } {
    const end = Math.min(this.data.length, this.#off + this.size);
    const c = { data: this.data.subarray(this.#off, end), continue: end < this.data.length };
    this.#off = end;
    return c;
  }
}

/** A target that speaks Login PDUs with TargetLoginNegotiator, cutting its answers into `chunk`-byte PDUs. */
class FakeLoginTarget {
  readonly neg: TargetLoginNegotiator;
  readonly requests: LoginRequestPdu[] = [];
  #asm = new TextAssembler();
  #pending: { splitter: Pieces; stage: number; transit: boolean; nsg: number; complete: boolean } | undefined;
  statSN = 50;
  constructor(
    opts: TargetLoginOptions,
    readonly chunk = 8192,
  ) {
    this.neg = new TargetLoginNegotiator(opts);
  }

  answer(req: LoginRequestPdu): LoginResponsePdu {
    this.requests.push(req);
    if (this.#pending !== undefined) {
      // The initiator asks for the rest of our text with an empty request.
      expect(req.data.length).toBe(0);
      return this.#piece(req);
    }
    const pairs = this.#asm.push(req.data, req.continue);
    if (pairs === undefined) return this.#resp(req, { transit: false, cont: false, csg: req.csg, nsg: req.csg, data: Buffer.alloc(0) });
    let out;
    try {
      out = this.neg.handleRequest({ stage: req.csg as 0 | 1, transit: req.transit, nextStage: req.nsg as 0 | 1 | 3, pairs });
    } catch (e) {
      const status = (e as IscsiProtocolError).loginStatus ?? 0x0200;
      return this.#resp(req, { transit: false, cont: false, csg: req.csg, nsg: 0, data: Buffer.alloc(0), status });
    }
    this.#pending = { splitter: new Pieces(encodeTextKeys(out.pairs), this.chunk), stage: out.stage, transit: out.transit, nsg: out.nextStage, complete: out.complete };
    return this.#piece(req);
  }

  #piece(req: LoginRequestPdu): LoginResponsePdu {
    const p = this.#pending!;
    const c = p.splitter.next()!;
    if (!c.continue) this.#pending = undefined;
    const transit = !c.continue && p.transit;
    return this.#resp(req, { transit, cont: c.continue, csg: p.stage, nsg: transit ? p.nsg : 0, data: c.data, tsih: transit && p.complete ? 0x1234 : 0 });
  }

  #resp(req: LoginRequestPdu, o: { transit: boolean; cont: boolean; csg: number; nsg: number; data: Buffer; status?: number; tsih?: number }): LoginResponsePdu {
    return {
      opcode: Opcode.LoginResponse,
      transit: o.transit,
      continue: o.cont,
      csg: o.csg,
      nsg: o.nsg,
      versionMax: 0,
      versionActive: 0,
      isid: req.isid,
      tsih: o.tsih ?? 0,
      itt: req.itt,
      statSN: this.statSN++,
      expCmdSN: req.cmdSN,
      maxCmdSN: req.cmdSN + 31,
      statusClass: (o.status ?? 0) >> 8,
      statusDetail: (o.status ?? 0) & 0xff,
      data: o.data,
    };
  }
}

function run(ex: LoginExchange, t: FakeLoginTarget): LoginStep {
  let req = ex.start();
  for (let i = 0; i < 50; i++) {
    const step = ex.receive(t.answer(req));
    if (!('send' in step)) return step;
    req = step.send;
  }
  throw new Error('login did not end');
}

describe('LoginExchange', () => {
  it('logs in without authentication: stages, TSIH, StatSN, numbering', () => {
    const t = new FakeLoginTarget({});
    const step = run(new LoginExchange(base()), t);
    expect('done' in step).toBe(true);
    const done = (step as { done: { tsih: number; expCmdSN: number; params: { session: { targetName?: string } } } }).done;
    expect(done.tsih).toBe(0x1234);
    expect(done.expCmdSN).toBe(7);
    expect(t.requests.every((r) => r.isid === '80123456789a' && r.tsih === 0 && r.itt === 0x80000001 && r.cmdSN === 7)).toBe(true);
    // ExpStatSN follows the target's StatSN from the second request on.
    expect(t.requests[1]!.expStatSN).toBe(51);
  });

  it('authenticates with CHAP', () => {
    const t = new FakeLoginTarget({ auth: { methods: ['CHAP'], chap: { lookup: (n) => (n === 'alice' ? SECRET : undefined) } } });
    const step = run(new LoginExchange(base({ chap: { name: 'alice', secret: SECRET } })), t);
    expect('done' in step).toBe(true);
    expect(t.requests.some((r) => r.data.toString().includes('CHAP_R='))).toBe(true);
  });

  it('authenticates the target too with mutual CHAP', () => {
    const t = new FakeLoginTarget({ auth: { methods: ['CHAP'], chap: { lookup: () => SECRET, mutual: { name: 'target', secret: TSECRET } } } });
    const step = run(new LoginExchange(base({ chap: { name: 'alice', secret: SECRET, mutual: { name: 'target', secret: TSECRET } } })), t);
    expect('done' in step).toBe(true);
  });

  it('reports a wrong secret as LoginError "Authentication failure" with a hint', () => {
    const t = new FakeLoginTarget({ auth: { methods: ['CHAP'], chap: { lookup: () => SECRET } } });
    const e = (() => {
      try {
        run(new LoginExchange(base({ chap: { name: 'alice', secret: 'not-the-secret-at-all' } })), t);
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(LoginError);
    expect(e).toMatchObject({ statusClass: 2, statusDetail: 1 });
    expect((e as Error).message).toMatch(/Authentication failure.*check the CHAP user and secret/);
  });

  it('refuses a target that fails mutual authentication', () => {
    const t = new FakeLoginTarget({ auth: { methods: ['CHAP'], chap: { lookup: () => SECRET, mutual: { name: 'target', secret: 'an-impostor-secret' } } } });
    expect(() => run(new LoginExchange(base({ chap: { name: 'alice', secret: SECRET, mutual: { secret: TSECRET } } })), t)).toThrow(/CHAP_R does not match/);
  });

  it('follows a target that cuts its answers into C-bit pieces', () => {
    const t = new FakeLoginTarget({ auth: { methods: ['CHAP'], chap: { lookup: () => SECRET } } }, 16);
    const step = run(new LoginExchange(base({ chap: { name: 'alice', secret: SECRET } })), t);
    expect('done' in step).toBe(true);
    expect(t.requests.filter((r) => r.data.length === 0).length).toBeGreaterThan(5);
  });

  it('cuts its own requests to the target\'s 8192-byte login limit (here 512) with the C bit', () => {
    const t = new FakeLoginTarget({});
    const ex = new LoginExchange(base({ initiatorAlias: 'a'.repeat(255), maxSendDataSegmentLength: 512, nodeArchitecture: 'n'.repeat(200) }));
    const step = run(ex, t);
    expect('done' in step).toBe(true);
    const cont = t.requests.filter((r) => r.continue);
    expect(cont.length).toBeGreaterThan(0);
    expect(cont.every((r) => !r.transit && r.data.length === 512)).toBe(true);
  });

  it('turns a target error status into LoginError with the status name', () => {
    const ex = new LoginExchange(base());
    const req = ex.start();
    const resp: LoginResponsePdu = { opcode: Opcode.LoginResponse, transit: false, continue: false, csg: 0, nsg: 0, versionMax: 0, versionActive: 0, isid: req.isid, tsih: 0, itt: req.itt, statSN: 0, expCmdSN: 7, maxCmdSN: 7, statusClass: 3, statusDetail: 1, data: Buffer.alloc(0) };
    expect(() => ex.receive(resp)).toThrow(/Service unavailable.*retry later/);
  });

  it('returns a redirection with its address', () => {
    const ex = new LoginExchange(base());
    const req = ex.start();
    const resp: LoginResponsePdu = { opcode: Opcode.LoginResponse, transit: false, continue: false, csg: 0, nsg: 0, versionMax: 0, versionActive: 0, isid: req.isid, tsih: 0, itt: req.itt, statSN: 0, expCmdSN: 7, maxCmdSN: 7, statusClass: 1, statusDetail: 1, data: encodeTextKeys([['TargetAddress', '10.0.0.9:3261,2']]) };
    expect(ex.receive(resp)).toEqual({ redirect: { address: '10.0.0.9:3261,2', permanent: false } });
  });

  it('refuses a response with another ITT', () => {
    const ex = new LoginExchange(base());
    const req = ex.start();
    const t = new FakeLoginTarget({});
    const resp = { ...t.answer(req), itt: 5 };
    expect(() => ex.receive(resp)).toThrow(IscsiProtocolError);
  });

  it('refuses a final response without a TSIH', () => {
    const t = new FakeLoginTarget({});
    const ex = new LoginExchange(base());
    let req = ex.start();
    for (;;) {
      const resp = t.answer(req);
      if (resp.transit && resp.nsg === 3) {
        expect(() => ex.receive({ ...resp, tsih: 0 })).toThrow(/TSIH/);
        return;
      }
      const step = ex.receive(resp);
      req = (step as { send: LoginRequestPdu }).send;
    }
  });
});
