// Property tests: arbitrary CDBs never make the logical unit fail internally, and the sense parser
// either decodes or refuses with a RangeError.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { SENSE_KEY } from '../../src/scsi/constants.js';
import { parseSense } from '../../src/scsi/sense.js';
import { makeLu } from './helpers.js';

describe('fuzz', () => {
  test('any CDB ends in a SAM status, never HARDWARE ERROR', async () => {
    const f = makeLu({ blocks: 64, removable: true });
    const opcodes = f.lu.commandList.map((d) => d.opcode);
    const cdbArb = fc
      .tuple(fc.oneof(fc.constantFrom(...opcodes), fc.integer({ min: 0, max: 255 })), fc.uint8Array({ minLength: 5, maxLength: 15 }))
      .map(([op, rest]) => Buffer.from([op, ...rest]));
    const dataArb = fc.option(fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)), { nil: null });
    await fc.assert(
      fc.asyncProperty(cdbArb, dataArb, async (cdb, dataOut) => {
        const r = await f.run(cdb, { dataOut });
        expect([0x00, 0x02, 0x04, 0x18]).toContain(r.status);
        if (r.status === 0x02) expect(parseSense(r.sense as Buffer).senseKey).not.toBe(SENSE_KEY.HARDWARE_ERROR);
      }),
      { numRuns: 3000 },
    );
  });
  test('parseSense decodes or throws RangeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
        try {
          parseSense(Buffer.from(a));
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
        }
      }),
      { numRuns: 20000 },
    );
  });
});
