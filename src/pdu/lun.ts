// The 8-byte LUN field and SAM-5 §4.7 single-level LUN addressing: peripheral (method 00b, LUN < 256)
// and flat space (method 01b, LUN < 16384), the two forms Linux, libiscsi and every target here use.

/** Largest LUN single-level flat addressing can carry. */
export const MAX_LUN = 0x3fff;

/**
 * The LUN a first-level address (bytes 0-1 of the LUN field) carries: peripheral device addressing
 * (method 00b; its BUS IDENTIFIER is not looked at here) or flat space addressing (01b); undefined
 * for the other methods. The SCSI layer's REPORT LUNS parser decodes with it too.
 */
export function lunOfAddress(address: number): number | undefined {
  const method = address >> 14;
  if (method === 0) return address & 0xff;
  if (method === 1) return address & 0x3fff;
  return undefined;
}

/** Decodes a LUN field; undefined when it uses another addressing method or a second level. */
export function lunFromField(raw: bigint): number | undefined {
  if ((raw & 0xffffffffffffn) !== 0n) return undefined;
  const top = Number(raw >> 48n);
  // Peripheral device addressing: the BUS IDENTIFIER (byte 0, bits 5-0) must be 0 for a target's own LUs.
  if (top >> 14 === 0 && top >> 8 !== 0) return undefined;
  return lunOfAddress(top);
}

/**
 * The first-level address (bytes 0-1 of the LUN field) of a LUN, the way the Linux initiator
 * encodes it: peripheral below 256, flat space above. The SCSI layer's REPORT LUNS encodes with it too.
 */
export function lunAddress(lun: number): number {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw new RangeError(`LUN ${lun} is outside 0..${MAX_LUN}`);
  return lun < 256 ? lun : 0x4000 | lun;
}

/** Encodes a LUN the way the Linux initiator does: peripheral below 256, flat space above. */
export function lunToField(lun: number): bigint {
  return BigInt(lunAddress(lun)) << 48n;
}
