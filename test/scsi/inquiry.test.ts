// INQUIRY (SPC-4 §6.6): standard data and the VPD pages (SPC-4 §7.8, SBC-3 §6.5).
import { describe, expect, test } from 'vitest';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import {
  cdbInquiry,
  parseInquiry,
  parseVpd83,
  parseVpdBlockDeviceCharacteristics,
  parseVpdBlockLimits,
  parseVpdLogicalBlockProvisioning,
  parseVpdSerialNumber,
  parseVpdSupportedPages,
} from '../../src/scsi/cdb/index.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { deriveNaa, parseNaa } from '../../src/scsi/inquiry.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import { TARGET, cmd, expectSense, makeLu, nexus } from './helpers.js';

const vpd = (page: number, alloc = 255) => cdbInquiry({ evpd: true, page, alloc });

describe('standard INQUIRY data (SPC-4 §6.6.2)', () => {
  test('describes a connected direct-access device claiming SPC-4', async () => {
    const f = makeLu();
    const inq = parseInquiry((await f.run(cdbInquiry({ alloc: 255 }))).data as Buffer);
    expect(inq).toMatchObject({
      peripheralQualifier: 0,
      deviceType: 0,
      rmb: false,
      version: 6,
      hisup: true,
      responseDataFormat: 2,
      cmdque: true,
      protect: false,
      vendor: 'TSISCSI',
      product: 'VIRTUAL-DISK',
    });
  });
  test('ADDITIONAL LENGTH counts exactly the bytes returned after byte 4', async () => {
    const data = (await makeLu().run(cdbInquiry({ alloc: 1024 }))).data as Buffer;
    expect(data[4]).toBe(data.length - 5);
  });
  test('claims SAM-5, SPC-4, SBC-3 and iSCSI version descriptors', async () => {
    const inq = parseInquiry((await makeLu().run(cdbInquiry({ alloc: 255 }))).data as Buffer);
    expect(inq.versionDescriptors).toEqual([0x00a0, 0x0960, 0x0460, 0x04c0]);
  });
  test('is truncated to the allocation length (SPC-4 §4.2.5.6)', async () => {
    const f = makeLu();
    expect((await f.run(cdbInquiry({ alloc: 5 }))).data?.length).toBe(5);
    expect((await f.run(cdbInquiry({ alloc: 0 }))).data?.length).toBe(0);
  });
  test('a 16-bit allocation length with low byte 0 is honoured', async () => {
    const f = makeLu();
    const a = (await f.run(cdbInquiry({ alloc: 511 }))).data;
    const b = (await f.run(cdbInquiry({ alloc: 512 }))).data;
    expect(b).toEqual(a);
  });
  test('sets RMB for a backend whose medium is removable (the LU option overrides it)', async () => {
    const removable = new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 8, removable: true }) });
    expect(parseInquiry((await removable.execute(cmd(cdbInquiry()))).data as Buffer).rmb).toBe(true);
    const fixed = new LogicalUnit({ lun: 0, removable: false, backend: new MemoryBackend({ blocks: 8, removable: true }) });
    expect(fixed.removable).toBe(false);
  });
  test('sets RMB for a removable LU', async () => {
    const inq = parseInquiry((await makeLu({ removable: true }).run(cdbInquiry())).data as Buffer);
    expect(inq.rmb).toBe(true);
  });
  test('uses the configured vendor, product and revision', async () => {
    const inq = parseInquiry((await makeLu({ vendor: 'ACME', product: 'ROCKET', revision: '9' }).run(cdbInquiry())).data as Buffer);
    expect([inq.vendor, inq.product, inq.revision]).toEqual(['ACME', 'ROCKET', '9']);
  });
  test('a PAGE CODE without EVPD is INVALID FIELD IN CDB at byte 2', async () => {
    expectSense(await makeLu().run(cdbInquiry({ page: 1 })), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2 });
  });
});

describe('VPD pages', () => {
  test('supported pages are listed in ascending order and each can be read', async () => {
    const f = makeLu();
    const pages = parseVpdSupportedPages((await f.run(vpd(0))).data as Buffer);
    expect(pages).toEqual([0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1, 0xb2]);
    for (const p of pages) expect((await f.run(vpd(p))).status).toBe(0);
  });
  test('an unsupported page is INVALID FIELD IN CDB at byte 2', async () => {
    expectSense(await makeLu().run(vpd(0x86)), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2 });
  });
  test('unit serial number is stable for the same target and LUN', async () => {
    const a = parseVpdSerialNumber((await makeLu().run(vpd(0x80))).data as Buffer);
    const b = parseVpdSerialNumber((await makeLu().run(vpd(0x80))).data as Buffer);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(b).toBe(a);
  });
  test('unit serial number can be set', async () => {
    expect(parseVpdSerialNumber((await makeLu({ serial: 'SN-42' }).run(vpd(0x80))).data as Buffer)).toBe('SN-42');
  });
  test('device identification carries NAA, T10 vendor ID, port and device designators', async () => {
    const f = makeLu();
    const ds = parseVpd83((await f.run(vpd(0x83))).data as Buffer);
    const n = nexus(1);
    expect(ds.map((d) => [d.association, d.designatorType, d.piv, d.protocolIdentifier, d.codeSet])).toEqual([
      [0, 3, false, 0, 1],
      [0, 1, false, 0, 2],
      [1, 4, true, 5, 1],
      [1, 8, true, 5, 3],
      [2, 8, true, 5, 3],
    ]);
    expect(ds[0]!.designator).toEqual(f.lu.identity.naa);
    expect(ds[1]!.text).toBe(`TSISCSI ${f.lu.identity.serial}`);
    expect(ds[2]!.designator.readUInt16BE(2)).toBe(1);
    expect(ds[3]!.text).toBe(n.targetPortName);
    expect(ds[4]!.text).toBe(TARGET);
  });
  test('SCSI name strings are NUL-terminated and padded to a multiple of 4', async () => {
    const ds = parseVpd83((await makeLu().run(vpd(0x83))).data as Buffer);
    for (const d of ds.filter((x) => x.designatorType === 8)) {
      expect(d.designator.length % 4).toBe(0);
      expect(d.designator.includes(0)).toBe(true);
    }
  });
  test('the NAA designator is NAA 6 and derived from target name and LUN', () => {
    const a = deriveNaa(TARGET, 0);
    expect(a.length).toBe(16);
    expect(a[0]! >> 4).toBe(6);
    expect(deriveNaa(TARGET, 0)).toEqual(a);
    expect(deriveNaa(TARGET, 1)).not.toEqual(a);
  });
  test('the IEEE company ID lands in the 24 bits after the NAA field', () => {
    const a = deriveNaa(TARGET, 0, 0xabcdef);
    expect(a.readUInt32BE(0) >>> 4).toBe(0x6abcdef);
  });
  test('an explicit NAA designator is used as given', async () => {
    const naa = '6001405aabbccddeeff00112233445566';
    const f = makeLu({ naa: naa.slice(0, 32) });
    expect(f.lu.identity.naa.toString('hex')).toBe(naa.slice(0, 32));
    expect(() => parseNaa('12')).toThrow(RangeError);
    expect(() => parseNaa('5'.repeat(32))).toThrow(RangeError);
  });
  test('block limits report the transfer limits and those of every implemented command', async () => {
    const f = makeLu({ limits: { maxTransferLength: 128, optimalTransferLength: 16 } });
    const data = (await f.run(vpd(0xb0))).data as Buffer;
    expect(data.readUInt16BE(2)).toBe(0x3c);
    expect(data.length).toBe(data[3]! + 4);
    expect(parseVpdBlockLimits(data)).toMatchObject({
      maxTransferLength: 128,
      optimalTransferLength: 16,
      optimalTransferLengthGranularity: 1,
      maxCompareAndWriteLength: 1,
      maxUnmapLbaCount: f.lu.limits.maxUnmapLbaCount,
      maxUnmapBlockDescriptorCount: f.lu.limits.maxUnmapBlockDescriptorCount,
      maxWriteSameLength: f.lu.limits.maxWriteSameLength,
      maxAtomicTransferLength: 128,
    });
  });
  test('block limits report no unmap limits when the backend cannot deallocate', async () => {
    const backend = new MemoryBackend({ blocks: 64 });
    Object.defineProperty(backend, 'unmap', { value: undefined });
    const lu = new LogicalUnit({ lun: 0, backend });
    const data = (await lu.execute(cmd(vpd(0xb0)))).data as Buffer;
    expect(parseVpdBlockLimits(data)).toMatchObject({ maxUnmapLbaCount: 0, maxUnmapBlockDescriptorCount: 0 });
  });
  test('block device characteristics report a non-rotating medium', async () => {
    const data = (await makeLu().run(vpd(0xb1))).data as Buffer;
    expect(parseVpdBlockDeviceCharacteristics(data).mediumRotationRate).toBe(1);
  });
  test('logical block provisioning reports thin provisioning over a deallocating backend', async () => {
    const data = (await makeLu().run(vpd(0xb2))).data as Buffer;
    expect(parseVpdLogicalBlockProvisioning(data)).toMatchObject({ lbpu: true, lbpws: true, lbpws10: true, lbprz: 1, provisioningType: 2 });
    expect(data[5]! & 0x02).toBe(0x02); // ANC_SUP
  });
  test('logical block provisioning reports nothing the backend cannot do', async () => {
    const backend = new MemoryBackend({ blocks: 64 });
    Object.defineProperty(backend, 'unmap', { value: undefined });
    const lu = new LogicalUnit({ lun: 0, backend });
    const data = (await lu.execute(cmd(vpd(0xb2)))).data as Buffer;
    expect(parseVpdLogicalBlockProvisioning(data)).toMatchObject({ lbpu: false, lbpws: false, lbpws10: false, lbprz: 0, provisioningType: 0 });
  });
  test('VPD data is truncated to the allocation length', async () => {
    expect((await makeLu().run(vpd(0x83, 6))).data?.length).toBe(6);
  });
});
