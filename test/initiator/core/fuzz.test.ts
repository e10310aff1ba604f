// Random target PDUs, many aimed at live commands: the core never throws, never answers a command twice,
// answers every command by its deadline, and leaks no task, whatever the target sends.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectionError } from '../../../src/errors.js';
import type { TargetPdu } from '../../../src/pdu/types.js';
import { targetPdu } from '../../pdu/arbitraries.js';
import { Harness, LUN1, READ10, WRITE10, flush } from './harness.js';

describe('the core against random target PDUs', () => {
  it('never throws, answers each command once by its deadline, and leaks no task', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(targetPdu, fc.nat(15), fc.boolean(), fc.nat(8)), { maxLength: 60 }), async (items) => {
        const h = new Harness({ queueDepth: 8, tmfTimeout: 1000, keepalive: { interval: 2000, timeout: 2000, windowStall: 500 }, session: { maxOutstandingR2T: 2 } });
        const answers = new Array<number>(8).fill(0);
        for (let i = 0; i < 8; i++) {
          const req = i % 2 === 0 ? { lun: LUN1, cdb: READ10, readLength: 4096, timeout: 5000 } : { lun: LUN1, cdb: WRITE10, dataOut: Buffer.alloc(20000, i), timeout: 5000 };
          h.core.submit(req).then(
            () => answers[i]!++,
            () => answers[i]!++,
          );
        }
        const live: number[] = h.commands().map((c) => c.itt);
        // What a Session does when the core gives a connection up.
        const recover = (): void => {
          if (h.failures.length === 0) return;
          h.failures.length = 0;
          h.core.detach(new ConnectionError('ERR_CONNECTION_CLOSED', 'recovering'));
          h.attach();
          live.push(...h.commands().map((c) => c.itt));
        };
        for (const [raw, k, aim, small] of items) {
          const pdu = { ...raw } as TargetPdu & { itt?: number; dataSN?: number; bufferOffset?: number; r2tSN?: number };
          if (aim && 'itt' in pdu && live.length > 0) {
            pdu.itt = live[k % live.length]!;
            if ('dataSN' in pdu) pdu.dataSN = small % 3;
            if ('bufferOffset' in pdu) pdu.bufferOffset = (small % 3) * 4096;
            if ('r2tSN' in pdu) pdu.r2tSN = small % 2;
          }
          expect(() => h.core.receive(pdu)).not.toThrow();
          live.push(...h.commands().map((c) => c.itt));
          h.sent.length = 0;
          recover();
        }
        for (let t = 0; t < 20_000; t += 100) {
          h.clock.advance(100);
          h.sent.length = 0;
          recover();
        }
        await flush();
        expect(answers).toEqual(new Array(8).fill(1));
        expect(h.core.busy).toBe(0);
        h.core.close();
      }),
      { numRuns: 300 },
    );
  });
});
