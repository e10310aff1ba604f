// The 8-byte LUN field and SAM-5 §4.7 single-level LUN addressing: peripheral (method 00b, LUN < 256)
// and flat space (method 01b, LUN < 16384), the two forms Linux, libiscsi and every target here use.

/** Largest LUN single-level flat addressing can carry. */
export const MAX_LUN = 0x3fff;

/** Decodes a LUN field; undefined when it uses another addressing method or a second level. */
export function lunFromField(raw: bigint): number | undefined {
  if ((raw & 0xffffffffffffn) !== 0n) return undefined;
  const top = Number(raw >> 48n);
  const method = top >> 14;
  if (method === 0) {
    // Peripheral device addressing: the BUS IDENTIFIER (byte 0, bits 5-0) must be 0 for a target's own LUs.
    return top >> 8 === 0 ? top & 0xff : undefined;
  }
  if (method === 1) return top & 0x3fff;
  return undefined;
}

/** Encodes a LUN the way the Linux initiator does: peripheral below 256, flat space above. */
export function lunToField(lun: number): bigint {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw new RangeError(`LUN ${lun} is outside 0..${MAX_LUN}`);
  return BigInt(lun < 256 ? lun : 0x4000 | lun) << 48n;
}
