// COMPARE AND WRITE (SBC-3 §5.2), ORWRITE(16) (SBC-3 §5.9) and WRITE ATOMIC(16) (SBC-4 §5.48):
// their results, their errors, and their atomicity against every other write to the same blocks.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import type { BlockBackend } from '../../src/backend/types.js';
import {
  cdbRead10,
  cdbReportSupportedOpcodes,
  cdbWrite10,
  parseSupportedOpcodesOne,
  cdbCompareAndWrite,
  cdbOrWrite16,
  cdbWriteAtomic16,
  cdbWriteSame16,
} from '../../src/scsi/cdb/index.js';
import { ASC, OP, SENSE_KEY } from '../../src/scsi/constants.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { GatedBackend, cmd, expectSense, makeLu, pattern, settle, type Fixture } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

async function read(f: { run: Fixture['run'] }, lba: number, blocks: number): Promise<Buffer> {
  return (await f.run(cdbRead10(lba, blocks))).data as Buffer;
}

describe('COMPARE AND WRITE (SBC-3 §5.2)', () => {
  test('writes when the medium matches the verify data', async () => {
    const f = makeLu({ limits: { maxCompareAndWriteLength: 4 } });
    await f.run(cdbWrite10(8, 2), { dataOut: pattern(2, 0x41) });
    const r = await f.run(cdbCompareAndWrite(8, 2), { dataOut: Buffer.concat([pattern(2, 0x41), pattern(2, 0x42)]) });
    expect(r).toEqual({ status: 0, dataOutLength: 2048 });
    expect((await read(f, 8, 2)).equals(pattern(2, 0x42))).toBe(true);
  });
  test('a miscompare writes nothing and reports the offset of the first differing byte', async () => {
    const f = makeLu({ limits: { maxCompareAndWriteLength: 4 } });
    await f.run(cdbWrite10(0, 2), { dataOut: pattern(2, 0x41) });
    const verify = pattern(2, 0x41);
    verify[512 + 100] = 0x43;
    const s = expectSense(
      await f.run(cdbCompareAndWrite(0, 2), { dataOut: Buffer.concat([verify, pattern(2, 0x42)]) }),
      SENSE_KEY.MISCOMPARE,
      ASC.MISCOMPARE_DURING_VERIFY_OPERATION,
    );
    expect(s.information).toBe(612);
    expect((await read(f, 0, 2)).equals(pattern(2, 0x41))).toBe(true);
  });
  test('more blocks than MAXIMUM COMPARE AND WRITE LENGTH is INVALID FIELD IN CDB', async () => {
    const f = makeLu();
    expect(f.lu.limits.maxCompareAndWriteLength).toBe(1);
    expectSense(await f.run(cdbCompareAndWrite(0, 2), { dataOut: pattern(4, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 13 });
  });
  test('Data-Out of any size but twice the blocks is INVALID FIELD IN CDB, NUMBER OF LOGICAL BLOCKS 0 included', async () => {
    const f = makeLu();
    expectSense(await f.run(cdbCompareAndWrite(0, 1), { dataOut: pattern(4, 0) }), IR, ASC.INVALID_FIELD_IN_CDB);
    expectSense(await f.run(cdbCompareAndWrite(0, 1), { dataOut: pattern(1, 0) }), IR, ASC.INVALID_FIELD_IN_CDB);
    expectSense(await f.run(cdbCompareAndWrite(0, 0), { dataOut: pattern(2, 0) }), IR, ASC.INVALID_FIELD_IN_CDB);
    expect((await f.run(cdbCompareAndWrite(0, 0))).status).toBe(0);
  });
  test('beyond the end is LBA OUT OF RANGE; WRPROTECT is refused; a read-only LU is DATA PROTECT', async () => {
    const f = makeLu({ blocks: 16 });
    expectSense(await f.run(cdbCompareAndWrite(16, 1), { dataOut: pattern(2, 0) }), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await f.run(cdbCompareAndWrite(0, 1, { protect: 2 }), { dataOut: pattern(2, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 7 });
    expectSense(await makeLu({ readOnly: true }).run(cdbCompareAndWrite(0, 1), { dataOut: pattern(2, 0) }), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  });
  test('DPO and FUA are accepted and reported in the CDB usage data', async () => {
    const f = makeLu();
    expect((await f.run(cdbCompareAndWrite(0, 1, { dpo: true, fua: true }), { dataOut: pattern(2, 0) })).status).toBe(0);
    const one = parseSupportedOpcodesOne((await f.run(cdbReportSupportedOpcodes({ options: 1, opcode: OP.COMPARE_AND_WRITE }))).data as Buffer);
    expect(one.usage[1]! & 0x18).toBe(0x18);
  });
  test('is atomic: a WRITE to the same block waits until the compare and the write are done', async () => {
    const gated = new GatedBackend(new MemoryBackend({ blocks: 64 }));
    const lu = new LogicalUnit({ lun: 0, backend: gated as unknown as BlockBackend });
    const caw = lu.execute(cmd(cdbCompareAndWrite(3, 1), { dataOut: Buffer.concat([pattern(1, 0), pattern(1, 0xcc)]) }));
    await settle();
    expect(gated.calls).toEqual(['read 3']);
    const w = lu.execute(cmd(cdbWrite10(3, 1), { dataOut: pattern(1, 0xdd) }));
    await settle();
    // The WRITE may not slip between the compare's read and its write.
    expect(gated.calls).toEqual(['read 3']);
    gated.release();
    await settle();
    expect(gated.calls).toEqual(['read 3', 'write 3']);
    gated.release();
    expect((await caw).status).toBe(0);
    await settle();
    expect(gated.calls).toEqual(['read 3', 'write 3', 'write 3']);
    gated.release();
    expect((await w).status).toBe(0);
  });
  test('is atomic: it waits for a WRITE already in progress on its blocks', async () => {
    const gated = new GatedBackend(new MemoryBackend({ blocks: 64 }));
    const lu = new LogicalUnit({ lun: 0, backend: gated as unknown as BlockBackend });
    const w = lu.execute(cmd(cdbWrite10(2, 4), { dataOut: pattern(4, 0xdd) }));
    await settle();
    const caw = lu.execute(cmd(cdbCompareAndWrite(3, 1), { dataOut: Buffer.concat([pattern(1, 0xdd), pattern(1, 0xee)]) }));
    await settle();
    expect(gated.calls).toEqual(['write 2']);
    gated.release();
    expect((await w).status).toBe(0);
    await settle();
    gated.release();
    await settle();
    gated.release();
    expect((await caw).status).toBe(0);
    expect(gated.calls).toEqual(['write 2', 'read 3', 'write 3']);
  });
  test('writes to other blocks are not held back', async () => {
    const gated = new GatedBackend(new MemoryBackend({ blocks: 64 }));
    const lu = new LogicalUnit({ lun: 0, backend: gated as unknown as BlockBackend });
    void lu.execute(cmd(cdbCompareAndWrite(3, 1), { dataOut: pattern(2, 0) }));
    void lu.execute(cmd(cdbWrite10(10, 1), { dataOut: pattern(1, 1) }));
    await settle();
    expect(gated.calls).toEqual(['read 3', 'write 10']);
  });
  test('two sessions racing COMPARE AND WRITE on one block: exactly one of each matching pair wins', async () => {
    const f = makeLu();
    const a = (from: number, to: number) => f.run(cdbCompareAndWrite(0, 1), { dataOut: Buffer.concat([pattern(1, from), pattern(1, to)]) });
    const results = await Promise.all([a(0, 1), a(0, 2), a(1, 3), a(2, 3)]);
    const good = results.filter((r) => r.status === 0).length;
    expect(good).toBe(2);
    expect((await read(f, 0, 1))[0]).toBe(3);
  });
});

describe('ORWRITE(16) (SBC-3 §5.9)', () => {
  test('each block becomes the OR of itself and the Data-Out', async () => {
    const f = makeLu();
    await f.run(cdbWrite10(0, 2), { dataOut: pattern(2, 0xa5) });
    expect((await f.run(cdbOrWrite16(0, 2), { dataOut: pattern(2, 0x5a) })).status).toBe(0);
    expect((await read(f, 0, 2)).equals(pattern(2, 0xff))).toBe(true);
  });
  test('zero blocks is GOOD; beyond the end is LBA OUT OF RANGE; ORPROTECT refused; read-only is DATA PROTECT', async () => {
    const f = makeLu({ blocks: 16 });
    expect((await f.run(cdbOrWrite16(0, 0))).status).toBe(0);
    expectSense(await f.run(cdbOrWrite16(15, 2), { dataOut: pattern(2, 0) }), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await f.run(cdbOrWrite16(0, 1, { protect: 1 }), { dataOut: pattern(1, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 7 });
    expectSense(await makeLu({ readOnly: true }).run(cdbOrWrite16(0, 1), { dataOut: pattern(1, 0) }), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  });
  test('does not interleave with a concurrent WRITE SAME of the same blocks', async () => {
    const gated = new GatedBackend(new MemoryBackend({ blocks: 64 }));
    const lu = new LogicalUnit({ lun: 0, backend: gated as unknown as BlockBackend });
    const or = lu.execute(cmd(cdbOrWrite16(0, 2), { dataOut: pattern(2, 1) }));
    await settle();
    const ws = lu.execute(cmd(cdbWriteSame16(1, 1), { dataOut: pattern(1, 2) }));
    await settle();
    expect(gated.calls).toEqual(['read 0']);
    for (let i = 0; i < 3; i++) {
      gated.release();
      await settle();
    }
    expect((await or).status).toBe(0);
    expect((await ws).status).toBe(0);
    expect(gated.calls).toEqual(['read 0', 'write 0', 'write 1']);
  });
});

describe('WRITE ATOMIC(16) (SBC-4 §5.48)', () => {
  test('writes all the blocks', async () => {
    const f = makeLu();
    expect(await f.run(cdbWriteAtomic16(4, 3), { dataOut: pattern(3, 0x77) })).toEqual({ status: 0, dataOutLength: 1536 });
    expect((await read(f, 4, 3)).equals(pattern(3, 0x77))).toBe(true);
  });
  test('a short Data-Out writes nothing: all or none', async () => {
    const f = makeLu();
    expectSense(await f.run(cdbWriteAtomic16(0, 3), { dataOut: pattern(2, 1) }), IR, ASC.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT);
    expect(f.backend.allocatedBytes).toBe(0);
  });
  test('beyond the end is LBA OUT OF RANGE even past MAXIMUM ATOMIC TRANSFER LENGTH; within it, too long is INVALID FIELD', async () => {
    const f = makeLu({ blocks: 64, limits: { maxAtomicTransferLength: 8 } });
    expectSense(await f.run(cdbWriteAtomic16(60, 16), { dataOut: pattern(16, 0) }), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await f.run(cdbWriteAtomic16(0, 9), { dataOut: pattern(9, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 12 });
  });
  test('an ATOMIC BOUNDARY is refused (no boundaries are offered); zero blocks is GOOD', async () => {
    const f = makeLu();
    expectSense(await f.run(cdbWriteAtomic16(0, 2, { boundary: 1 }), { dataOut: pattern(2, 0) }), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 10 });
    expect((await f.run(cdbWriteAtomic16(0, 0))).status).toBe(0);
  });
  test('a read-only LU refuses it with DATA PROTECT', async () => {
    expectSense(await makeLu({ readOnly: true }).run(cdbWriteAtomic16(0, 1), { dataOut: pattern(1, 0) }), SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
  });
  test('waits for a COMPARE AND WRITE holding one of its blocks', async () => {
    const gated = new GatedBackend(new MemoryBackend({ blocks: 64 }));
    const lu = new LogicalUnit({ lun: 0, backend: gated as unknown as BlockBackend });
    void lu.execute(cmd(cdbCompareAndWrite(5, 1), { dataOut: pattern(2, 0) }));
    await settle();
    void lu.execute(cmd(cdbWriteAtomic16(4, 4), { dataOut: pattern(4, 1) }));
    await settle();
    expect(gated.calls).toEqual(['read 5']);
  });
});
