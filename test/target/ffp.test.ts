// The target's full feature phase without a socket (RFC 7143 §4.2, §11): command window, Data-Out and
// R2T, Data-In splitting, status collapse, residuals, liveness, logout, Reject.

import { describe, expect, it } from 'vitest';
import { Opcode, RESERVED_TAG, RejectReason } from '../../src/pdu/constants.js';
import { lunToField } from '../../src/pdu/lun.js';
import { snAdd } from '../../src/util/serial.js';
import { parseTextKeys } from '../../src/pdu/text-keys.js';
import { cdb10, command, dataOut, harness, ofType } from './harness.js';

const READ_10 = 0x28;
const WRITE_10 = 0x2a;

describe('command window (RFC 7143 §4.2.2.1)', () => {
  it('advertises MaxCmdSN from the free queue slots and never moves it back', async () => {
    const h = harness({ queueDepth: 4, execute: () => new Promise(() => {}) });
    expect(h.session.maxCmdSN).toBe(10 + 4 - 1);
    h.feed(command({ cmdSN: 10, itt: 1 }));
    expect(h.session.expCmdSN).toBe(11);
    expect(h.session.maxCmdSN).toBe(13);
    h.feed(command({ cmdSN: 11, itt: 2 }));
    expect(h.session.maxCmdSN).toBe(13);
  });

  it('silently ignores a command beyond MaxCmdSN', async () => {
    const h = harness({ queueDepth: 2 });
    h.feed(command({ cmdSN: snAdd(h.session.maxCmdSN, 1), itt: 9, cdb: Buffer.alloc(16) }));
    await h.settle();
    expect(h.take()).toEqual([]);
    expect(h.session.expCmdSN).toBe(10);
  });

  it('silently ignores a command below ExpCmdSN', async () => {
    const h = harness();
    h.feed(command({ cmdSN: 9, itt: 9 }));
    await h.settle();
    expect(h.take()).toEqual([]);
  });

  it('holds a command that arrives ahead of ExpCmdSN until the gap fills, then runs both in order', async () => {
    const h = harness();
    h.feed(command({ cmdSN: 11, itt: 2 }));
    await h.settle();
    expect(h.take()).toEqual([]);
    h.feed(command({ cmdSN: 10, itt: 1 }));
    await h.settle();
    const rsp = ofType(h.take(), Opcode.ScsiResponse);
    expect(rsp.map((r) => r.itt)).toEqual([1, 2]);
    expect(h.session.expCmdSN).toBe(12);
  });

  it('runs an immediate command without consuming a CmdSN', async () => {
    const h = harness();
    h.feed(command({ cmdSN: 10, itt: 1, immediate: true }));
    await h.settle();
    expect(ofType(h.take(), Opcode.ScsiResponse)).toHaveLength(1);
    expect(h.session.expCmdSN).toBe(10);
  });

  it('stamps every response with the current ExpCmdSN and MaxCmdSN, the slot already freed', async () => {
    const h = harness({ queueDepth: 8 });
    h.feed(command({ cmdSN: 10, itt: 1 }));
    await h.settle();
    const [r] = ofType(h.take(), Opcode.ScsiResponse);
    expect(r!.expCmdSN).toBe(11);
    expect(r!.maxCmdSN).toBe(11 + 8 - 1);
  });

  it('rejects a command reusing the ITT of a running task (Task in progress)', async () => {
    const h = harness({ execute: () => new Promise(() => {}) });
    h.feed(command({ cmdSN: 10, itt: 5 }));
    h.feed(command({ cmdSN: 11, itt: 5 }));
    const [rej] = ofType(h.take(), Opcode.Reject);
    expect(rej!.reason).toBe(RejectReason.TaskInProgress);
    expect(rej!.data).toHaveLength(48);
  });

  it('numbers statuses with consecutive StatSNs starting where login left off', async () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.feed(command({ cmdSN: 10 + i, itt: i + 1 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.ScsiResponse).map((r) => r.statSN)).toEqual([100, 101, 102]);
  });
});

describe('Data-In (RFC 7143 §11.7)', () => {
  it('splits a read by MaxRecvDataSegmentLength and sequences by MaxBurstLength, status on the last PDU', async () => {
    const h = harness({ connection: { maxSendDataSegmentLength: 65536 }, session: { maxBurstLength: 262144 } });
    await h.backend.write(0, Buffer.alloc(1 << 20, 0x5a));
    h.feed(command({ cmdSN: 10, itt: 7, read: true, expectedDataTransferLength: 1 << 20, cdb: cdb10(READ_10, 0, 2048) }));
    await h.settle();
    const out = h.take();
    const din = ofType(out, Opcode.DataIn);
    expect(din).toHaveLength(16);
    expect(din.map((d) => d.dataSN)).toEqual([...Array(16).keys()]);
    expect(din.map((d) => d.bufferOffset)).toEqual([...Array(16).keys()].map((i) => i * 65536));
    expect(din.every((d) => d.data.length === 65536)).toBe(true);
    // F closes each 256 KiB sequence (RFC 7143 §11.7.1).
    expect(din.map((d) => d.final)).toEqual([...Array(16).keys()].map((i) => i % 4 === 3));
    expect(din.map((d) => d.statusPresent)).toEqual([...Array(16).keys()].map((i) => i === 15));
    expect(din[15]!.statSN).toBe(100);
    expect(ofType(out, Opcode.ScsiResponse)).toHaveLength(0);
    expect(Buffer.concat(din.map((d) => d.data)).equals(Buffer.alloc(1 << 20, 0x5a))).toBe(true);
  });

  it('never sends a data segment larger than the initiator declared', async () => {
    const h = harness({ connection: { maxSendDataSegmentLength: 512 } });
    h.feed(command({ cmdSN: 10, itt: 7, read: true, expectedDataTransferLength: 4096, cdb: cdb10(READ_10, 0, 8) }));
    await h.settle();
    expect(ofType(h.take(), Opcode.DataIn).map((d) => d.data.length)).toEqual(Array(8).fill(512));
  });

  it('reports overflow when the EDTL is smaller than the data and sends only the EDTL', async () => {
    const h = harness();
    h.feed(command({ cmdSN: 10, itt: 7, read: true, expectedDataTransferLength: 1000, cdb: cdb10(READ_10, 0, 4) }));
    await h.settle();
    const din = ofType(h.take(), Opcode.DataIn);
    expect(din.reduce((n, d) => n + d.data.length, 0)).toBe(1000);
    const last = din.at(-1)!;
    expect(last.residualOverflow).toBe(true);
    expect(last.residualCount).toBe(2048 - 1000);
  });

  it('reports underflow when the EDTL is larger than the data', async () => {
    const h = harness();
    h.feed(command({ cmdSN: 10, itt: 7, read: true, expectedDataTransferLength: 4096, cdb: cdb10(READ_10, 0, 2) }));
    await h.settle();
    const last = ofType(h.take(), Opcode.DataIn).at(-1)!;
    expect(last.residualUnderflow).toBe(true);
    expect(last.residualCount).toBe(3072);
  });

  it('sends status in a separate SCSI Response when there is sense data, with ExpDataSN', async () => {
    const h = harness({ execute: async () => ({ status: 2, sense: Buffer.from('70000500000000', 'hex'), data: Buffer.alloc(100) }) });
    h.feed(command({ cmdSN: 10, itt: 7, read: true, expectedDataTransferLength: 100, cdb: cdb10(READ_10, 0, 1) }));
    await h.settle();
    const out = h.take();
    expect(ofType(out, Opcode.DataIn).every((d) => !d.statusPresent)).toBe(true);
    const [rsp] = ofType(out, Opcode.ScsiResponse);
    expect(rsp!.status).toBe(2);
    expect(rsp!.sense.toString('hex')).toBe('70000500000000');
    expect(rsp!.expDataSN).toBe(1);
  });

  it('reports the whole data as overflow for a read sent without R and EDTL 0', async () => {
    const h = harness();
    h.feed(command({ cmdSN: 10, itt: 7, read: false, expectedDataTransferLength: 0, cdb: cdb10(READ_10, 0, 1) }));
    await h.settle();
    const [rsp] = ofType(h.take(), Opcode.ScsiResponse);
    expect(rsp!.residualOverflow).toBe(true);
    expect(rsp!.residualCount).toBe(512);
  });
});

describe('Data-Out and R2T (RFC 7143 §4.2.3.5, §11.8)', () => {
  it('asks for the rest of a write with R2Ts within MaxBurstLength, MaxOutstandingR2T at a time', async () => {
    const h = harness({
      session: { initialR2T: true, immediateData: true, maxBurstLength: 65536, firstBurstLength: 65536, maxOutstandingR2T: 2 },
    });
    const total = 256 * 1024;
    const payload = Buffer.alloc(total);
    for (let i = 0; i < total; i++) payload[i] = i & 0xff;
    h.feed(command({ cmdSN: 10, itt: 3, write: true, expectedDataTransferLength: total, cdb: cdb10(WRITE_10, 16, total / 512), data: payload.subarray(0, 8192) }));
    let r2ts = ofType(h.take(), Opcode.R2T);
    expect(r2ts.map((r) => [r.r2tSN, r.bufferOffset, r.desiredDataTransferLength])).toEqual([
      [0, 8192, 65536],
      [1, 8192 + 65536, 65536],
    ]);
    expect(r2ts.every((r) => r.ttt !== RESERVED_TAG)).toBe(true);
    const serve = (r: (typeof r2ts)[number]) => {
      for (let off = 0, sn = 0; off < r.desiredDataTransferLength; off += 8192, sn++) {
        const at = r.bufferOffset + off;
        const n = Math.min(8192, r.desiredDataTransferLength - off);
        h.feed(dataOut({ itt: 3, ttt: r.ttt, dataSN: sn, bufferOffset: at, final: off + n === r.desiredDataTransferLength, data: payload.subarray(at, at + n) }));
      }
    };
    const all = [...r2ts];
    while (r2ts.length > 0) {
      const r = r2ts.shift()!;
      serve(r);
      const more = ofType(h.take(), Opcode.R2T);
      all.push(...more);
      r2ts.push(...more);
    }
    expect(all.map((r) => r.r2tSN)).toEqual([0, 1, 2, 3]);
    expect(all.at(-1)!.desiredDataTransferLength).toBe(total - 8192 - 3 * 65536);
    await h.settle();
    const [rsp] = ofType(h.take(), Opcode.ScsiResponse);
    expect(rsp!.status).toBe(0);
    const back = Buffer.alloc(total);
    await h.backend.read(16, total / 512, back);
    expect(back.equals(payload)).toBe(true);
  });

  it('takes unsolicited Data-Out up to FirstBurstLength when InitialR2T=No, then R2Ts for the rest', async () => {
    const h = harness({ session: { initialR2T: false, immediateData: true, firstBurstLength: 16384, maxBurstLength: 65536 } });
    const total = 32768;
    const payload = Buffer.alloc(total, 7);
    h.feed(command({ cmdSN: 10, itt: 4, write: true, final: false, expectedDataTransferLength: total, cdb: cdb10(WRITE_10, 0, 64), data: payload.subarray(0, 4096) }));
    expect(ofType(h.take(), Opcode.R2T)).toHaveLength(0);
    h.feed(dataOut({ itt: 4, dataSN: 0, bufferOffset: 4096, data: payload.subarray(4096, 12288) }));
    h.feed(dataOut({ itt: 4, dataSN: 1, bufferOffset: 12288, final: true, data: payload.subarray(12288, 16384) }));
    const [r2t] = ofType(h.take(), Opcode.R2T);
    expect([r2t!.bufferOffset, r2t!.desiredDataTransferLength]).toEqual([16384, 16384]);
    h.feed(dataOut({ itt: 4, ttt: r2t!.ttt, dataSN: 0, bufferOffset: 16384, final: true, data: payload.subarray(16384) }));
    await h.settle();
    expect(ofType(h.take(), Opcode.ScsiResponse)[0]!.status).toBe(0);
  });

  it('fails the write with ABORTED COMMAND when a Data-Out DataSN skips, and keeps the connection', async () => {
    const h = harness({ session: { initialR2T: true, immediateData: false } });
    h.feed(command({ cmdSN: 10, itt: 4, write: true, expectedDataTransferLength: 1024, cdb: cdb10(WRITE_10, 0, 2) }));
    const [r2t] = ofType(h.take(), Opcode.R2T);
    h.feed(dataOut({ itt: 4, ttt: r2t!.ttt, dataSN: 27, bufferOffset: 0, data: Buffer.alloc(512) }));
    await h.settle();
    const [rsp] = ofType(h.take(), Opcode.ScsiResponse);
    expect(rsp!.status).toBe(2);
    expect(rsp!.sense[2]! & 0x0f).toBe(0x0b);
    expect(rsp!.sense[12]).toBe(0x4b);
    expect(h.dropped).toEqual([]);
    // The rest of that write's Data-Out is ignored, and the next command runs.
    h.feed(dataOut({ itt: 4, ttt: r2t!.ttt, dataSN: 1, bufferOffset: 512, final: true, data: Buffer.alloc(512) }));
    h.feed(command({ cmdSN: 11, itt: 5 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.ScsiResponse).map((r) => [r.itt, r.status])).toEqual([[5, 0]]);
  });

  it('fails the write when a Data-Out offset is out of order', async () => {
    const h = harness({ session: { initialR2T: true, immediateData: false } });
    h.feed(command({ cmdSN: 10, itt: 4, write: true, expectedDataTransferLength: 1024, cdb: cdb10(WRITE_10, 0, 2) }));
    const [r2t] = ofType(h.take(), Opcode.R2T);
    h.feed(dataOut({ itt: 4, ttt: r2t!.ttt, dataSN: 0, bufferOffset: 512, data: Buffer.alloc(512) }));
    await h.settle();
    const [rsp] = ofType(h.take(), Opcode.ScsiResponse);
    expect([rsp!.sense[12], rsp!.sense[13]]).toEqual([0x4b, 0x05]);
  });

  it('holds R2Ts of further writes while maxBufferedWrite is used up, and issues them as buffers free', async () => {
    const h = harness({ session: { initialR2T: true, immediateData: true, maxBurstLength: 65536 }, maxBufferedWrite: 65536 });
    h.feed(command({ cmdSN: 10, itt: 1, write: true, expectedDataTransferLength: 65536, cdb: cdb10(WRITE_10, 0, 128) }));
    h.feed(command({ cmdSN: 11, itt: 2, write: true, expectedDataTransferLength: 65536, cdb: cdb10(WRITE_10, 128, 128), data: Buffer.alloc(4096, 2) }));
    const first = ofType(h.take(), Opcode.R2T);
    expect(first.map((r) => r.itt)).toEqual([1]);
    expect(h.ffp.bufferedWrite).toBe(65536);
    h.feed(dataOut({ itt: 1, ttt: first[0]!.ttt, dataSN: 0, bufferOffset: 0, final: true, data: Buffer.alloc(65536, 1) }));
    await h.settle();
    const out = h.take();
    expect(ofType(out, Opcode.ScsiResponse).map((r) => r.itt)).toEqual([1]);
    const second = ofType(out, Opcode.R2T);
    expect(second.map((r) => [r.itt, r.bufferOffset])).toEqual([[2, 4096]]);
    h.feed(dataOut({ itt: 2, ttt: second[0]!.ttt, dataSN: 0, bufferOffset: 4096, final: true, data: Buffer.alloc(61440, 2) }));
    await h.settle();
    expect(ofType(h.take(), Opcode.ScsiResponse).map((r) => [r.itt, r.status])).toEqual([[2, 0]]);
    const back = Buffer.alloc(65536);
    await h.backend.read(128, 128, back);
    expect(back.equals(Buffer.alloc(65536, 2))).toBe(true);
    expect(h.ffp.bufferedWrite).toBe(0);
  });

  it('rejects immediate data when ImmediateData=No', () => {
    const h = harness({ session: { immediateData: false } });
    h.feed(command({ cmdSN: 10, itt: 4, write: true, expectedDataTransferLength: 512, cdb: cdb10(WRITE_10, 0, 1), data: Buffer.alloc(512) }));
    expect(ofType(h.take(), Opcode.Reject)[0]!.reason).toBe(RejectReason.ProtocolError);
  });

  it('writes a command whose data came whole as immediate data without an R2T', async () => {
    const h = harness({ session: { immediateData: true } });
    h.feed(command({ cmdSN: 10, itt: 4, write: true, expectedDataTransferLength: 1024, cdb: cdb10(WRITE_10, 2, 2), data: Buffer.alloc(1024, 9) }));
    await h.settle();
    const out = h.take();
    expect(ofType(out, Opcode.R2T)).toHaveLength(0);
    expect(ofType(out, Opcode.ScsiResponse)[0]!.status).toBe(0);
  });

  it('reports underflow when a write offers more data than the CDB uses', async () => {
    const h = harness({ session: { immediateData: true } });
    h.feed(command({ cmdSN: 10, itt: 4, write: true, expectedDataTransferLength: 1024, cdb: cdb10(WRITE_10, 2, 1), data: Buffer.alloc(1024, 9) }));
    await h.settle();
    const [rsp] = ofType(h.take(), Opcode.ScsiResponse);
    expect([rsp!.residualUnderflow, rsp!.residualCount]).toEqual([true, 512]);
  });
});

describe('other requests', () => {
  it('answers a NOP-Out ping with a NOP-In echoing its ITT and data', () => {
    const h = harness();
    h.feed({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: 42, ttt: RESERVED_TAG, cmdSN: 10, expStatSN: 0, data: Buffer.from('ping') });
    const [n] = ofType(h.take(), Opcode.NopIn);
    expect([n!.itt, n!.ttt, n!.data.toString()]).toEqual([42, RESERVED_TAG, 'ping']);
  });

  it('pings an idle initiator and drops the connection when the ping goes unanswered', () => {
    const h = harness({ nopInterval: 1000, nopTimeout: 500 });
    h.clock.advance(1000);
    const [ping] = ofType(h.take(), Opcode.NopIn);
    expect(ping!.itt).toBe(RESERVED_TAG);
    expect(ping!.ttt).not.toBe(RESERVED_TAG);
    h.clock.advance(600);
    expect(h.dropped).toEqual(['NOP-In ping timed out']);
  });

  it('does not drop a busy connection whose answer to the ping is slow (any PDU counts as liveness)', () => {
    const h = harness({ nopInterval: 1000, nopTimeout: 500 });
    h.clock.advance(1000);
    expect(ofType(h.take(), Opcode.NopIn)).toHaveLength(1);
    for (let i = 0; i < 10; i++) {
      h.clock.advance(100);
      h.feed({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: RESERVED_TAG, ttt: RESERVED_TAG, cmdSN: 10, expStatSN: 0, data: Buffer.alloc(0) });
    }
    expect(h.dropped).toEqual([]);
  });

  it('answers the ping reply without a NOP-In and stops waiting for it', () => {
    const h = harness({ nopInterval: 1000, nopTimeout: 500 });
    h.clock.advance(1000);
    const [ping] = ofType(h.take(), Opcode.NopIn);
    h.feed({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: RESERVED_TAG, ttt: ping!.ttt, cmdSN: 10, expStatSN: 0, data: Buffer.alloc(0) });
    h.clock.advance(499);
    expect(h.take()).toEqual([]);
    expect(h.dropped).toEqual([]);
  });

  it('rejects SNACK at ErrorRecoveryLevel 0', () => {
    const h = harness();
    h.feed({ opcode: Opcode.SnackRequest, type: 0, lun: 0n, itt: 1, ttt: RESERVED_TAG, expStatSN: 0, begRun: 0, runLength: 0 });
    expect(ofType(h.take(), Opcode.Reject)[0]!.reason).toBe(RejectReason.SnackReject);
  });

  it('rejects a SCSI command in a discovery session: discovery never reaches data', () => {
    const h = harness({ type: 'Discovery' });
    h.feed(command({ cmdSN: 10, itt: 1, read: true, expectedDataTransferLength: 512, cdb: cdb10(READ_10, 0, 1) }));
    expect(ofType(h.take(), Opcode.Reject)[0]!.reason).toBe(RejectReason.ProtocolError);
  });

  it('waits for running commands, then answers Logout and closes', async () => {
    let finish!: () => void;
    const h = harness({ execute: () => new Promise((r) => (finish = () => r({ status: 0 }))) });
    h.feed(command({ cmdSN: 10, itt: 1 }));
    h.feed({ opcode: Opcode.LogoutRequest, immediate: true, reasonCode: 0, itt: 2, cid: 0, cmdSN: 11, expStatSN: 0 });
    await h.settle();
    expect(ofType(h.take(), Opcode.LogoutResponse)).toHaveLength(0);
    finish();
    await h.settle();
    const out = h.take();
    expect(out.map((p) => p.opcode)).toEqual([Opcode.ScsiResponse, Opcode.LogoutResponse]);
    expect(h.loggedOut).toBe(1);
  });

  it('answers connection recovery logout as unsupported at ERL 0', () => {
    const h = harness();
    h.feed({ opcode: Opcode.LogoutRequest, immediate: true, reasonCode: 2, itt: 2, cid: 0, cmdSN: 10, expStatSN: 0 });
    expect(ofType(h.take(), Opcode.LogoutResponse)[0]!.response).toBe(2);
    expect(h.loggedOut).toBe(0);
  });

  it('hands out a long SendTargets answer in pieces chained by a TTT (RFC 7143 §11.10)', () => {
    const h = harness({ type: 'Discovery', connection: { maxSendDataSegmentLength: 512 } });
    h.feed({ opcode: Opcode.TextRequest, immediate: true, final: true, continue: false, lun: 0n, itt: 8, ttt: RESERVED_TAG, cmdSN: 10, expStatSN: 0, data: Buffer.from('SendTargets=All\0') });
    const parts: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const [r] = ofType(h.take(), Opcode.TextResponse);
      expect(r!.data.length).toBeLessThanOrEqual(512);
      parts.push(r!.data);
      if (r!.final) {
        expect(r!.ttt).toBe(RESERVED_TAG);
        break;
      }
      expect(r!.continue).toBe(true);
      h.feed({ opcode: Opcode.TextRequest, immediate: true, final: true, continue: false, lun: 0n, itt: 8, ttt: r!.ttt, cmdSN: 10, expStatSN: 0, data: Buffer.alloc(0) });
    }
    const keys = parseTextKeys(Buffer.concat(parts), { source: 'response' });
    expect(keys.filter(([k]) => k === 'TargetName')).toHaveLength(40);
    expect(keys.filter(([k]) => k === 'TargetAddress')).toHaveLength(80);
  });

  it('uses a new MaxRecvDataSegmentLength declared in full feature phase for later Data-In', async () => {
    const h = harness({ connection: { maxSendDataSegmentLength: 8192 } });
    h.feed({ opcode: Opcode.TextRequest, immediate: false, final: true, continue: false, lun: 0n, itt: 8, ttt: RESERVED_TAG, cmdSN: 10, expStatSN: 0, data: Buffer.from('MaxRecvDataSegmentLength=1024\0') });
    h.take();
    h.feed(command({ cmdSN: 11, itt: 9, read: true, expectedDataTransferLength: 4096, cdb: cdb10(READ_10, 0, 8) }));
    await h.settle();
    expect(ofType(h.take(), Opcode.DataIn).map((d) => d.data.length)).toEqual([1024, 1024, 1024, 1024]);
  });

  it('keeps the LUN of the command in its Data-In', async () => {
    const h = harness();
    h.feed(command({ cmdSN: 10, itt: 7, read: true, expectedDataTransferLength: 512, cdb: cdb10(READ_10, 0, 1), lun: lunToField(0) }));
    await h.settle();
    expect(ofType(h.take(), Opcode.DataIn)[0]!.lun).toBe(lunToField(0));
  });
});
