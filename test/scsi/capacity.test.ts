// READ CAPACITY(10)/(16) (SBC-3 §5.15, §5.16) and the provisioning facts they share with VPD B2h.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import {
  cdbInquiry,
  cdbReadCapacity10,
  cdbReadCapacity16,
  parseReadCapacity10,
  parseReadCapacity16,
  parseVpdBlockLimits,
  parseVpdLogicalBlockProvisioning,
} from '../../src/scsi/cdb/index.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { cmd, expectSense, makeLu } from './helpers.js';

describe('READ CAPACITY(10)', () => {
  test('returns the last LBA and the block length', async () => {
    const r = parseReadCapacity10((await makeLu({ blocks: 1000 }).run(cdbReadCapacity10())).data as Buffer);
    expect(r).toEqual({ lastLba: 999, blockLength: 512, blocks: 1000 });
  });
  test('reports FFFFFFFFh for a capacity beyond 32 bits', async () => {
    const lu = new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 2 ** 33 }) });
    const r = parseReadCapacity10((await lu.execute(cmd(cdbReadCapacity10()))).data as Buffer);
    expect(r.lastLba).toBe(0xffffffff);
  });
  test('a LOGICAL BLOCK ADDRESS without PMI is INVALID FIELD IN CDB', async () => {
    const c = cdbReadCapacity10();
    c.writeUInt32BE(5, 2);
    expectSense(await makeLu().run(c), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2 });
  });
  test('PMI is accepted', async () => {
    const c = cdbReadCapacity10();
    c[8] = 1;
    c.writeUInt32BE(5, 2);
    expect((await makeLu().run(c)).status).toBe(0);
  });
});

describe('READ CAPACITY(16)', () => {
  test('returns capacity, block length and LBPPBE', async () => {
    const f = makeLu({ blocks: 4096, blockSize: 4096, lbppbe: 0 });
    const r = parseReadCapacity16((await f.run(cdbReadCapacity16())).data as Buffer);
    // The memory backend deallocates (thin provisioning), so LBPME and LBPRZ are set.
    expect(r).toMatchObject({ lastLba: 4095, blocks: 4096, blockLength: 4096, lbppbe: 0, protEn: false, pType: 0, lbpme: true, lbprz: true });
  });
  test('reports the configured logical blocks per physical block exponent', async () => {
    const r = parseReadCapacity16((await makeLu({ lbppbe: 3 }).run(cdbReadCapacity16())).data as Buffer);
    expect(r.lbppbe).toBe(3);
  });
  test('is truncated to the allocation length, and 0 returns no data', async () => {
    const f = makeLu();
    expect((await f.run(cdbReadCapacity16({ alloc: 12 }))).data?.length).toBe(12);
    expect(await f.run(cdbReadCapacity16({ alloc: 0 }))).toMatchObject({ status: 0, data: Buffer.alloc(0) });
  });
  test('reports a capacity beyond 32 bits exactly', async () => {
    const lu = new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 2 ** 40 + 3 }) });
    expect(parseReadCapacity16((await lu.execute(cmd(cdbReadCapacity16()))).data as Buffer).blocks).toBe(2 ** 40 + 3);
  });
  test('an unknown SERVICE ACTION IN(16) service action is INVALID FIELD IN CDB at byte 1', async () => {
    const c = cdbReadCapacity16();
    c[1] = 0x11; // no such service action
    expectSense(await makeLu().run(c), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 1, bit: 4 });
  });
});

describe('provisioning is reported from what the LU implements', () => {
  test('with an unmapping backend, LBPME, LBPRZ and LBPU are set', async () => {
    const f = makeLu();
    const rc = parseReadCapacity16((await f.run(cdbReadCapacity16())).data as Buffer);
    expect([rc.lbpme, rc.lbprz]).toEqual([true, true]);
    const lbp = parseVpdLogicalBlockProvisioning((await f.run(cdbInquiry({ evpd: true, page: 0xb2 }))).data as Buffer);
    expect(lbp).toMatchObject({ lbpu: true, lbprz: 1, provisioningType: 2 });
    const bl = parseVpdBlockLimits((await f.run(cdbInquiry({ evpd: true, page: 0xb0 }))).data as Buffer);
    expect(bl.maxUnmapLbaCount).toBeGreaterThan(0);
    expect(bl.maxUnmapBlockDescriptorCount).toBeGreaterThan(0);
  });
  test('without backend unmap support the LU is fully provisioned', async () => {
    const backend = new MemoryBackend({ blocks: 64 });
    Object.defineProperty(backend, 'unmap', { value: undefined });
    const lu = new LogicalUnit({ lun: 0, backend });
    expect(lu.capabilities).toMatchObject({ lbpme: false, unmap: false, writeSameUnmap16: false, anchor: false });
    const rc = parseReadCapacity16((await lu.execute(cmd(cdbReadCapacity16()))).data as Buffer);
    expect([rc.lbpme, rc.lbprz]).toEqual([false, false]);
  });
});

describe('the physical block size comes from the backend', () => {
  test('a 4096-byte physical block under 512-byte logical blocks is LBPPBE 3, and the unmap granularity follows', async () => {
    const lu = new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 64, physicalBlockSize: 4096 }) });
    expect(parseReadCapacity16((await lu.execute(cmd(cdbReadCapacity16()))).data as Buffer).lbppbe).toBe(3);
    const bl = (await lu.execute(cmd(cdbInquiry({ evpd: true, page: 0xb0 })))).data as Buffer;
    expect(bl.readUInt32BE(28)).toBe(8); // OPTIMAL UNMAP GRANULARITY
  });
  test('the LU option overrides it; a size that is not a power-of-two multiple is ignored', () => {
    expect(new LogicalUnit({ lun: 0, lbppbe: 1, backend: new MemoryBackend({ blocks: 64, physicalBlockSize: 4096 }) }).lbppbe).toBe(1);
    expect(new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 64, physicalBlockSize: 1536 }) }).lbppbe).toBe(0);
  });
});
