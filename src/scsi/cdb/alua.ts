// Asymmetric logical unit access (ALUA, SPC-4 §5.15) on the wire: the CDBs of REPORT TARGET PORT
// GROUPS and SET TARGET PORT GROUPS, the codec of their parameter data, and the designators of the
// Device Identification VPD page (SPC-4 §7.8.6) that tie a target port to its logical unit and its
// target port group. Pure codecs: a multipath initiator and an ALUA target share them.

import { ASSOCIATION, DESIGNATOR_TYPE, MI, OP } from '../constants.js';
import type { Designator } from './vpd.js';

/** MAINTENANCE OUT service action of SET TARGET PORT GROUPS (SPC-4 §6.45). */
export const MO_SET_TARGET_PORT_GROUPS = 0x0a;

/** Asymmetric access states (SPC-4 §6.37, Table 240; §5.15.2.4). */
export const ALUA_STATE = {
  ACTIVE_OPTIMIZED: 0x0,
  ACTIVE_NON_OPTIMIZED: 0x1,
  STANDBY: 0x2,
  UNAVAILABLE: 0x3,
  LOGICAL_BLOCK_DEPENDENT: 0x4,
  OFFLINE: 0xe,
  TRANSITIONING: 0xf,
} as const;

/** The TPGS field of standard INQUIRY data (SPC-4 §6.6.2, Table 147): which ALUA the LU supports. */
export const TPGS = {
  /** No asymmetric access: every target port is equal. */
  NONE: 0,
  /** Implicit only: the device server changes states itself; SET TARGET PORT GROUPS is refused. */
  IMPLICIT: 1,
  /** Explicit only: states change by SET TARGET PORT GROUPS. */
  EXPLICIT: 2,
  BOTH: 3,
} as const;

const STATE_NAMES: Readonly<Record<number, string>> = {
  [ALUA_STATE.ACTIVE_OPTIMIZED]: 'active/optimized',
  [ALUA_STATE.ACTIVE_NON_OPTIMIZED]: 'active/non-optimized',
  [ALUA_STATE.STANDBY]: 'standby',
  [ALUA_STATE.UNAVAILABLE]: 'unavailable',
  [ALUA_STATE.LOGICAL_BLOCK_DEPENDENT]: 'lba-dependent',
  [ALUA_STATE.OFFLINE]: 'offline',
  [ALUA_STATE.TRANSITIONING]: 'transitioning',
};

/** The state as the initiator's logs and events spell it ('active/optimized', 'standby', ...). */
export function aluaStateName(state: number): string {
  return STATE_NAMES[state] ?? `reserved state 0x${state.toString(16)}`;
}

function checkUint(name: string, v: number, max: number, rule: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} ${v} does not fit its field: 0..${max} (${rule})`);
}

/** The smallest REPORT TARGET PORT GROUPS allocation worth asking: header plus one group of one port. */
export const RTPG_MIN_ALLOC = 8 + 8 + 4;

/**
 * REPORT TARGET PORT GROUPS (SPC-4 §6.37): MAINTENANCE IN, service action 0Ah. `extended` asks for the
 * extended header (PARAMETER DATA FORMAT 001b), which carries the implicit transition time.
 */
export function cdbReportTargetPortGroups(opts: { extended?: boolean; alloc?: number } = {}): Buffer {
  const alloc = opts.alloc ?? 1024;
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SPC-4 §6.37');
  const b = Buffer.alloc(12);
  b[0] = OP.MAINTENANCE_IN;
  b[1] = (opts.extended === true ? 0x20 : 0x00) | MI.REPORT_TARGET_PORT_GROUPS;
  b.writeUInt32BE(alloc, 6);
  return b;
}

/** SET TARGET PORT GROUPS (SPC-4 §6.45): MAINTENANCE OUT, service action 0Ah, `length` parameter bytes. */
export function cdbSetTargetPortGroups(length: number): Buffer {
  checkUint('PARAMETER LIST LENGTH', length, 0xffffffff, 'SPC-4 §6.45');
  const b = Buffer.alloc(12);
  b[0] = OP.MAINTENANCE_OUT;
  b[1] = MO_SET_TARGET_PORT_GROUPS;
  b.writeUInt32BE(length, 6);
  return b;
}

/** The parameter list of SET TARGET PORT GROUPS (SPC-4 §6.45, Table 273): 4 reserved bytes, then a descriptor per group. */
export function encodeSetTargetPortGroups(groups: readonly { tpg: number; state: number }[]): Buffer {
  const b = Buffer.alloc(4 + 4 * groups.length);
  groups.forEach((g, i) => {
    checkUint('ASYMMETRIC ACCESS STATE', g.state, 0x0f, 'SPC-4 §6.45');
    checkUint('TARGET PORT GROUP', g.tpg, 0xffff, 'SPC-4 §6.45');
    b[4 + 4 * i] = g.state;
    b.writeUInt16BE(g.tpg, 4 + 4 * i + 2);
  });
  return b;
}

/** The states a target port group supports (SPC-4 §6.37, the *_SUP bits). */
export interface SupportedAluaStates {
  transitioning: boolean;
  offline: boolean;
  lbaDependent: boolean;
  unavailable: boolean;
  standby: boolean;
  activeNonOptimized: boolean;
  activeOptimized: boolean;
}

/** One target port group descriptor (SPC-4 §6.37, Table 239). */
export interface TargetPortGroupDescriptor {
  /** PREF: this group is a preferred path (SPC-4 §5.15.2.7). */
  pref: boolean;
  /** ASYMMETRIC ACCESS STATE, one of {@link ALUA_STATE}. */
  state: number;
  supported: SupportedAluaStates;
  /** TARGET PORT GROUP. */
  tpg: number;
  /** STATUS CODE: 0 none, 1 altered by SET TARGET PORT GROUPS, 2 altered by an implicit transition. */
  statusCode: number;
  /** The RELATIVE TARGET PORT IDENTIFIERs of the group's ports. */
  ports: number[];
}

/** REPORT TARGET PORT GROUPS parameter data. */
export interface TargetPortGroups {
  /** The extended header came back (FORMAT TYPE 001b). */
  extended: boolean;
  /** IMPLICIT TRANSITION TIME in seconds (extended header only; 0: not said). */
  implicitTransitionTime: number;
  groups: TargetPortGroupDescriptor[];
  /** RETURN DATA LENGTH + 4: what a large enough allocation would have returned. */
  needed: number;
}

/**
 * Parses REPORT TARGET PORT GROUPS data (SPC-4 §6.37). Data cut short by the allocation length yields
 * the whole groups it holds; compare `needed` with the length asked to know whether to ask again.
 * @throws RangeError for data shorter than its header or a descriptor that overruns it.
 */
export function parseReportTargetPortGroups(buf: Buffer): TargetPortGroups {
  if (buf.length < 4) throw new RangeError(`REPORT TARGET PORT GROUPS data is ${buf.length} bytes, less than its 4-byte header (SPC-4 §6.37)`);
  const needed = buf.readUInt32BE(0) + 4;
  const end = Math.min(buf.length, needed);
  // FORMAT TYPE 001b in byte 4 marks the extended header; the length-only header has a descriptor there,
  // whose byte 0 bits 6-4 are reserved (zero).
  const extended = end >= 8 && ((buf[4]! >> 4) & 0x07) === 1;
  const implicitTransitionTime = extended ? buf[5]! : 0;
  const groups: TargetPortGroupDescriptor[] = [];
  let off = extended ? 8 : 4;
  while (off + 8 <= end) {
    const count = buf[off + 7]!;
    const next = off + 8 + 4 * count;
    if (next > end) {
      if (end < needed) break; // cut by the allocation length: keep the whole groups
      throw new RangeError(`target port group descriptor at byte ${off} lists ${count} ports and overruns the ${end}-byte data (SPC-4 §6.37)`);
    }
    const s = buf[off + 1]!;
    const ports: number[] = [];
    for (let p = off + 8; p < next; p += 4) ports.push(buf.readUInt16BE(p + 2));
    groups.push({
      pref: (buf[off]! & 0x80) !== 0,
      state: buf[off]! & 0x0f,
      supported: {
        transitioning: (s & 0x80) !== 0,
        offline: (s & 0x40) !== 0,
        lbaDependent: (s & 0x10) !== 0,
        unavailable: (s & 0x08) !== 0,
        standby: (s & 0x04) !== 0,
        activeNonOptimized: (s & 0x02) !== 0,
        activeOptimized: (s & 0x01) !== 0,
      },
      tpg: buf.readUInt16BE(off + 2),
      statusCode: buf[off + 5]!,
      ports,
    });
    off = next;
  }
  if (off < end && end === needed) throw new RangeError(`${end - off} bytes after the last target port group descriptor (SPC-4 §6.37)`);
  return { extended, implicitTransitionTime, groups, needed };
}

/** A group as {@link encodeReportTargetPortGroups} takes it. */
export interface TargetPortGroupInit {
  pref?: boolean;
  state: number;
  supported?: Partial<SupportedAluaStates>;
  tpg: number;
  statusCode?: number;
  ports: readonly number[];
}

/** Encodes REPORT TARGET PORT GROUPS data (SPC-4 §6.37), the length-only header unless `extended`. */
export function encodeReportTargetPortGroups(groups: readonly TargetPortGroupInit[], opts: { extended?: boolean; implicitTransitionTime?: number } = {}): Buffer {
  const head = opts.extended === true ? 8 : 4;
  const size = groups.reduce((n, g) => n + 8 + 4 * g.ports.length, head);
  const b = Buffer.alloc(size);
  b.writeUInt32BE(size - 4, 0);
  if (opts.extended === true) {
    b[4] = 0x10;
    b[5] = opts.implicitTransitionTime ?? 0;
  }
  let off = head;
  for (const g of groups) {
    checkUint('TARGET PORT COUNT', g.ports.length, 0xff, 'SPC-4 §6.37');
    const s = g.supported ?? {};
    checkUint('ASYMMETRIC ACCESS STATE', g.state, 0x0f, 'SPC-4 §6.37');
    checkUint('TARGET PORT GROUP', g.tpg, 0xffff, 'SPC-4 §6.37');
    b[off] = (g.pref === true ? 0x80 : 0) | g.state;
    b[off + 1] =
      (s.transitioning ? 0x80 : 0) |
      (s.offline ? 0x40 : 0) |
      (s.lbaDependent ? 0x10 : 0) |
      (s.unavailable ? 0x08 : 0) |
      (s.standby ? 0x04 : 0) |
      (s.activeNonOptimized ? 0x02 : 0) |
      (s.activeOptimized ? 0x01 : 0);
    b.writeUInt16BE(g.tpg, off + 2);
    b[off + 5] = g.statusCode ?? 0;
    b[off + 7] = g.ports.length;
    off += 8;
    for (const p of g.ports) {
      b.writeUInt16BE(p, off + 2);
      off += 4;
    }
  }
  return b;
}

/** ASSOCIATION (SPC-4 §7.8.6.1, Table 489) and DESIGNATOR TYPE (Table 490) of a designator, under the names the initiator uses. */
export { ASSOCIATION as DESIGNATOR_ASSOCIATION, DESIGNATOR_TYPE } from '../constants.js';
const DESIGNATOR_ASSOCIATION = ASSOCIATION;

/** What a path learns from the Device Identification page: the LU it reaches and the port it arrives by. */
export interface PathIdentity {
  /**
   * The logical unit's designator a multipath initiator compares across paths: the NAA one when
   * present (SPC-4 §7.8.6.6), else EUI-64, else a SCSI name string of the LU, as `type:hex`; undefined
   * when the LU reports none of them (it cannot be told apart from another).
   */
  lu: string | undefined;
  /** RELATIVE TARGET PORT IDENTIFIER of the port (SPC-4 §7.8.6.7), when reported. */
  relativeTargetPort: number | undefined;
  /** TARGET PORT GROUP of the port (SPC-4 §7.8.6.8), when reported (ALUA targets must). */
  targetPortGroup: number | undefined;
}

const LU_DESIGNATOR_PREFERENCE: readonly number[] = [DESIGNATOR_TYPE.NAA, DESIGNATOR_TYPE.EUI_64, DESIGNATOR_TYPE.SCSI_NAME_STRING];

/** Reduces the designators of a Device Identification page (parseVpd83) to the {@link PathIdentity} a multipath initiator needs. */
export function pathIdentity(designators: readonly Designator[]): PathIdentity {
  let lu: string | undefined;
  for (const type of LU_DESIGNATOR_PREFERENCE) {
    const d = designators.find((x) => x.association === DESIGNATOR_ASSOCIATION.LOGICAL_UNIT && x.designatorType === type && x.designator.length > 0);
    if (d !== undefined) {
      lu = `${type}:${d.designator.toString('hex')}`;
      break;
    }
  }
  const port = (type: number): number | undefined => {
    const d = designators.find((x) => x.association === DESIGNATOR_ASSOCIATION.TARGET_PORT && x.designatorType === type && x.designator.length >= 4);
    return d === undefined ? undefined : d.designator.readUInt16BE(2);
  };
  return { lu, relativeTargetPort: port(DESIGNATOR_TYPE.RELATIVE_TARGET_PORT), targetPortGroup: port(DESIGNATOR_TYPE.TARGET_PORT_GROUP) };
}
