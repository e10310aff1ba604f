// RFC 1982 serial number arithmetic on 32 bits (RFC 7143 §4.2.2.1: CmdSN, StatSN, DataSN compare so).

/** a + n modulo 2^32. */
export function snAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** a < b in serial arithmetic. */
export function snLt(a: number, b: number): boolean {
  return a !== b && ((b - a) >>> 0) < 0x80000000;
}

/** a <= b in serial arithmetic. */
export function snLte(a: number, b: number): boolean {
  return a === b || snLt(a, b);
}

/** Distance from a forward to b (b - a mod 2^32). */
export function snDiff(a: number, b: number): number {
  return (b - a) >>> 0;
}

/** lo <= sn <= hi in serial arithmetic; an empty window (hi = lo - 1) contains nothing. */
export function snInWindow(sn: number, lo: number, hi: number): boolean {
  const width = snDiff(lo, snAdd(hi, 1));
  if (width === 0 || width >= 0x80000000) return false;
  return snDiff(lo, sn) < width;
}
