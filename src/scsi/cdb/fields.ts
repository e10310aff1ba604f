// Field helpers of CDBs, parameter data and sense data, shared by the CDB codecs of both ends and by
// the emulation: range-checked unsigned fields, 64-bit big-endian fields as numbers (exact below
// 2^53), ASCII fields (SPC-4 §4.3.1), byte 1 and GROUP NUMBER of the block commands, and the
// ALLOCATION LENGTH rule of Data-In.

/** Throws a RangeError naming the field and the rule unless `v` is an integer in 0..`max`. */
export function checkUint(name: string, v: number, max: number, rule: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${name} ${v} does not fit its field: 0..${max} (${rule})`);
  }
}

/** A CDB of `length` bytes holding OPERATION CODE `opcode` (byte 0, SPC-4 §4.2.5.1) and zeros. */
export function newCdb(opcode: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  b[0] = opcode;
  return b;
}

/** Reads a big-endian 64-bit unsigned field as a number; exact below 2^53 (larger values round). */
export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) * 0x100000000 + buf.readUInt32BE(off + 4);
}

/** Writes a number below 2^53 as a big-endian 64-bit field; the caller has checked it. */
export function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / 0x100000000), off);
  buf.writeUInt32BE(v % 0x100000000, off + 4);
}

/** Writes a LOGICAL BLOCK ADDRESS as a 64-bit field, refusing one at or beyond 2^53 rather than lose precision. */
export function writeLba(buf: Buffer, off: number, lba: number): void {
  checkUint('LOGICAL BLOCK ADDRESS', lba, Number.MAX_SAFE_INTEGER, 'a number below 2^53');
  writeU64(buf, off, lba);
}

/** `s` in `len` bytes of ASCII, left-aligned and padded with spaces (SPC-4 §4.3.1, ASCII data). */
export function asciiField(s: string, len: number): Buffer {
  const b = Buffer.alloc(len, 0x20);
  b.write(s.replace(/[^\x20-\x7e]/g, '?').slice(0, len), 0, 'latin1');
  return b;
}

/** The ASCII field `[start, end)` of `buf` without its trailing NULs and spaces. */
export function readAscii(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, Math.min(end, buf.length)).replace(/[\0 ]+$/, '');
}

/**
 * The protection field of byte 1 of a block command (RDPROTECT, WRPROTECT, VRPROTECT, ORPROTECT:
 * bits 7..5), 0 when absent.
 */
export function protectBits(protect: number | undefined, name: string, rule: string): number {
  if (protect === undefined) return 0;
  checkUint(name, protect, 7, rule);
  return protect << 5;
}

/** GROUP NUMBER (5 bits) of a block command, 0 when absent. */
export function groupNumber(group: number | undefined, rule: string): number {
  if (group === undefined) return 0;
  checkUint('GROUP NUMBER', group, 0x1f, rule);
  return group;
}

/**
 * The Data-In of a command with an ALLOCATION LENGTH: the device server stops at the allocation
 * length or at the end of the available data, whichever comes first (SPC-4 §4.2.5.6).
 */
export function truncate(data: Buffer, alloc: number): Buffer {
  return data.length <= alloc ? data : data.subarray(0, alloc);
}
