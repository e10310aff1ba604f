// What the LU takes from a backend that writes zeros without a buffer and whose deallocation does
// not promise zeros (an NBD export: WRITE_ZEROES, TRIM): LBPRZ follows the backend (SBC-3 §4.7.3.4),
// and WRITE SAME of a zero block becomes one writeZeroes that keeps the blocks mapped (SBC-3 §4.7.3.3).

import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import type { WriteZeroesOptions } from '../../src/backend/types.js';
import { cdbInquiry, cdbReadCapacity16, cdbUnmap, cdbWriteSame16, parseReadCapacity16, parseVpdLogicalBlockProvisioning } from '../../src/scsi/index.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { cmd } from './helpers.js';

/** Memory with a writeZeroes that records its calls, and a flag for what unmapped blocks read as. */
class ZeroingMemory extends MemoryBackend {
  readonly zeroCalls: { lba: number; count: number; opts: WriteZeroesOptions | undefined }[] = [];
  readonly unmapReadsZeros: boolean;
  constructor(blocks: number, unmapReadsZeros: boolean) {
    super({ blocks });
    this.unmapReadsZeros = unmapReadsZeros;
  }
  async writeZeroes(lba: number, count: number, opts?: WriteZeroesOptions): Promise<void> {
    this.zeroCalls.push({ lba, count, opts });
    await this.write(lba, Buffer.alloc(count * this.blockSize));
  }
}

describe('a backend with writeZeroes and its own LBPRZ', () => {
  test('reports LBPRZ 0 when unmapped blocks may not read back as zeros, still thin (LBPME, LBPU)', async () => {
    const lu = new LogicalUnit({ lun: 0, backend: new ZeroingMemory(1024, false) });
    expect(lu.capabilities).toMatchObject({ lbpme: true, lbprz: false, unmap: true });
    const rc = parseReadCapacity16((await lu.execute(cmd(cdbReadCapacity16()))).data as Buffer);
    expect([rc.lbpme, rc.lbprz]).toEqual([true, false]);
    const lbp = parseVpdLogicalBlockProvisioning((await lu.execute(cmd(cdbInquiry({ evpd: true, page: 0xb2 })))).data as Buffer);
    expect(lbp).toMatchObject({ lbpu: true, lbprz: 0, provisioningType: 2 });
  });

  test('reports LBPRZ 1 when it promises zeros', () => {
    expect(new LogicalUnit({ lun: 0, backend: new ZeroingMemory(1024, true) }).capabilities.lbprz).toBe(true);
  });

  test('turns WRITE SAME of a zero block into one writeZeroes of the whole range, blocks kept mapped', async () => {
    const b = new ZeroingMemory(4096, true);
    const lu = new LogicalUnit({ lun: 0, backend: b });
    await b.write(100, Buffer.alloc(512 * 300, 7));
    const r = await lu.execute(cmd(cdbWriteSame16(100, 300), { dataOut: Buffer.alloc(512) }));
    expect(r.status).toBe(0);
    expect(b.zeroCalls).toEqual([{ lba: 100, count: 300, opts: { mapped: true, fua: false } }]);
    const back = Buffer.alloc(512 * 300, 1);
    await b.read(100, 300, back);
    expect(back.every((x) => x === 0)).toBe(true);
  });

  test('writes a non-zero WRITE SAME block as data, and UNMAP still deallocates through unmap', async () => {
    const b = new ZeroingMemory(4096, true);
    const lu = new LogicalUnit({ lun: 0, backend: b });
    await lu.execute(cmd(cdbWriteSame16(0, 8), { dataOut: Buffer.alloc(512, 5) }));
    const u = cdbUnmap([[0, 8]]);
    await lu.execute(cmd(u.cdb, { dataOut: u.data }));
    expect(b.zeroCalls).toEqual([]);
  });
});
