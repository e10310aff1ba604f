// Builds Device Identification VPD pages (SPC-4 §7.8.6) for tests of the code that reads them.

/** A Device Identification page of designators (protocol/code set, PIV/association/type, value). */
export function vpd83(ds: { assoc: number; type: number; codeSet?: number; value: Buffer }[]): Buffer {
  const body = Buffer.concat(
    ds.map((d) => {
      const b = Buffer.alloc(4 + d.value.length);
      b[0] = ((d.assoc === 0 ? 0 : 5) << 4) | (d.codeSet ?? 1);
      b[1] = (d.assoc === 0 ? 0 : 0x80) | (d.assoc << 4) | d.type;
      b[3] = d.value.length;
      d.value.copy(b, 4);
      return b;
    }),
  );
  const page = Buffer.alloc(4 + body.length);
  page[1] = 0x83;
  page.writeUInt16BE(body.length, 2);
  body.copy(page, 4);
  return page;
}
