// SendTargets (RFC 7143 §13.3, Appendix C) over Text Request/Response, with long answers in C-bit pieces
// continued by Target Transfer Tag (§11.10, §11.11).
import { describe, expect, it } from 'vitest';
import { IscsiProtocolError } from '../../../src/errors.js';
import { TextExchange, parseSendTargets, parseTargetAddress } from '../../../src/initiator/core/text.js';
import { Opcode, RESERVED_TAG } from '../../../src/pdu/constants.js';
import { TextAssembler, TextSplitter, encodeTextKeys } from '../../../src/pdu/text-keys.js';
import type { TextRequestPdu, TextResponsePdu } from '../../../src/pdu/types.js';

function exchange() {
  let sn = 10;
  return new TextExchange({ pairs: [['SendTargets', 'All']], itt: 0x80000002, nextCmdSN: () => sn++, expStatSN: () => 77, maxSendDataSegmentLength: 8192 });
}

const resp = (req: TextRequestPdu, o: Partial<TextResponsePdu>): TextResponsePdu => ({
  opcode: Opcode.TextResponse,
  final: true,
  continue: false,
  lun: 0n,
  itt: req.itt,
  ttt: RESERVED_TAG,
  statSN: 1,
  expCmdSN: req.cmdSN + 1,
  maxCmdSN: req.cmdSN + 10,
  data: Buffer.alloc(0),
  ...o,
});

describe('TextExchange', () => {
  it('asks SendTargets=All and reads a one-PDU answer', () => {
    const ex = exchange();
    const req = ex.start();
    expect(req).toMatchObject({ immediate: false, final: true, continue: false, ttt: RESERVED_TAG, cmdSN: 10, expStatSN: 77 });
    expect(new TextAssembler().push(req.data, false)).toEqual([['SendTargets', 'All']]);
    const step = ex.receive(resp(req, { data: encodeTextKeys([['TargetName', 'iqn.a:b'], ['TargetAddress', '1.2.3.4:3260,1']]) }));
    expect(step).toEqual({ done: [['TargetName', 'iqn.a:b'], ['TargetAddress', '1.2.3.4:3260,1']] });
  });

  it('continues a long answer piece by piece with the target\'s TTT, one CmdSN each', () => {
    const pairs = Array.from({ length: 200 }, (_, i) => [['TargetName', `iqn.2026-01.example:target-${i}`], ['TargetAddress', `10.0.${i >> 8}.${i & 255}:3260,1`]] as const).flat();
    const pieces = [...new TextSplitter(encodeTextKeys(pairs), 1024)];
    const ex = exchange();
    let req = ex.start();
    let step;
    for (let i = 0; i < pieces.length; i++) {
      const c = pieces[i]!;
      step = ex.receive(resp(req, { final: !c.continue, continue: c.continue, ttt: c.continue ? 0x500 + i : RESERVED_TAG, data: c.data }));
      if ('send' in step) {
        expect(step.send).toMatchObject({ ttt: 0x500 + i, final: true, continue: false, cmdSN: 11 + i });
        expect(step.send.data.length).toBe(0);
        req = step.send;
      }
    }
    expect(step).toEqual({ done: pairs });
    expect(parseSendTargets((step as { done: [string, string][] }).done)).toHaveLength(200);
  });

  it('refuses a piece without a TTT', () => {
    const ex = exchange();
    const req = ex.start();
    expect(() => ex.receive(resp(req, { final: false, continue: true, data: Buffer.from('Target') }))).toThrow(IscsiProtocolError);
  });
});

describe('SendTargets answers', () => {
  it('parses TargetAddress forms (RFC 7143 §13.8)', () => {
    expect(parseTargetAddress('10.1.1.1:3261,5')).toEqual({ host: '10.1.1.1', port: 3261, portalGroupTag: 5 });
    expect(parseTargetAddress('[fe80::1]:3260,1')).toEqual({ host: 'fe80::1', port: 3260, portalGroupTag: 1 });
    expect(parseTargetAddress('storage.example.com')).toEqual({ host: 'storage.example.com', port: 3260, portalGroupTag: undefined });
    expect(parseTargetAddress('host:99999')).toBeUndefined();
  });

  it('groups addresses under their target', () => {
    expect(parseSendTargets([['TargetName', 'iqn.a:1'], ['TargetAddress', 'h1:3260,1'], ['TargetAddress', 'h2:3260,2'], ['TargetName', 'iqn.a:2']])).toEqual([
      { name: 'iqn.a:1', portals: [{ host: 'h1', port: 3260, portalGroupTag: 1 }, { host: 'h2', port: 3260, portalGroupTag: 2 }] },
      { name: 'iqn.a:2', portals: [] },
    ]);
  });
});
