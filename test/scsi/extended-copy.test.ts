// The copy manager (SPC-4 §5.16): EXTENDED COPY (LID1) between logical units of one SCSI target
// device, RECEIVE COPY RESULTS, the Third-party Copy VPD page and 3PC.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import {
  cdbInquiry,
  cdbRead10,
  cdbReadCapacity10,
  cdbWrite10,
  parseInquiry,
  parseVpdSupportedPages,
  blockToBlockSegment,
  cdbExtendedCopy,
  cdbReceiveCopyResults,
  extendedCopyParameters,
  identificationCscd,
  parseCopyOperatingParameters,
  parseCopyStatus,
} from '../../src/scsi/cdb/index.js';
import { ASC, SENSE_KEY, XCOPY_SA } from '../../src/scsi/constants.js';
import type { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { ScsiTargetDevice } from '../../src/scsi/target-device.js';
import type { ScsiResponse } from '../../src/scsi/types.js';
import type { BlockBackend } from '../../src/backend/types.js';
import { GatedBackend, TARGET, cmd, expectSense, nexus, pattern, settle, type CmdOptions } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

function setup(opts: { readOnly1?: boolean } = {}) {
  const device = new ScsiTargetDevice({ targetName: TARGET });
  const lu0 = device.add(0, new MemoryBackend({ blocks: 4096 }));
  const lu1 = device.add(1, new MemoryBackend({ blocks: 1024 }), { readOnly: opts.readOnly1 === true });
  const run = async (cdb: Buffer, o: CmdOptions = {}): Promise<ScsiResponse> => {
    const r = await device.execute(cmd(cdb, { lun: 0, ...o }));
    // The first command of a nexus sees REPORTED LUNS DATA HAS CHANGED (LUNs were added): consume it.
    if (r.status === 2 && r.sense?.[12] === 0x3f) return device.execute(cmd(cdb, { lun: 0, ...o }));
    return r;
  };
  return { device, lu0, lu1, run };
}

const cscd = (lu: LogicalUnit) => identificationCscd({ type: 3, value: lu.identity.naa }, lu.blockSize);

function xcopy(run: (cdb: Buffer, o?: CmdOptions) => Promise<ScsiResponse>, params: Buffer, o: CmdOptions = {}) {
  return run(cdbExtendedCopy(params.length), { dataOut: params, ...o });
}

describe('EXTENDED COPY (LID1), SPC-4 §6.4', () => {
  test('copies blocks from one LU to another of the same target', async () => {
    const { lu0, lu1, run, device } = setup();
    await run(cdbWrite10(100, 300), { dataOut: pattern(300, 0x3c) });
    const params = extendedCopyParameters({
      cscds: [cscd(lu0), cscd(lu1)],
      segments: [blockToBlockSegment({ src: 0, dst: 1, blocks: 300, srcLba: 100, dstLba: 7 })],
    });
    expect(await xcopy(run, params)).toEqual({ status: 0, dataOutLength: params.length });
    const r = await device.execute(cmd(cdbRead10(7, 300), { lun: 1 }));
    expect((r.data as Buffer).equals(pattern(300, 0x3c))).toBe(true);
  });
  test('copies within one LU, several segments in order', async () => {
    const { lu0, run } = setup();
    await run(cdbWrite10(0, 2), { dataOut: Buffer.concat([pattern(1, 1), pattern(1, 2)]) });
    const params = extendedCopyParameters({
      cscds: [cscd(lu0)],
      segments: [
        blockToBlockSegment({ src: 0, dst: 0, blocks: 2, srcLba: 0, dstLba: 10 }),
        blockToBlockSegment({ src: 0, dst: 0, blocks: 1, srcLba: 11, dstLba: 20 }),
      ],
    });
    expect((await xcopy(run, params)).status).toBe(0);
    const r = (await run(cdbRead10(10, 11))).data as Buffer;
    expect(r.subarray(0, 1024).equals(Buffer.concat([pattern(1, 1), pattern(1, 2)]))).toBe(true);
    expect(r.subarray(10 * 512).equals(pattern(1, 2))).toBe(true);
  });
  test('a PARAMETER LIST LENGTH of zero is GOOD; a list cutting a descriptor short is PARAMETER LIST LENGTH ERROR', async () => {
    const { lu0, run } = setup();
    expect((await run(cdbExtendedCopy(0))).status).toBe(0);
    const params = extendedCopyParameters({ cscds: [cscd(lu0)], segments: [blockToBlockSegment({ src: 0, dst: 0, blocks: 1, srcLba: 0, dstLba: 1 })] });
    for (const len of [16 + 31, params.length - 1, 15]) {
      expectSense(await run(cdbExtendedCopy(len), { dataOut: params.subarray(0, len) }), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
    }
  });
  test('too many CSCD or segment descriptors, or too long a list, are refused in that order of checks', async () => {
    const { lu0, run } = setup();
    const seg = blockToBlockSegment({ src: 0, dst: 0, blocks: 1, srcLba: 0, dstLba: 1 });
    expectSense(await xcopy(run, extendedCopyParameters({ cscds: [cscd(lu0), cscd(lu0), cscd(lu0)], segments: [seg] })), IR, ASC.TOO_MANY_TARGET_DESCRIPTORS);
    expectSense(await xcopy(run, extendedCopyParameters({ cscds: [cscd(lu0)], segments: Array(17).fill(seg) })), IR, ASC.TOO_MANY_SEGMENT_DESCRIPTORS);
    const long = extendedCopyParameters({ cscds: [cscd(lu0), cscd(lu0), cscd(lu0)], segments: Array(34).fill(seg) });
    expectSense(await xcopy(run, long), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
  });
  test('unsupported CSCD and segment descriptor types', async () => {
    const { lu0, run } = setup();
    const fc = cscd(lu0);
    fc[0] = 0xe0; // Fibre Channel N_Port_Name
    const seg = blockToBlockSegment({ src: 0, dst: 0, blocks: 1, srcLba: 0, dstLba: 1 });
    expectSense(await xcopy(run, extendedCopyParameters({ cscds: [fc], segments: [seg] })), IR, ASC.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE);
    const stream = Buffer.alloc(0x14);
    stream[0] = 0x03; // stream to stream
    stream.writeUInt16BE(0x10, 2);
    expectSense(await xcopy(run, extendedCopyParameters({ cscds: [cscd(lu0)], segments: [stream] })), IR, ASC.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE);
  });
  test('LU ID TYPE is ignored (SPC-4)', async () => {
    const { lu0, run } = setup();
    const d = cscd(lu0);
    d[1] = 0x80; // LU ID TYPE 10b (reserved)
    const params = extendedCopyParameters({ cscds: [d], segments: [blockToBlockSegment({ src: 0, dst: 0, blocks: 1, srcLba: 0, dstLba: 1 })] });
    expect((await xcopy(run, params)).status).toBe(0);
  });
  test('a segment naming a CSCD descriptor that is not there is COPY ABORTED, UNREACHABLE COPY TARGET', async () => {
    const { lu0, run } = setup();
    const params = extendedCopyParameters({ cscds: [cscd(lu0)], segments: [blockToBlockSegment({ src: 0, dst: 1, blocks: 1, srcLba: 0, dstLba: 1 })] });
    const s = expectSense(await xcopy(run, params), SENSE_KEY.COPY_ABORTED, ASC.UNREACHABLE_COPY_TARGET);
    expect(s.commandSpecific ?? 0).toBe(0); // segment 0
  });
  test('a designator no LU of this target has is COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE', async () => {
    const { run } = setup();
    const params = extendedCopyParameters({
      cscds: [identificationCscd({ type: 3, value: Buffer.alloc(16, 0x66) }, 512)],
      segments: [blockToBlockSegment({ src: 0, dst: 0, blocks: 1, srcLba: 0, dstLba: 1 })],
    });
    expectSense(await xcopy(run, params), SENSE_KEY.COPY_ABORTED, ASC.COPY_TARGET_DEVICE_NOT_REACHABLE);
  });
  test('a segment beyond the end of a LU is COPY ABORTED with the segment number', async () => {
    const { lu0, lu1, run } = setup();
    const seg = (dstLba: number) => blockToBlockSegment({ src: 0, dst: 1, blocks: 8, srcLba: 0, dstLba });
    const params = extendedCopyParameters({ cscds: [cscd(lu0), cscd(lu1)], segments: [seg(0), seg(1020)] });
    const s = expectSense(await xcopy(run, params), SENSE_KEY.COPY_ABORTED, ASC.NO_ADDITIONAL_SENSE);
    expect(s.commandSpecific).toBe(1);
  });
  test('a read-only destination is DATA PROTECT', async () => {
    const { lu0, lu1, run } = setup({ readOnly1: true });
    const params = extendedCopyParameters({ cscds: [cscd(lu0), cscd(lu1)], segments: [blockToBlockSegment({ src: 0, dst: 1, blocks: 1, srcLba: 0, dstLba: 0 })] });
    expectSense(await xcopy(run, params), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  });
  test('LIST ID USAGE 01b is reserved; 11b needs LIST IDENTIFIER 0; inline data is not accepted', async () => {
    const { lu0, run } = setup();
    const base = { cscds: [cscd(lu0)], segments: [blockToBlockSegment({ src: 0, dst: 0, blocks: 1, srcLba: 0, dstLba: 1 })] };
    expectSense(await xcopy(run, extendedCopyParameters({ ...base, listIdUsage: 1 })), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
    expectSense(await xcopy(run, extendedCopyParameters({ ...base, listIdUsage: 3, listId: 4 })), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
    const inline = extendedCopyParameters(base);
    inline.writeUInt32BE(4, 12);
    expectSense(await xcopy(run, Buffer.concat([inline, Buffer.alloc(4)])), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
  });
});

describe('EXTENDED COPY concurrency', () => {
  test('a copy beyond TOTAL CONCURRENT COPIES is INSUFFICIENT RESOURCES; the same list identifier twice is OPERATION IN PROGRESS', async () => {
    const device = new ScsiTargetDevice({ targetName: TARGET });
    const gated = new GatedBackend(new MemoryBackend({ blocks: 64 }));
    const lu = device.add(0, gated as unknown as BlockBackend);
    device.attachNexus(nexus(1));
    const run = (cdb: Buffer, o: CmdOptions = {}) => device.execute(cmd(cdb, { lun: 0, ...o }));
    await run(cdbInquiry());
    await run(cdbReadCapacity10()); // consumes REPORTED LUNS DATA HAS CHANGED
    const params = (listId: number) =>
      extendedCopyParameters({ listId, cscds: [cscd(lu)], segments: [blockToBlockSegment({ src: 0, dst: 0, blocks: 1, srcLba: 0, dstLba: 1 })] });
    const running = Array.from({ length: 16 }, (_, i) => xcopy(run, params(i)));
    await settle();
    expect(gated.pending).toBe(16);
    expectSense(await xcopy(run, params(3)), IR, ASC.INSUFFICIENT_RESOURCES);
    // Each copy reads its block, then writes it: two gated steps apiece.
    for (let i = 0; i < 32; i++) {
      gated.release();
      await settle();
    }
    expect((await Promise.all(running)).every((r) => r.status === 0)).toBe(true);
    const first = xcopy(run, params(20));
    await settle();
    expectSense(await xcopy(run, params(20)), IR, ASC.OPERATION_IN_PROGRESS);
    for (let i = 0; i < 2; i++) {
      gated.release();
      await settle();
    }
    expect((await first).status).toBe(0);
  });
});

describe('RECEIVE COPY RESULTS (SPC-4 §6.18)', () => {
  test('COPY STATUS of a list identifier never used is INVALID FIELD IN CDB', async () => {
    const { run } = setup();
    expectSense(await run(cdbReceiveCopyResults(XCOPY_SA.COPY_STATUS, 1)), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2 });
  });
  test('COPY STATUS of a finished copy, held for the nexus that ran it', async () => {
    const { lu0, run } = setup();
    const params = extendedCopyParameters({ listId: 9, cscds: [cscd(lu0)], segments: [blockToBlockSegment({ src: 0, dst: 0, blocks: 4, srcLba: 0, dstLba: 8 })] });
    await xcopy(run, params);
    const s = parseCopyStatus((await run(cdbReceiveCopyResults(XCOPY_SA.COPY_STATUS, 9))).data as Buffer);
    expect(s).toMatchObject({ availableData: 8, copyManagerStatus: 1, segmentsProcessed: 1, transferCountUnits: 0, transferCount: 2048 });
    // Another I_T nexus has no results under that identifier.
    expectSense(await run(cdbReceiveCopyResults(XCOPY_SA.COPY_STATUS, 9), { nexus: nexus(2) }), IR, ASC.INVALID_FIELD_IN_CDB);
  });
  test('a failed copy reports status 02h and its sense in FAILED SEGMENT DETAILS', async () => {
    const { lu0, run } = setup();
    const params = extendedCopyParameters({ listId: 3, cscds: [cscd(lu0)], segments: [blockToBlockSegment({ src: 0, dst: 5, blocks: 1, srcLba: 0, dstLba: 0 })] });
    await xcopy(run, params);
    expect(parseCopyStatus((await run(cdbReceiveCopyResults(XCOPY_SA.COPY_STATUS, 3))).data as Buffer).copyManagerStatus).toBe(2);
    const d = (await run(cdbReceiveCopyResults(XCOPY_SA.FAILED_SEGMENT_DETAILS, 3))).data as Buffer;
    expect(d[56]).toBe(0x02);
    expect(d[60 + 2]! & 0x0f).toBe(SENSE_KEY.COPY_ABORTED);
  });
  test('LIST ID USAGE 10b holds nothing', async () => {
    const { lu0, run } = setup();
    await xcopy(run, extendedCopyParameters({ listId: 4, listIdUsage: 2, cscds: [cscd(lu0)], segments: [] }));
    expectSense(await run(cdbReceiveCopyResults(XCOPY_SA.COPY_STATUS, 4)), IR, ASC.INVALID_FIELD_IN_CDB);
  });
  test('held results go with the I_T nexus', async () => {
    const { device, lu0, run } = setup();
    await xcopy(run, extendedCopyParameters({ listId: 5, cscds: [cscd(lu0)], segments: [] }));
    device.nexusLost(nexus(1));
    device.attachNexus(nexus(1));
    await run(cdbInquiry()); // UA-exempt; the next command reports the nexus loss
    expect((await run(cdbReceiveCopyResults(XCOPY_SA.COPY_STATUS, 5))).status).toBe(2); // I_T NEXUS LOSS OCCURRED
    expectSense(await run(cdbReceiveCopyResults(XCOPY_SA.COPY_STATUS, 5)), IR, ASC.INVALID_FIELD_IN_CDB);
  });
  test('OPERATING PARAMETERS describes the copy manager', async () => {
    const { run } = setup();
    const p = parseCopyOperatingParameters((await run(cdbReceiveCopyResults(XCOPY_SA.OPERATING_PARAMETERS))).data as Buffer);
    expect(p).toMatchObject({
      snlid: true,
      maxTargetDescriptors: 2,
      maxSegmentDescriptors: 16,
      maxDescriptorListLength: 1024,
      maxInlineDataLength: 0,
      heldDataLimit: 0,
      dataSegmentGranularity: 9,
      implementedDescriptors: [0x02, 0xe4],
    });
  });
});

describe('third-party copy is advertised (SPC-4 §6.6, §7.8.17)', () => {
  test('standard INQUIRY sets 3PC', async () => {
    const { run } = setup();
    const raw = (await run(cdbInquiry())).data as Buffer;
    expect(raw[5]! & 0x08).toBe(0x08);
    expect(parseInquiry(raw).deviceType).toBe(0);
  });
  test('VPD 8Fh lists the commands, the parameter data, the descriptors and the general copy operations', async () => {
    const { run } = setup();
    expect(parseVpdSupportedPages((await run(cdbInquiry({ evpd: true, page: 0 }))).data as Buffer)).toContain(0x8f);
    const p = (await run(cdbInquiry({ evpd: true, page: 0x8f, alloc: 1024 }))).data as Buffer;
    expect(p[1]).toBe(0x8f);
    const types: number[] = [];
    for (let off = 4; off < 4 + p.readUInt16BE(2); off += 4 + p.readUInt16BE(off + 2)) types.push(p.readUInt16BE(off));
    expect(types).toEqual([0x0001, 0x0004, 0x0008, 0x8001]);
    // Supported Commands: EXTENDED COPY (83h) with LID1, RECEIVE COPY RESULTS (84h) with 00h, 03h, 04h.
    expect([...p.subarray(9, 9 + p[8]!)]).toEqual([0x83, 1, 0x00, 0x84, 3, 0x00, 0x03, 0x04]);
  });
});
