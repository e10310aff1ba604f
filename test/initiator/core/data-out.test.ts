// Data-Out: immediate and unsolicited data (RFC 7143 §13.10, §13.11, §13.14), bursts asked by R2T
// (§11.8) with MaxOutstandingR2T > 1, every PDU cut to the target's MaxRecvDataSegmentLength (§13.12).
import { describe, expect, it } from 'vitest';
import { unsolicitedPlan, type BurstLimits } from '../../../src/initiator/core/data-out.js';
import { Opcode, RESERVED_TAG } from '../../../src/pdu/constants.js';
import type { DataOutPdu } from '../../../src/pdu/types.js';
import { Harness, LUN1, WRITE10, flush, track } from './harness.js';

const limits = (o: Partial<BurstLimits> = {}): BurstLimits => ({
  maxSendDataSegmentLength: 8192,
  firstBurstLength: 65536,
  maxBurstLength: 262144,
  immediateData: true,
  initialR2T: true,
  maxOutstandingR2T: 1,
  dataSequenceInOrder: true,
  ...o,
});

const pattern = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff));

/** Puts the Data-Out PDUs back together, checking each is within the segment limit. */
function reassemble(pdus: DataOutPdu[], into: Buffer, max: number): void {
  for (const p of pdus) {
    expect(p.data.length).toBeLessThanOrEqual(max);
    p.data.copy(into, p.bufferOffset);
  }
}

describe('unsolicitedPlan', () => {
  it('sends immediate data up to the segment limit when ImmediateData=Yes, InitialR2T=Yes', () => {
    expect(unsolicitedPlan(100_000, limits())).toEqual({ immediate: 8192, total: 8192 });
  });
  it('adds unsolicited Data-Out up to FirstBurstLength when InitialR2T=No', () => {
    expect(unsolicitedPlan(100_000, limits({ initialR2T: false }))).toEqual({ immediate: 8192, total: 65536 });
  });
  it('sends nothing unsolicited with ImmediateData=No, InitialR2T=Yes', () => {
    expect(unsolicitedPlan(100_000, limits({ immediateData: false }))).toEqual({ immediate: 0, total: 0 });
  });
  it('never exceeds the write itself', () => {
    expect(unsolicitedPlan(1000, limits({ initialR2T: false }))).toEqual({ immediate: 1000, total: 1000 });
  });
});

describe('Data-Out', () => {
  it('carries a small write entirely as immediate data', async () => {
    const h = new Harness();
    const data = pattern(4096);
    const r = h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: data });
    const [cmd] = h.commands();
    expect(cmd).toMatchObject({ write: true, read: false, final: true, expectedDataTransferLength: 4096 });
    expect(cmd!.data.equals(data)).toBe(true);
    h.response(cmd!);
    await r;
  });

  it('sends unsolicited Data-Out (TTT 0xffffffff, DataSN from 0, F on the last) when InitialR2T=No', async () => {
    const h = new Harness({ session: { initialR2T: false, firstBurstLength: 32768 }, connection: { maxSendDataSegmentLength: 8192 } });
    const data = pattern(32768);
    const r = h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: data });
    const [cmd] = h.commands();
    expect(cmd).toMatchObject({ final: false });
    expect(cmd!.data.length).toBe(8192);
    const outs = h.take(Opcode.DataOut);
    expect(outs.map((o) => [o.ttt, o.dataSN, o.bufferOffset, o.final])).toEqual([
      [RESERVED_TAG, 0, 8192, false],
      [RESERVED_TAG, 1, 16384, false],
      [RESERVED_TAG, 2, 24576, true],
    ]);
    h.response(cmd!);
    await r;
  });

  it('answers R2Ts with bursts split by the target\'s MaxRecvDataSegmentLength, several R2Ts outstanding', async () => {
    const h = new Harness({ session: { maxOutstandingR2T: 4, maxBurstLength: 65536 }, connection: { maxSendDataSegmentLength: 16384 } });
    const data = pattern(300_000);
    const r = track(h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: data }));
    const [cmd] = h.commands();
    const got = Buffer.alloc(data.length);
    cmd!.data.copy(got, 0);
    let off = cmd!.data.length;
    let r2tSN = 0;
    // Four R2Ts in one go, as a target with MaxOutstandingR2T=4 may send them.
    for (let i = 0; i < 4; i++) {
      const len = Math.min(65536, data.length - off);
      h.r2t(cmd!, { ttt: 0x100 + i, r2tSN: r2tSN++, bufferOffset: off, desiredDataTransferLength: len });
      off += len;
    }
    const outs = h.take(Opcode.DataOut);
    for (let i = 0; i < 4; i++) {
      const burst = outs.filter((o) => o.ttt === 0x100 + i);
      expect(burst.map((o) => o.dataSN)).toEqual(burst.map((_, j) => j));
      expect(burst.filter((o) => o.final)).toHaveLength(1);
      expect(burst.at(-1)!.final).toBe(true);
    }
    reassemble(outs, got, 16384);
    const len = data.length - off;
    h.r2t(cmd!, { ttt: 0x200, r2tSN: r2tSN++, bufferOffset: off, desiredDataTransferLength: len });
    reassemble(h.take(Opcode.DataOut), got, 16384);
    expect(got.equals(data)).toBe(true);
    h.response(cmd!);
    await flush();
    expect(r.state).toBe('fulfilled');
  });

  it('fails the write on an R2T past the end of its data', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: pattern(20000) });
    const [cmd] = h.commands();
    h.r2t(cmd!, { bufferOffset: 8192, desiredDataTransferLength: 20000 });
    await expect(r).rejects.toMatchObject({ code: 'ERR_R2T_RANGE' });
    expect(h.take(Opcode.TaskManagementRequest)).toHaveLength(1);
  });

  it('fails the write on more R2Ts at once than MaxOutstandingR2T', async () => {
    const h = new Harness({ session: { maxOutstandingR2T: 1 } });
    // The socket is congested: the first burst is not sent before the second R2T comes.
    const r = h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: pattern(40000) });
    const [cmd] = h.commands();
    h.core.locks.frwd.runExclusive(() => new Promise<void>((res) => setTimeout(res, 20)));
    h.r2t(cmd!, { r2tSN: 0, bufferOffset: 8192, desiredDataTransferLength: 8192 });
    h.r2t(cmd!, { r2tSN: 1, bufferOffset: 16384, desiredDataTransferLength: 8192 });
    await expect(r).rejects.toMatchObject({ code: 'ERR_R2T_OUTSTANDING' });
  });

  it('fails the write on an R2TSN out of order', async () => {
    const h = new Harness({ session: { maxOutstandingR2T: 2 } });
    const r = h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: pattern(40000) });
    const [cmd] = h.commands();
    h.r2t(cmd!, { r2tSN: 1, bufferOffset: 8192, desiredDataTransferLength: 8192 });
    await expect(r).rejects.toMatchObject({ code: 'ERR_R2T_SEQUENCE' });
  });

  it('fails the write on an R2T longer than MaxBurstLength', async () => {
    const h = new Harness({ session: { maxBurstLength: 16384 } });
    const r = h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: pattern(40000) });
    const [cmd] = h.commands();
    h.r2t(cmd!, { bufferOffset: 8192, desiredDataTransferLength: 31808 });
    await expect(r).rejects.toMatchObject({ code: 'ERR_R2T_BURST' });
  });

  it('fails an R2T for a read', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: WRITE10, readLength: 512 });
    const [cmd] = h.commands();
    h.r2t(cmd!, { bufferOffset: 0, desiredDataTransferLength: 512 });
    await expect(r).rejects.toMatchObject({ code: 'ERR_R2T_UNEXPECTED' });
  });

  it('returns every R2T descriptor to the pool: many writes, each answered by R2Ts', async () => {
    const h = new Harness({ queueDepth: 4, session: { maxOutstandingR2T: 2, immediateData: false } });
    for (let round = 0; round < 20; round++) {
      const rs = [0, 1, 2, 3].map(() => h.core.submit({ lun: LUN1, cdb: WRITE10, dataOut: pattern(16384) }));
      for (const c of h.commands()) {
        h.r2t(c, { r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 8192, ttt: 1 });
        h.r2t(c, { r2tSN: 1, bufferOffset: 8192, desiredDataTransferLength: 8192, ttt: 2 });
        expect(h.take(Opcode.DataOut).filter((d) => d.itt === c.itt)).toHaveLength(2);
        h.response(c);
      }
      await Promise.all(rs);
    }
    expect(h.core.busy).toBe(0);
  });
});
