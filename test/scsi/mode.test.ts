// MODE SENSE(6)/(10) and MODE SELECT(6)/(10) (SPC-4 §6.9-6.12) over the caching, control and
// informational exceptions pages (SBC-3 §6.4.5, SPC-4 §7.5.7, §7.5.10).
import { describe, expect, test } from 'vitest';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import { cdbModeSelect10, cdbModeSelect6, cdbModeSense10, cdbModeSense6, cdbRead10, parseModeSense } from '../../src/scsi/cdb/index.js';
import { expectSense, makeLu, nexus } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

async function sense6(f: ReturnType<typeof makeLu>, opts: Parameters<typeof cdbModeSense6>[0] = {}) {
  const r = await f.run(cdbModeSense6({ alloc: 255, ...opts }));
  expect(r.status).toBe(0);
  return parseModeSense(r.data as Buffer, false);
}

function controlPage(dSense: boolean, swp: boolean): Buffer {
  return Buffer.from([0x0a, 0x0a, 0x02 | (dSense ? 0x04 : 0), 0x10, swp ? 0x08 : 0, 0, 0, 0, 0, 0, 0, 0]);
}

function select6(page: Buffer): Buffer {
  return Buffer.concat([Buffer.alloc(4), page]);
}

describe('MODE SENSE', () => {
  test('all pages returns caching, control and informational exceptions in order', async () => {
    const m = await sense6(makeLu());
    expect(m.pages.map((p) => p.pageCode)).toEqual([0x08, 0x0a, 0x1c]);
  });
  test('mode data length counts the bytes after itself', async () => {
    const r = await makeLu().run(cdbModeSense6({ alloc: 255 }));
    expect(r.data![0]).toBe(r.data!.length - 1);
  });
  test('a short block descriptor gives capacity and block length', async () => {
    const m = await sense6(makeLu({ blocks: 1234 }));
    expect(m.blockDescriptors).toEqual([{ blocks: 1234, blockLength: 512 }]);
  });
  test('DBD leaves out the block descriptor', async () => {
    expect((await sense6(makeLu(), { dbd: true })).blockDescriptors).toEqual([]);
  });
  test('MODE SENSE(10) with LLBAA returns a long LBA block descriptor', async () => {
    const r = await makeLu({ blocks: 99 }).run(cdbModeSense10({ llbaa: true }));
    const m = parseModeSense(r.data as Buffer, true);
    expect(m.longLba).toBe(true);
    expect(m.blockDescriptors).toEqual([{ blocks: 99, blockLength: 512 }]);
    expect(r.data!.readUInt16BE(0)).toBe(r.data!.length - 2);
  });
  test('the device-specific parameter sets DPOFUA, and WP for a read-only LU', async () => {
    expect((await sense6(makeLu())).deviceSpecific).toBe(0x10);
    expect((await sense6(makeLu({ readOnly: true }))).deviceSpecific).toBe(0x90);
  });
  test('the caching page reports WCE', async () => {
    const m = await sense6(makeLu(), { page: 0x08 });
    expect(m.pages[0]!.data[2]! & 0x04).toBe(0x04);
    const off = await sense6(makeLu({ writeCache: false }), { page: 0x08 });
    expect(off.pages[0]!.data[2]! & 0x04).toBe(0);
  });
  test('changeable values show WCE, D_SENSE and SWP', async () => {
    const m = await sense6(makeLu(), { pc: 1 });
    const [caching, control, iec] = m.pages;
    expect(caching!.data[2]).toBe(0x04);
    expect([control!.data[2], control!.data[4]]).toEqual([0x04, 0x08]);
    expect(iec!.data.subarray(2).every((b) => b === 0)).toBe(true);
  });
  test('default values are reported with PC=10b', async () => {
    const f = makeLu();
    f.lu.mode.dSense = true;
    const m = await sense6(f, { pc: 2, page: 0x0a });
    expect(m.pages[0]!.data[2]! & 0x04).toBe(0);
  });
  test('saved values are SAVING PARAMETERS NOT SUPPORTED', async () => {
    expectSense(await makeLu().run(cdbModeSense6({ pc: 3 })), IR, ASC.SAVING_PARAMETERS_NOT_SUPPORTED);
  });
  test('an unsupported page is INVALID FIELD IN CDB at byte 2', async () => {
    expectSense(await makeLu().run(cdbModeSense6({ page: 0x19 })), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 2, bit: 5 });
  });
  test('an unsupported subpage is INVALID FIELD IN CDB at byte 3', async () => {
    expectSense(await makeLu().run(cdbModeSense6({ page: 0x0a, subpage: 1 })), IR, ASC.INVALID_FIELD_IN_CDB, { cd: true, field: 3 });
  });
  test('all pages and subpages (3Fh/FFh) is accepted', async () => {
    expect((await sense6(makeLu(), { subpage: 0xff })).pages.length).toBe(3);
  });
  test('an allocation length of 4 returns only the header', async () => {
    expect((await makeLu().run(cdbModeSense6({ alloc: 4 }))).data?.length).toBe(4);
  });
});

describe('MODE SELECT', () => {
  test('setting D_SENSE switches sense data to descriptor format', async () => {
    const f = makeLu();
    const page = select6(controlPage(true, false));
    expect((await f.run(cdbModeSelect6(page.length), { dataOut: page })).status).toBe(0);
    const r = await f.run(cdbRead10(1 << 20, 1));
    expect(r.sense![0]).toBe(0x72);
  });
  test('MODE SELECT(10) works the same', async () => {
    const f = makeLu();
    const page = Buffer.concat([Buffer.alloc(8), controlPage(false, true)]);
    expect((await f.run(cdbModeSelect10(page.length), { dataOut: page })).status).toBe(0);
    expect(f.lu.mode.swp).toBe(true);
  });
  test('clearing WCE is accepted', async () => {
    const f = makeLu();
    const page = select6(Buffer.from([0x08, 0x12, ...Buffer.alloc(18)]));
    expect((await f.run(cdbModeSelect6(page.length), { dataOut: page })).status).toBe(0);
    expect(f.lu.mode.wce).toBe(false);
  });
  test('a page read with MODE SENSE is accepted back unchanged', async () => {
    const f = makeLu();
    const m = await sense6(f, { dbd: true });
    const data = select6(Buffer.concat(m.pages.map((p) => p.data)));
    expect((await f.run(cdbModeSelect6(data.length), { dataOut: data })).status).toBe(0);
  });
  test('changing a field that is not changeable is INVALID FIELD IN PARAMETER LIST pointing at it', async () => {
    const f = makeLu();
    const page = select6(controlPage(false, false));
    page[4 + 3] = 0x00; // QUEUE ALGORITHM MODIFIER 1 -> 0
    expectSense(await f.run(cdbModeSelect6(page.length), { dataOut: page }), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST, {
      cd: false,
      field: 7,
      bit: 4,
    });
  });
  test('the PS bit is reserved in MODE SELECT', async () => {
    const page = select6(controlPage(false, false));
    page[4] |= 0x80;
    expectSense(await makeLu().run(cdbModeSelect6(page.length), { dataOut: page }), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST, {
      cd: false,
      field: 4,
      bit: 7,
    });
  });
  test('a wrong page length is INVALID FIELD IN PARAMETER LIST', async () => {
    const page = select6(controlPage(false, false));
    page[5] = 0x0b;
    expectSense(await makeLu().run(cdbModeSelect6(page.length), { dataOut: page }), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST, {
      cd: false,
      field: 5,
    });
  });
  test('an unknown page is INVALID FIELD IN PARAMETER LIST', async () => {
    const page = select6(Buffer.from([0x19, 2, 0, 0]));
    expectSense(await makeLu().run(cdbModeSelect6(page.length), { dataOut: page }), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
  });
  test('a page cut short by the parameter list length is PARAMETER LIST LENGTH ERROR', async () => {
    const page = select6(controlPage(true, false)).subarray(0, 10);
    expectSense(await makeLu().run(cdbModeSelect6(page.length), { dataOut: page }), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
  });
  test('less Data-Out than the parameter list length is PARAMETER LIST LENGTH ERROR', async () => {
    const page = select6(controlPage(true, false));
    const r = await makeLu().run(cdbModeSelect6(page.length), { dataOut: page.subarray(0, 8) });
    expectSense(r, IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
    expect(r.dataOutLength).toBe(16);
  });
  test('a list shorter than the header is PARAMETER LIST LENGTH ERROR', async () => {
    expectSense(await makeLu().run(cdbModeSelect6(2), { dataOut: Buffer.alloc(2) }), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
  });
  test('SP=1 is INVALID FIELD IN CDB at byte 1 bit 0', async () => {
    expectSense(await makeLu().run(cdbModeSelect6(16, { sp: true }), { dataOut: Buffer.alloc(16) }), IR, ASC.INVALID_FIELD_IN_CDB, {
      cd: true,
      field: 1,
      bit: 0,
    });
  });
  test('PF=0 is INVALID FIELD IN CDB at byte 1 bit 4', async () => {
    expectSense(await makeLu().run(cdbModeSelect6(16, { pf: false }), { dataOut: Buffer.alloc(16) }), IR, ASC.INVALID_FIELD_IN_CDB, {
      cd: true,
      field: 1,
      bit: 4,
    });
  });
  test('a parameter list length of 0 changes nothing', async () => {
    expect((await makeLu().run(cdbModeSelect6(0))).status).toBe(0);
  });
  test('a block descriptor with another block length is INVALID FIELD IN PARAMETER LIST', async () => {
    const data = Buffer.alloc(12);
    data[3] = 8;
    data.writeUIntBE(4096, 9, 3);
    expectSense(await makeLu().run(cdbModeSelect6(12), { dataOut: data }), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST, { cd: false, field: 9 });
  });
  test('a block descriptor with the current block length is accepted', async () => {
    const data = Buffer.alloc(12);
    data[3] = 8;
    data.writeUIntBE(512, 9, 3);
    expect((await makeLu().run(cdbModeSelect6(12), { dataOut: data })).status).toBe(0);
  });
  test('a change is reported as MODE PARAMETERS CHANGED to the other nexuses only', async () => {
    const f = makeLu();
    const [a, b] = [nexus(1), nexus(2)];
    await f.run(cdbRead10(0, 1), { nexus: a });
    await f.run(cdbRead10(0, 1), { nexus: b });
    const page = select6(controlPage(true, false));
    await f.run(cdbModeSelect6(page.length), { dataOut: page, nexus: a });
    expect(f.lu.pendingUnitAttentions(a.id)).toEqual([]);
    expect(f.lu.pendingUnitAttentions(b.id)).toEqual([ASC.MODE_PARAMETERS_CHANGED]);
  });
  test('writing back the current values establishes no unit attention', async () => {
    const f = makeLu();
    await f.run(cdbRead10(0, 1), { nexus: nexus(2) });
    const page = select6(controlPage(false, false));
    await f.run(cdbModeSelect6(page.length), { dataOut: page });
    expect(f.lu.pendingUnitAttentions(nexus(2).id)).toEqual([]);
  });
});
