// Sizes as people write them on a command line ("512", "4k", "64KiB", "1G"), for LUN specs and the
// bench alike.

const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses a size: whole digits with an optional binary suffix K, M, G or T (powers of 1024, also written
 * KiB, KB, Ki, ...; a bare number or one ending in B is bytes), e.g. "512", "4k", "64KiB", "1G",
 * "2TiB". A byte count is whole, so a fraction ("1.5G") is refused. Returns bytes.
 * @throws RangeError for anything else, zero, or more than Number.MAX_SAFE_INTEGER bytes.
 */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*([kmgt]?)(?:i?b?)$/i.exec(text.trim());
  if (m === null) throw new RangeError(`"${text}" is not a size (digits with an optional K, M, G or T suffix, e.g. 4k, 64KiB, 1G)`);
  const n = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`size "${text}" is zero or too large`);
  return n;
}
