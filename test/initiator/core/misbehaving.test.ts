// A target that breaks the rules must never make the initiator hang, spin or crash: each case ends in a
// typed error, for the command concerned or through connection recovery, within the command's timeout.
import { describe, expect, it } from 'vitest';
import { IscsiProtocolError, TimeoutError } from '../../../src/errors.js';
import { CommandRejectedError } from '../../../src/initiator/errors.js';
import { Opcode, RejectReason } from '../../../src/pdu/constants.js';
import { encodePduToBuffer } from '../../../src/pdu/codec.js';
import { Harness, LUN1, READ10, flush, track } from './harness.js';

describe('a misbehaving target', () => {
  it('sending Data-In for an ITT no command has: the connection is given up', () => {
    const h = new Harness();
    void h.core.submit({ lun: LUN1, cdb: READ10, readLength: 512 });
    h.commands();
    h.dataIn({ itt: 0x1234 }, { data: Buffer.alloc(512), statusPresent: true });
    expect(h.failures).toHaveLength(1);
    expect(h.failures[0]).toBeInstanceOf(IscsiProtocolError);
    expect(h.failures[0]).toMatchObject({ code: 'ERR_UNKNOWN_ITT' });
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'protocol-error' }));
  });

  it('answering a command twice: the second answer is a stale ITT, never a second completion', async () => {
    const h = new Harness();
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10 }));
    const [c] = h.commands();
    h.response(c!);
    h.response(c!);
    await flush();
    expect(r.state).toBe('fulfilled');
    expect(h.core.stats.completed).toBe(1);
    expect(h.failures[0]).toMatchObject({ code: 'ERR_UNKNOWN_ITT' });
  });

  it('ignores PDUs once the connection is given up', () => {
    const h = new Harness();
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10 }));
    const [c] = h.commands();
    h.response({ itt: 999 });
    h.response(c!);
    expect(h.failures).toHaveLength(1);
    expect(r.state).toBe('pending');
  });

  it('staying silent: the command times out, is aborted, and the silence is detected', async () => {
    const h = new Harness({ keepalive: { interval: 5000, timeout: 5000, windowStall: 1000 }, tmfTimeout: 3000 });
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 512, timeout: 2000 }));
    h.commands();
    for (let t = 0; t < 30_000 && h.failures.length === 0; t += 100) h.clock.advance(100);
    await flush();
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect(h.failures).toHaveLength(1);
  });

  it('rejecting a command: it fails with the reason', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10 });
    const [c] = h.commands();
    h.feed({ opcode: Opcode.Reject, reason: RejectReason.InvalidPduField, statSN: h.statSN++, expCmdSN: h.expCmdSN, maxCmdSN: h.maxCmdSN, dataSN: 0, data: encodePduToBuffer(c!).subarray(0, 48) });
    const e = await r.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommandRejectedError);
    expect((e as CommandRejectedError).reasonName).toBe('Invalid PDU field');
    expect(h.core.busy).toBe(0);
  });

  it('sending a Reject without the rejected header: the connection is given up', () => {
    const h = new Harness();
    h.feed({ opcode: Opcode.Reject, reason: RejectReason.ProtocolError, statSN: 1, expCmdSN: 1, maxCmdSN: 64, dataSN: 0, data: Buffer.alloc(4) });
    expect(h.failures[0]).toMatchObject({ code: 'ERR_REJECT_HEADER' });
  });

  it('sending a Login Response in Full Feature Phase: the connection is given up', () => {
    const h = new Harness();
    h.feed({ opcode: Opcode.LoginResponse, transit: true, continue: false, csg: 1, nsg: 3, versionMax: 0, versionActive: 0, isid: '800000000000', tsih: 1, itt: 0, statSN: 1, expCmdSN: 1, maxCmdSN: 1, statusClass: 0, statusDetail: 0, data: Buffer.alloc(0) });
    expect(h.failures[0]).toMatchObject({ code: 'ERR_UNEXPECTED_PDU' });
  });

  it('answering a NOP-In for a ping that never was: the connection is given up', () => {
    const h = new Harness();
    h.nopIn({ itt: 0x42 });
    expect(h.failures[0]).toMatchObject({ code: 'ERR_UNKNOWN_ITT' });
  });

  it('with a MaxCmdSN far below ExpCmdSN: the numbers are ignored, nothing hangs', async () => {
    const h = new Harness();
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10 }));
    const [c] = h.commands();
    h.response(c!, { expCmdSN: 2, maxCmdSN: 0xfffffff0 });
    await flush();
    expect(r.state).toBe('fulfilled');
    expect(h.core.snapshot().windowIgnored).toBe(1);
  });
});
