// Codec micro-benchmarks (benny): encode, decode, framing and CRC32C at 48 B, 8 KiB and 256 KiB.
// Prints ops/s and throughput and writes JSON to bench/results/. No thresholds: figures to compare.

import b from 'benny';
import { mkdirSync } from 'node:fs';
import { Framer, Opcode, type Frame, crc32c, decodePdu, encodePdu, encodePduToBuffer, type DataInPdu } from '../src/pdu/index.js';

const SIZES = [
  { label: '48 B', bytes: 48 },
  { label: '8 KiB', bytes: 8192 },
  { label: '256 KiB', bytes: 262144 },
];

function dataIn(n: number): DataInPdu {
  return {
    opcode: Opcode.DataIn, final: true, acknowledge: false, residualOverflow: false, residualUnderflow: false,
    statusPresent: true, status: 0, lun: 0n, itt: 7, ttt: 0xffffffff, statSN: 1, expCmdSN: 2, maxCmdSN: 33,
    dataSN: 0, bufferOffset: 0, residualCount: 0, data: Buffer.alloc(n, 0x5a),
  };
}

const resultsDir = new URL('./results/', new URL('../../bench/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
const out = (name: string) => b.save({ file: name, folder: resultsDir.pathname, details: true, format: 'json' });

let sink = 0;

for (const { label, bytes } of SIZES) {
  // A 48 B case is a bare header; the others carry that much data.
  const pdu = dataIn(bytes === 48 ? 0 : bytes);
  const wire = encodePduToBuffer(pdu);
  const wireD = encodePduToBuffer(pdu, { header: true, data: true });
  const crcBuf = Buffer.alloc(bytes, 0xa5);
  // Framing input: the PDU cut into 64 KiB chunks, as TCP delivers large segments.
  const chunks: Buffer[] = [];
  for (let i = 0; i < wire.length; i += 65536) chunks.push(wire.subarray(i, i + 65536));
  const sinkFrame = {
    onFrame: (f: Frame) => (sink += (decodePdu('target', f.bhs, f.ahs, f.data) as DataInPdu).data.length),
    onError: (e: Error) => {
      throw e;
    },
  };
  const framer = new Framer(sinkFrame, { maxRecvDataSegmentLength: 16777215 });
  const framerD = new Framer(sinkFrame, { maxRecvDataSegmentLength: 16777215, headerDigest: true, dataDigest: true });
  const bhs = wire.subarray(0, 48);
  const data = wire.subarray(48, 48 + pdu.data.length);

  await b.suite(
    `codec ${label}`,
    b.add(`encode Data-In (${label})`, () => {
      sink += encodePdu(pdu).length;
    }),
    b.add(`encode Data-In + digests (${label})`, () => {
      sink += encodePdu(pdu, { header: true, data: true }).length;
    }),
    b.add(`decode Data-In (${label})`, () => {
      sink += (decodePdu('target', bhs, null, data) as DataInPdu).dataSN;
    }),
    b.add(`frame + decode (${label})`, () => {
      for (const c of chunks) framer.push(c);
    }),
    b.add(`frame + decode + digests (${label})`, () => {
      framerD.push(wireD);
    }),
    b.add(`crc32c (${label})`, () => {
      sink += crc32c(crcBuf);
    }),
    b.cycle((r: { name: string; ops: number }) => {
      const perOp = r.name.includes('48 B') ? 48 : bytes;
      const gbps = (r.ops * perOp) / 1e9;
      console.log(`  ${r.name.padEnd(40)} ${Math.round(r.ops).toLocaleString('en-US').padStart(14)} ops/s  ${gbps.toFixed(2)} GB/s`);
      return false as unknown as string;
    }),
    out(`codec-${bytes}`),
  );
}
if (sink === -1) console.log('unreachable');
