// `tsiscsi dump` agrees field by field with Wireshark's dissector on real libiscsi <-> tgtd traffic
// (discovery, inquiry, read capacity, WRITE/READ 10, residual tests), captured live on loopback.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamDumper } from '../../src/tools/dump.js';
import { haveTools, interopDisabled, run, startCapture, startTgtd, type Tgtd } from './peers.js';
import { compareDumps, tsharkPdus, tsharkStreams } from './tshark.js';

describe.skipIf(interopDisabled)('dump against Wireshark on libiscsi <-> tgtd traffic', () => {
  let tgtd: Tgtd;
  let dir: string;
  let pcap: string;

  beforeAll(async () => {
    haveTools('tgtd', 'tgtadm', 'dumpcap', 'tshark', 'iscsi-ls', 'iscsi-test-cu');
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-cap-'));
    pcap = join(dir, 'traffic.pcapng');
    tgtd = await startTgtd({ sizeMiB: 16 });
    const cap = await startCapture(tgtd.port, pcap);
    try {
      expect(run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${tgtd.port}`]).status).toBe(0);
      expect(run('iscsi-inq', [tgtd.url]).status).toBe(0);
      expect(run('iscsi-readcapacity16', [tgtd.url]).status).toBe(0);
      const tests = [
        'iSCSI.iSCSIResiduals.Read10Invalid',
        'iSCSI.iSCSIResiduals.Read10Residuals',
        'iSCSI.iSCSIResiduals.Write10Residuals',
        'ALL.Write10.Simple',
        'ALL.Read10.Simple',
      ];
      run('iscsi-test-cu', ['-d', '-t', tests.join(','), tgtd.url], 300_000);
    } finally {
      await cap.stop();
    }
  }, 600_000);

  afterAll(async () => {
    await tgtd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('decodes every PDU of every connection with 0 field mismatches', () => {
    const theirs = tsharkPdus(pcap, tgtd.port);
    let compared = 0;
    let pdus = 0;
    const mismatches: unknown[] = [];
    for (const s of tsharkStreams(pcap)) {
      for (const dir of ['initiator', 'target'] as const) {
        const ours: Record<string, unknown>[] = [];
        const d = new StreamDumper((o) => ours.push(o), { direction: dir });
        d.push(dir === 'initiator' ? s.i2t : s.t2i);
        d.end();
        expect(d.errors).toBe(0);
        const r = compareDumps(ours, theirs.filter((p) => p.stream === s.stream && p.from === dir));
        compared += r.compared;
        pdus += ours.length;
        mismatches.push(...r.mismatches.map((m) => ({ stream: s.stream, dir, ...m })));
        expect([...r.unmapped]).toEqual([]);
      }
    }
    expect(mismatches).toEqual([]);
    // Thousands of PDUs and tens of thousands of fields, so the agreement means something.
    expect(pdus).toBeGreaterThan(1000);
    expect(compared).toBeGreaterThan(10_000);
    console.log(`dump vs tshark: ${pdus} PDUs, ${compared} fields compared, 0 mismatches`);
  }, 300_000); // tshark dissects ~9,000 PDUs: minutes on a loaded 2-core machine
});
