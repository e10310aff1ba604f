// CDB builders and parameter-data parsers of reservations, shared by both ends: SPC-2 RESERVE and
// RELEASE, (6) and (10), PERSISTENT RESERVE IN (SPC-4 §6.15) and PERSISTENT RESERVE OUT (SPC-4 §6.16).

import { OP } from '../constants.js';
import { checkUint, newCdb } from './fields.js';

/** RESERVE(6) (SPC-2 (RESERVE(6))). */
export function cdbReserve6(): Buffer {
  return newCdb(OP.RESERVE_6, 6);
}

/** RELEASE(6) (SPC-2 (RELEASE(6))). */
export function cdbRelease6(): Buffer {
  return newCdb(OP.RELEASE_6, 6);
}

/** RESERVE(10) (SPC-2 §7.22), without third-party reservation. */
export function cdbReserve10(): Buffer {
  return newCdb(OP.RESERVE_10, 10);
}

/** RELEASE(10) (SPC-2 §7.20), without third-party reservation. */
export function cdbRelease10(): Buffer {
  return newCdb(OP.RELEASE_10, 10);
}

/** PERSISTENT RESERVE IN (SPC-4 §6.15) with a service action from PRIN. */
export function cdbPersistentReserveIn(serviceAction: number, alloc = 8192): Buffer {
  checkUint('SERVICE ACTION', serviceAction, 0x1f, 'SPC-4 §6.15.1');
  checkUint('ALLOCATION LENGTH', alloc, 0xffff, 'SPC-4 §6.15.1');
  const b = newCdb(OP.PERSISTENT_RESERVE_IN, 10);
  b[1] = serviceAction;
  b.writeUInt16BE(alloc, 7);
  return b;
}

/** The basic PERSISTENT RESERVE OUT parameter list (SPC-4 §6.16.3). Keys are 64-bit. */
export interface ProutParameterList {
  key?: bigint;
  saKey?: bigint;
  specIPt?: boolean;
  allTgPt?: boolean;
  aptpl?: boolean;
}

/** PERSISTENT RESERVE OUT (SPC-4 §6.16) and its 24-byte basic parameter list (the Data-Out). */
export function cdbPersistentReserveOut(
  serviceAction: number,
  params: ProutParameterList = {},
  opts: { type?: number; scope?: number; length?: number } = {},
): { cdb: Buffer; data: Buffer } {
  checkUint('SERVICE ACTION', serviceAction, 0x1f, 'SPC-4 §6.16.1');
  checkUint('TYPE', opts.type ?? 0, 0x0f, 'SPC-4 §6.16.1');
  checkUint('SCOPE', opts.scope ?? 0, 0x0f, 'SPC-4 §6.16.1');
  const data = Buffer.alloc(24);
  data.writeBigUInt64BE(params.key ?? 0n, 0);
  data.writeBigUInt64BE(params.saKey ?? 0n, 8);
  data[20] = (params.specIPt === true ? 0x08 : 0) | (params.allTgPt === true ? 0x04 : 0) | (params.aptpl === true ? 0x01 : 0);
  const cdb = newCdb(OP.PERSISTENT_RESERVE_OUT, 10);
  cdb[1] = serviceAction;
  cdb[2] = ((opts.scope ?? 0) << 4) | (opts.type ?? 0);
  cdb.writeUInt32BE(opts.length ?? data.length, 5);
  return { cdb, data };
}

/** READ KEYS parameter data (SPC-4 §6.15.2). */
export interface PrinReadKeys {
  generation: number;
  /** ADDITIONAL LENGTH as reported (not cut by the allocation length). */
  additionalLength: number;
  /** The keys the data holds (as many as the allocation length let through). */
  keys: bigint[];
}

/** Parses READ KEYS parameter data (SPC-4 §6.15.2). */
export function parsePrinReadKeys(buf: Buffer): PrinReadKeys {
  if (buf.length < 8) throw new RangeError('READ KEYS data shorter than 8 bytes (SPC-4 §6.15.2)');
  const additionalLength = buf.readUInt32BE(4);
  const n = Math.floor(Math.min(additionalLength, buf.length - 8) / 8);
  const keys: bigint[] = [];
  for (let i = 0; i < n; i++) keys.push(buf.readBigUInt64BE(8 + 8 * i));
  return { generation: buf.readUInt32BE(0), additionalLength, keys };
}

/** READ RESERVATION parameter data (SPC-4 §6.15.3); `reservation` null when there is none. */
export interface PrinReadReservation {
  generation: number;
  reservation: { key: bigint; scope: number; type: number } | null;
}

/** Parses READ RESERVATION parameter data (SPC-4 §6.15.3). */
export function parsePrinReadReservation(buf: Buffer): PrinReadReservation {
  if (buf.length < 8) throw new RangeError('READ RESERVATION data shorter than 8 bytes (SPC-4 §6.15.3)');
  const generation = buf.readUInt32BE(0);
  if (buf.readUInt32BE(4) === 0) return { generation, reservation: null };
  if (buf.length < 24) throw new RangeError('READ RESERVATION data with a reservation shorter than 24 bytes (SPC-4 §6.15.3)');
  return { generation, reservation: { key: buf.readBigUInt64BE(8), scope: buf[21]! >> 4, type: buf[21]! & 0x0f } };
}

/** REPORT CAPABILITIES parameter data (SPC-4 §6.15.4). */
export interface PrinCapabilities {
  length: number;
  crh: boolean;
  sipC: boolean;
  atpC: boolean;
  ptplC: boolean;
  tmv: boolean;
  allowCommands: number;
  ptplA: boolean;
  /** PERSISTENT RESERVATION TYPE MASK as its 16 bits. */
  typeMask: number;
}

/** Parses REPORT CAPABILITIES parameter data (SPC-4 §6.15.4). */
export function parsePrinReportCapabilities(buf: Buffer): PrinCapabilities {
  if (buf.length < 8) throw new RangeError('REPORT CAPABILITIES data shorter than 8 bytes (SPC-4 §6.15.4)');
  return {
    length: buf.readUInt16BE(0),
    crh: (buf[2]! & 0x10) !== 0,
    sipC: (buf[2]! & 0x08) !== 0,
    atpC: (buf[2]! & 0x04) !== 0,
    ptplC: (buf[2]! & 0x01) !== 0,
    tmv: (buf[3]! & 0x80) !== 0,
    allowCommands: (buf[3]! >> 4) & 0x07,
    ptplA: (buf[3]! & 0x01) !== 0,
    typeMask: buf.readUInt16BE(4),
  };
}

/** One descriptor of READ FULL STATUS (SPC-4 §6.15.5). */
export interface PrinFullStatusEntry {
  key: bigint;
  allTgPt: boolean;
  holder: boolean;
  scope: number;
  type: number;
  relativeTargetPortId: number;
  /** The TransportID; for iSCSI (protocol 5) `name` is the initiator (port) name it carries. */
  transportId: Buffer;
  name: string | undefined;
}

/** Parses READ FULL STATUS parameter data (SPC-4 §6.15.5): PRgeneration and one entry per registered I_T nexus. */
export function parsePrinReadFullStatus(buf: Buffer): { generation: number; entries: PrinFullStatusEntry[] } {
  if (buf.length < 8) throw new RangeError('READ FULL STATUS data shorter than 8 bytes (SPC-4 §6.15.5)');
  const end = Math.min(buf.length, 8 + buf.readUInt32BE(4));
  const entries: PrinFullStatusEntry[] = [];
  for (let off = 8; off + 24 <= end; ) {
    const len = buf.readUInt32BE(off + 20);
    const tid = buf.subarray(off + 24, Math.min(end, off + 24 + len));
    const iscsi = tid.length >= 4 && (tid[0]! & 0x0f) === 5;
    entries.push({
      key: buf.readBigUInt64BE(off),
      allTgPt: (buf[off + 12]! & 0x02) !== 0,
      holder: (buf[off + 12]! & 0x01) !== 0,
      scope: buf[off + 13]! >> 4,
      type: buf[off + 13]! & 0x0f,
      relativeTargetPortId: buf.readUInt16BE(off + 18),
      transportId: Buffer.from(tid),
      name: iscsi ? tid.toString('utf8', 4).replace(/\0.*$/s, '') : undefined,
    });
    off += 24 + len;
  }
  return { generation: buf.readUInt32BE(0), entries };
}
