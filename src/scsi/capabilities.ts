// What a logical unit reports about itself, computed once when it is created: its limits (the Block
// Limits VPD page, SBC-3 §6.5) from the options and the block size, what it can do (VPD B0h/B2h,
// READ CAPACITY(16) LBPME/LBPRZ, 3PC) from its command table and its backend, and the LOGICAL BLOCKS
// PER PHYSICAL BLOCK EXPONENT from the backend's physical block size.

import type { BlockBackend } from '../backend/types.js';
import { OP, XCOPY_SA } from './constants.js';
import type { CommandTable, LogicalUnitLimits, LuCapabilities } from './handler.js';

/** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT for a backend's physical block size (0 when it gives none). */
export function exponentOf(physical: number | undefined, logical: number): number {
  if (physical === undefined || physical <= logical || physical % logical !== 0) return 0;
  const e = Math.log2(physical / logical);
  return Number.isInteger(e) && e <= 15 ? e : 0;
}

/**
 * The limits of a logical unit of `blockSize`-byte blocks: `given` where set, else defaults in bytes
 * whatever the block size. Throws a RangeError for limits the VPD fields cannot carry.
 */
export function resolveLimits(limits: Partial<LogicalUnitLimits> | undefined, blockSize: number): Readonly<LogicalUnitLimits> {
  const bs = blockSize;
  const given = Object.fromEntries(Object.entries(limits ?? {}).filter(([, v]) => v !== undefined)) as Partial<LogicalUnitLimits>;
  // Defaults in bytes, whatever the block size: 8 MiB per transfer, 1 MiB optimal and per verify step.
  const maxTransferLength = given.maxTransferLength ?? Math.max(1, Math.floor((8 << 20) / bs));
  const out: LogicalUnitLimits = {
    maxTransferLength,
    optimalTransferLength: Math.min(maxTransferLength, Math.max(1, Math.floor((1 << 20) / bs))),
    prefetchBlocks: maxTransferLength,
    verifyChunkBlocks: Math.max(1, Math.floor((1 << 20) / bs)),
    maxCompareAndWriteLength: 1,
    maxUnmapLbaCount: Math.max(1, Math.floor((64 << 20) / bs)),
    maxUnmapBlockDescriptorCount: 256,
    // 32 MiB, and below 65536 blocks: a WRITE SAME that long needs no 4-byte NUMBER OF BLOCKS.
    maxWriteSameLength: Math.max(1, Math.min(0xffff, Math.floor((32 << 20) / bs))),
    maxAtomicTransferLength: Math.min(maxTransferLength, Math.max(1, Math.floor((1 << 20) / bs))),
    ...given,
  };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 1 || v > 0xffffffff) throw new RangeError(`limit ${k}=${v} is not an integer in 1..2^32-1`);
  }
  if (out.maxAtomicTransferLength > out.maxTransferLength) {
    throw new RangeError('maxAtomicTransferLength exceeds maxTransferLength (SBC-4 Block Limits VPD page)');
  }
  if (out.maxCompareAndWriteLength > 0xff) {
    throw new RangeError('maxCompareAndWriteLength exceeds 255, the NUMBER OF LOGICAL BLOCKS field (SBC-3 §5.2)');
  }
  return out;
}

/** Whether the table has the command `opcode` (with service action `sa` for a service-action opcode). */
function has(table: CommandTable, opcode: number, sa?: number): boolean {
  const e = table[opcode];
  if (e === undefined) return false;
  if ('serviceActions' in e) return sa !== undefined && e.serviceActions[sa] !== undefined;
  return true;
}

/**
 * What a logical unit with this command table over this backend can do: provisioning is reported
 * (LBPME, LBPRZ, ANC_SUP) only when UNMAP or WRITE SAME is in the table and the backend can deallocate.
 */
export function capabilitiesOf(commands: CommandTable, backend: BlockBackend): LuCapabilities {
  const canUnmap = typeof backend.unmap === 'function';
  const unmap = canUnmap && has(commands, OP.UNMAP);
  const ws16 = has(commands, OP.WRITE_SAME_16);
  const ws10 = has(commands, OP.WRITE_SAME_10);
  const lbpme = unmap || (canUnmap && (ws16 || ws10));
  return {
    unmap,
    writeSame: ws16 || ws10,
    writeSameUnmap16: canUnmap && ws16,
    writeSameUnmap10: canUnmap && ws10,
    compareAndWrite: has(commands, OP.COMPARE_AND_WRITE),
    lbpme,
    // A backend whose deallocation does not promise zeros (NBD TRIM) reports LBPRZ 0 (SBC-3 §4.7.3.4).
    lbprz: lbpme && backend.unmapReadsZeros !== false,
    anchor: lbpme,
    writeAtomic: has(commands, OP.WRITE_ATOMIC_16),
    thirdPartyCopy: has(commands, OP.EXTENDED_COPY, XCOPY_SA.EXTENDED_COPY_LID1),
  };
}
