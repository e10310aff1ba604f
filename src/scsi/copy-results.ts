// The EXTENDED COPY results a logical unit holds for RECEIVE COPY RESULTS (SPC-4 §5.16.4, §6.18): per
// I_T nexus and LIST IDENTIFIER, with the copy manager's limits on how many run and how many are kept.

import { ASC } from './constants.js';
import { illegalRequest } from './sense.js';

/** Copy manager limits, reported by OPERATING PARAMETERS and VPD 8Fh and enforced. */
export const XCOPY_LIMITS = {
  /** CSCD (target) descriptors per command: a source and a destination. */
  maxTargetDescriptors: 2,
  maxSegmentDescriptors: 16,
  /** Bytes of target plus segment descriptors. */
  maxDescriptorListLength: 1024,
  /** No inline or embedded data is accepted. */
  maxInlineDataLength: 0,
  /** EXTENDED COPY commands processed at once per LU; one more is refused with INSUFFICIENT RESOURCES. */
  totalConcurrentCopies: 16,
  /** Completed copies whose status a nexus may retrieve; older ones are dropped first. */
  heldResultsPerNexus: 32,
} as const;

/** COPY MANAGER STATUS (SPC-4 §6.18.2): the copy is still running. */
export const COPY_RUNNING = 0x00;
/** COPY MANAGER STATUS: completed without error. */
export const COPY_DONE = 0x01;
/** COPY MANAGER STATUS: completed with an error (FAILED SEGMENT DETAILS holds its sense). */
export const COPY_FAILED = 0x02;

/** What is held about one EXTENDED COPY for RECEIVE COPY RESULTS. */
export interface CopyRecord {
  readonly listId: number;
  status: number;
  segmentsProcessed: number;
  /** Bytes written to destinations so far. */
  bytes: number;
  /** The CHECK CONDITION that ended a failed copy (FAILED SEGMENT DETAILS). */
  sense: Buffer | null;
}

/** Held EXTENDED COPY results of one logical unit, by I_T nexus then LIST IDENTIFIER, and the copies running. */
export class CopyResults {
  readonly #byNexus = new Map<string, Map<number, CopyRecord>>();
  #running = 0;

  /** EXTENDED COPY commands in progress on the LU. */
  get running(): number {
    return this.#running;
  }

  /** The record held for `listId` of `nexusId`, if any. */
  get(nexusId: string, listId: number): CopyRecord | undefined {
    return this.#byNexus.get(nexusId)?.get(listId);
  }

  /**
   * Starts a copy: a copy with the same list identifier still running is OPERATION IN PROGRESS, one
   * beyond TOTAL CONCURRENT COPIES is INSUFFICIENT RESOURCES. Pair with {@link end}.
   */
  begin(nexusId: string, listId: number): CopyRecord {
    if (this.#running >= XCOPY_LIMITS.totalConcurrentCopies) throw illegalRequest(ASC.INSUFFICIENT_RESOURCES);
    let m = this.#byNexus.get(nexusId);
    if (m === undefined) {
      m = new Map();
      this.#byNexus.set(nexusId, m);
    }
    if (m.get(listId)?.status === COPY_RUNNING) throw illegalRequest(ASC.OPERATION_IN_PROGRESS);
    m.delete(listId);
    if (m.size >= XCOPY_LIMITS.heldResultsPerNexus) {
      for (const [id, r] of m) {
        if (r.status !== COPY_RUNNING) {
          m.delete(id);
          break;
        }
      }
    }
    const rec: CopyRecord = { listId, status: COPY_RUNNING, segmentsProcessed: 0, bytes: 0, sense: null };
    m.set(listId, rec);
    this.#running++;
    return rec;
  }

  /** A copy started by {@link begin} has ended. */
  end(): void {
    this.#running--;
  }

  /** Forgets a record (LIST ID USAGE 10b or 11b: nothing is held once the command ends). */
  drop(nexusId: string, listId: number): void {
    this.#byNexus.get(nexusId)?.delete(listId);
  }

  /** Discards the held results of one nexus, or of all (SPC-4 §5.16.4: resets and I_T nexus loss). */
  discard(nexusId?: string): void {
    if (nexusId === undefined) this.#byNexus.clear();
    else this.#byNexus.delete(nexusId);
  }
}
