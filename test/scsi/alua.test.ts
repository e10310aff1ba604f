// ALUA on the wire (SPC-4 §6.37 REPORT TARGET PORT GROUPS, §6.45 SET TARGET PORT GROUPS, §7.8.6 the
// port designators): CDB bytes, parameter data both ways, and what a path's identity is made of.
import { describe, expect, test } from 'vitest';
import { parseVpd83 } from '../../src/scsi/cdb/vpd.js';
import {
  ALUA_STATE,
  aluaStateName,
  cdbReportTargetPortGroups,
  cdbSetTargetPortGroups,
  encodeReportTargetPortGroups,
  encodeSetTargetPortGroups,
  parseReportTargetPortGroups,
  pathIdentity,
} from '../../src/scsi/cdb/alua.js';
import { vpd83 } from './vpd83.js';

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(n, 2);
  return b;
};

describe('REPORT TARGET PORT GROUPS (SPC-4 §6.37)', () => {
  test('the CDB is MAINTENANCE IN, service action 0Ah, with the allocation length in bytes 6-9', () => {
    expect(cdbReportTargetPortGroups({ alloc: 0x1234 }).toString('hex')).toBe('a30a00000000000012340000');
    expect(cdbReportTargetPortGroups({ extended: true, alloc: 8 })[1]).toBe(0x2a);
  });

  test('parses what it encodes, length-only header', () => {
    const groups = [
      { pref: true, state: ALUA_STATE.ACTIVE_OPTIMIZED, tpg: 1, statusCode: 2, ports: [1], supported: { activeOptimized: true, activeNonOptimized: true, standby: true, transitioning: true } },
      { pref: false, state: ALUA_STATE.ACTIVE_NON_OPTIMIZED, tpg: 2, statusCode: 0, ports: [2, 3], supported: { activeOptimized: true } },
    ];
    const data = encodeReportTargetPortGroups(groups);
    expect(data.readUInt32BE(0)).toBe(data.length - 4);
    const r = parseReportTargetPortGroups(data);
    expect(r.extended).toBe(false);
    expect(r.needed).toBe(data.length);
    expect(r.groups).toHaveLength(2);
    expect(r.groups[0]).toMatchObject({ pref: true, state: 0, tpg: 1, statusCode: 2, ports: [1] });
    expect(r.groups[0]!.supported).toEqual({ transitioning: true, offline: false, lbaDependent: false, unavailable: false, standby: true, activeNonOptimized: true, activeOptimized: true });
    expect(r.groups[1]).toMatchObject({ pref: false, state: 1, tpg: 2, ports: [2, 3] });
  });

  test('parses the extended header and its implicit transition time', () => {
    const data = encodeReportTargetPortGroups([{ state: ALUA_STATE.STANDBY, tpg: 7, ports: [9] }], { extended: true, implicitTransitionTime: 12 });
    const r = parseReportTargetPortGroups(data);
    expect(r).toMatchObject({ extended: true, implicitTransitionTime: 12 });
    expect(r.groups).toMatchObject([{ state: ALUA_STATE.STANDBY, tpg: 7, ports: [9] }]);
  });

  test('data cut by the allocation length keeps the whole groups and says how much there is', () => {
    const data = encodeReportTargetPortGroups([
      { state: 0, tpg: 1, ports: [1] },
      { state: 1, tpg: 2, ports: [2] },
    ]);
    const r = parseReportTargetPortGroups(data.subarray(0, 20));
    expect(r.groups.map((g) => g.tpg)).toEqual([1]);
    expect(r.needed).toBe(data.length);
  });

  test('refuses a descriptor that overruns whole data', () => {
    const data = encodeReportTargetPortGroups([{ state: 0, tpg: 1, ports: [1] }]);
    data[4 + 7] = 3; // three ports claimed, one present
    expect(() => parseReportTargetPortGroups(data)).toThrow(RangeError);
    expect(() => parseReportTargetPortGroups(Buffer.alloc(2))).toThrow(RangeError);
  });

  test('names the states as the initiator reports them', () => {
    expect(aluaStateName(ALUA_STATE.ACTIVE_OPTIMIZED)).toBe('active/optimized');
    expect(aluaStateName(ALUA_STATE.TRANSITIONING)).toBe('transitioning');
    expect(aluaStateName(0x9)).toBe('reserved state 0x9');
  });
});

describe('SET TARGET PORT GROUPS (SPC-4 §6.45)', () => {
  test('the CDB is MAINTENANCE OUT, service action 0Ah, and the list a descriptor per group after 4 reserved bytes', () => {
    const data = encodeSetTargetPortGroups([{ tpg: 0x0102, state: ALUA_STATE.ACTIVE_OPTIMIZED }]);
    expect(data.toString('hex')).toBe('0000000000000102');
    expect(cdbSetTargetPortGroups(data.length).toString('hex')).toBe('a40a00000000000000080000');
    expect(() => encodeSetTargetPortGroups([{ tpg: 0x10000, state: 0 }])).toThrow(RangeError);
  });
});

describe('path identity from the Device Identification page (SPC-4 §7.8.6)', () => {
  const naa = Buffer.from('6001405abcdef0123456789abcdef012', 'hex');

  test('takes the NAA designator of the LU, the relative target port and the target port group', () => {
    const id = pathIdentity(
      parseVpd83(
        vpd83([
          { assoc: 0, type: 1, codeSet: 2, value: Buffer.from('TSISCSI serial') },
          { assoc: 0, type: 3, value: naa },
          { assoc: 1, type: 4, value: u16(2) },
          { assoc: 1, type: 5, value: u16(7) },
        ]),
      ),
    );
    expect(id).toEqual({ lu: `3:${naa.toString('hex')}`, relativeTargetPort: 2, targetPortGroup: 7 });
  });

  test('falls back to an EUI-64 designator, and has no LU identity with only a vendor one', () => {
    const eui = Buffer.from('0011223344556677', 'hex');
    expect(pathIdentity(parseVpd83(vpd83([{ assoc: 0, type: 2, value: eui }]))).lu).toBe(`2:${eui.toString('hex')}`);
    expect(pathIdentity(parseVpd83(vpd83([{ assoc: 0, type: 1, codeSet: 2, value: Buffer.from('VENDOR  x') }])))).toEqual({ lu: undefined, relativeTargetPort: undefined, targetPortGroup: undefined });
  });

  test('ignores a target port designator placed on the LU association', () => {
    expect(pathIdentity(parseVpd83(vpd83([{ assoc: 0, type: 4, value: u16(3) }]))).relativeTargetPort).toBeUndefined();
  });
});
