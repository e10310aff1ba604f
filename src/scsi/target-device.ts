// The SCSI target device (SAM-5, SCSI target device): the logical units of one iSCSI target by LUN, REPORT LUNS,
// answers for LUNs that do not exist (SPC-4 §6.6, standard INQUIRY data, §6.39), LUN inventory changes, and the fan-out
// of target resets and I_T nexus loss to every logical unit.

import type { BlockBackend } from '../backend/types.js';
import { abortError } from './block-io.js';
import { truncate } from './cdb/fields.js';
import { ASC, OP, SENSE_KEY, STATUS, VPD_SUPPORTED_PAGES } from './constants.js';
import type { LuHost } from './handler.js';
import { DEFAULT_PRODUCT, DEFAULT_REVISION, DEFAULT_VENDOR, standardInquiry } from './inquiry.js';
import { LogicalUnit, type LogicalUnitOptions, type TaskManagementEvent } from './logical-unit.js';
import { CheckConditionError, invalidFieldInCdb, senseData } from './sense.js';
import { reportLunsData } from './spc.js';
import type { ItNexus, LogicalUnitHandle, ScsiCommand, ScsiResponse } from './types.js';

/** Options of {@link ScsiTargetDevice}. */
export interface ScsiTargetDeviceOptions {
  /** The iSCSI target name; seeds every LU's derived NAA designator and serial number. */
  targetName: string;
  /** Vendor, product and revision reported for LUNs with no logical unit. */
  vendor?: string;
  product?: string;
  revision?: string;
  /** Options applied to every LU created by {@link ScsiTargetDevice.add} unless it overrides them. */
  defaults?: Partial<Omit<LogicalUnitOptions, 'lun' | 'backend' | 'host'>>;
  /**
   * Whether a change of the LUN inventory establishes REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh) as a
   * unit attention for every I_T nexus (SPC-4 REPORT LUNS). Default true; false when the transport
   * reports the change another way (see {@link ScsiTargetDevice.inventoryUnitAttention}).
   */
  inventoryUnitAttention?: boolean;
}

/** Target-wide resets a transport passes on (RFC 7143 §11.5.1 TARGET WARM / COLD RESET). */
export type TargetResetKind = 'target-warm-reset' | 'target-cold-reset';

/**
 * Aborts every task of the I_T nexuses `nexusIds` on LUN `lun`, as an ABORT TASK SET from each of
 * them would (fire the tasks' AbortSignals, tell the backend, wait for them to end), and resolves
 * when they have ended. The transport owns the tasks, so it provides this; PREEMPT AND ABORT (SPC-4
 * §5.13.11.2.5) calls it.
 */
export type TaskAborter = (lun: number, nexusIds: readonly string[]) => Promise<void>;

/**
 * The logical units of one target. The transport hands every command to {@link execute}, which
 * routes it by `cmd.lun`; LUNs can be added and removed while commands run.
 */
export class ScsiTargetDevice implements LuHost {
  /** The iSCSI target name of these logical units. */
  readonly targetName: string;
  readonly #opts: ScsiTargetDeviceOptions;
  readonly #luns = new Map<number, LogicalUnit>();
  readonly #nexuses = new Set<string>();
  /**
   * LUNs whose removal has not finished: their number cannot be reused until it has, or commands
   * still in flight on the old LU and the new LU's would share a LUN (and the old backend its close).
   */
  readonly #removing = new Map<number, Promise<void>>();
  #aborter: TaskAborter | undefined;
  #closed = false;
  /**
   * A LUN inventory change establishes REPORTED LUNS DATA HAS CHANGED as a unit attention (true, the
   * default, SPC-4) or not (false: the transport reports it, e.g. as an iSCSI SCSI Asynchronous Event).
   */
  inventoryUnitAttention: boolean;

  constructor(opts: ScsiTargetDeviceOptions) {
    this.targetName = opts.targetName;
    this.#opts = opts;
    this.inventoryUnitAttention = opts.inventoryUnitAttention ?? true;
  }

  /**
   * Creates the logical unit `lun` over `backend` (which it then owns). Every I_T nexus gets
   * REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh, SPC-4 REPORT LUNS) on every LU, the new one included, so
   * an initiator learns of it through whichever LU it talks to next; reporting it through one LU
   * clears it on all of them for that nexus (LUICLR, see {@link UnitAttentions.take} in unit-attention.ts).
   * A LUN still being removed cannot be added again until its removal has finished.
   */
  add(lun: number, backend: BlockBackend, opts: Partial<Omit<LogicalUnitOptions, 'lun' | 'backend' | 'host'>> = {}): LogicalUnit {
    if (this.#closed) throw new Error('the SCSI target device is closed');
    if (this.#luns.has(lun)) throw new RangeError(`LUN ${lun} already exists on ${this.targetName}`);
    if (this.#removing.has(lun)) throw new RangeError(`LUN ${lun} of ${this.targetName} is still being removed`);
    const lu = new LogicalUnit({ targetName: this.targetName, ...this.#opts.defaults, ...opts, lun, backend, host: this });
    this.#luns.set(lun, lu);
    this.#inventoryChanged();
    return lu;
  }

  /**
   * Removes LUN `lun` in three steps (see {@link LogicalUnit.remove}): it leaves the inventory at once
   * (commands to it get LOGICAL UNIT NOT SUPPORTED, REPORT LUNS no longer lists it, the other LUs
   * report REPORTED LUNS DATA HAS CHANGED), the commands in flight complete and are answered, its
   * backend is closed once, then its state is reset. Resolves false when there was no such LUN.
   */
  async remove(lun: number, onStep?: (step: 'flushed' | 'cleaned-up' | 'reset') => void): Promise<boolean> {
    const lu = this.#luns.get(lun);
    if (lu === undefined) return false;
    this.#luns.delete(lun);
    this.#inventoryChanged();
    const done = lu.remove(onStep).finally(() => this.#removing.delete(lun));
    this.#removing.set(lun, done);
    await done;
    return true;
  }

  /** LUNs removed whose removal has not finished yet. */
  get removing(): number[] {
    return [...this.#removing.keys()].sort((a, b) => a - b);
  }

  #inventoryChanged(): void {
    if (!this.inventoryUnitAttention) return;
    for (const l of this.#luns.values()) l.establishUnitAttention(ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
  }

  /** The logical unit at `lun`, if any. */
  get(lun: number): LogicalUnit | undefined {
    return this.#luns.get(lun);
  }

  /** The handle the transport may keep for one LUN; it routes through the device, so a LUN removed
   * later answers LOGICAL UNIT NOT SUPPORTED. */
  handle(lun: number): LogicalUnitHandle {
    return { lun, execute: (cmd) => this.execute(cmd) };
  }

  /** LUNs in ascending order (LuHost, REPORT LUNS). */
  luns(): number[] {
    return [...this.#luns.keys()].sort((a, b) => a - b);
  }

  /** @internal LuHost: the live I_T nexuses. */
  nexusIds(): Iterable<string> {
    return this.#nexuses;
  }

  /** @internal LuHost. */
  noteNexus(nexus: ItNexus): void {
    this.#nexuses.add(nexus.id);
  }

  /** @internal LuHost: the logical units, for EXTENDED COPY between them. */
  logicalUnits(): Iterable<LogicalUnit> {
    return this.#luns.values();
  }

  /**
   * Registers how the transport aborts the tasks of given I_T nexuses on a LUN (PREEMPT AND ABORT).
   * Without one, PREEMPT AND ABORT removes the registrations and reservation as PREEMPT does, and
   * the preempted nexuses' tasks run to completion.
   */
  setTaskAborter(aborter: TaskAborter | undefined): void {
    this.#aborter = aborter;
  }

  /** @internal LuHost. */
  async abortTasks(lun: number, nexusIds: readonly string[]): Promise<void> {
    if (this.#aborter !== undefined && nexusIds.length !== 0) await this.#aborter(lun, nexusIds);
  }

  /** @internal LuHost: REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED for the nexus on every LU. */
  reportedLuns(nexusId: string): void {
    for (const l of this.#luns.values()) l.clearUnitAttention(nexusId, ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
  }

  /**
   * Registers an I_T nexus at login, so unit attentions established before its first command
   * (a LUN added, a reset) reach it. Commands register their nexus anyway.
   */
  attachNexus(nexus: ItNexus): void {
    this.#nexuses.add(nexus.id);
  }

  /**
   * The I_T nexus is gone (logout, session reinstatement, connection loss without recovery): every
   * LU releases what it held for it and will report I_T NEXUS LOSS OCCURRED when it returns.
   */
  nexusLost(nexus: ItNexus | string): void {
    const id = typeof nexus === 'string' ? nexus : nexus.id;
    this.#nexuses.delete(id);
    for (const l of this.#luns.values()) l.nexusLost(id);
  }

  /**
   * The I_T nexus is about to be lost (a logout about to be answered): every LU shared with other
   * device servers commits what the loss changes in the state they share (its SPC-2 reservation, its
   * PREVENT). Resolves once that is in force everywhere (bounded, never rejecting); undefined when no
   * LU is shared, so the caller goes on at once. {@link nexusLost} follows as usual.
   */
  releaseNexus(nexus: ItNexus | string): Promise<void> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const l of this.#luns.values()) {
      const p = l.releaseNexus(nexus);
      if (p !== undefined) (waits ??= []).push(p);
    }
    return waits === undefined ? undefined : Promise.all(waits).then(() => undefined);
  }

  /** A target reset: every LU performs a hard reset (SAM-5, hard reset). */
  reset(kind: TargetResetKind): void {
    for (const l of this.#luns.values()) l.reset(kind);
  }

  /**
   * A task management function: TARGET WARM/COLD RESET reaches every LU (each told every aborted
   * tag; tags of other LUNs mean nothing to it), the others reach the LU at `lun`; a TMF for a LUN
   * without one changes nothing. See {@link LogicalUnit.taskManagement}.
   */
  taskManagement(lun: number, ev: TaskManagementEvent): void {
    if (ev.type === 'target-warm-reset' || ev.type === 'target-cold-reset') {
      for (const l of this.#luns.values()) l.taskManagement(ev);
      return;
    }
    this.#luns.get(lun)?.taskManagement(ev);
  }

  /** Executes a command on the LU `cmd.lun`, or answers for a LUN without one. */
  execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    const id = cmd.nexus.id;
    if (!this.#nexuses.has(id)) this.#nexuses.add(id);
    const lu = this.#luns.get(cmd.lun);
    if (lu !== undefined) return lu.execute(cmd);
    if (cmd.signal.aborted) return Promise.reject(abortError(cmd.signal));
    try {
      return Promise.resolve(this.#noLogicalUnit(cmd));
    } catch (e) {
      if (e instanceof CheckConditionError) return Promise.resolve({ status: STATUS.CHECK_CONDITION, sense: e.toSense(false) });
      return Promise.reject(e);
    }
  }

  /**
   * Removes every LU (closing their backends) and waits for removals already under way; later
   * commands see no LUNs. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#luns.values()];
    this.#luns.clear();
    await Promise.all([...all.map((l) => l.remove()), ...this.#removing.values()]);
  }

  #noLogicalUnit(cmd: ScsiCommand): ScsiResponse {
    const cdb = cmd.cdb;
    switch (cdb[0]) {
      case OP.REPORT_LUNS: {
        // SPC-4 §6.33: REPORT LUNS is answered whatever LUN it is sent to, LUN 0 existing or not
        // (LIO and tgt do the same: an initiator may find no LU at LUN 0).
        const res = reportLunsData(cmd, this.luns());
        this.reportedLuns(cmd.nexus.id);
        return res;
      }
      case OP.INQUIRY: {
        // SPC-4 §6.6, standard INQUIRY data: peripheral qualifier 011b, device type 1Fh: no LU can be here.
        const evpd = (cdb[1]! & 0x01) !== 0;
        const alloc = cdb.readUInt16BE(3);
        if (!evpd) {
          if (cdb[2] !== 0) throw invalidFieldInCdb(2);
          const data = standardInquiry({
            qualifier: 3,
            deviceType: 0x1f,
            removable: false,
            vendor: this.#opts.vendor ?? DEFAULT_VENDOR,
            product: this.#opts.product ?? DEFAULT_PRODUCT,
            revision: this.#opts.revision ?? DEFAULT_REVISION,
          });
          return { status: STATUS.GOOD, data: truncate(data, alloc) };
        }
        if (cdb[2] !== VPD_SUPPORTED_PAGES) throw invalidFieldInCdb(2);
        // Supported VPD Pages with the same qualifier and type, listing itself.
        return { status: STATUS.GOOD, data: truncate(Buffer.from([0x7f, VPD_SUPPORTED_PAGES, 0x00, 0x01, VPD_SUPPORTED_PAGES]), alloc) };
      }
      case OP.REQUEST_SENSE: {
        // SPC-4 §6.39: to an incorrect LUN, GOOD with LOGICAL UNIT NOT SUPPORTED as the sense data.
        const desc = (cdb[1]! & 0x01) !== 0;
        const sense = senseData(SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED, desc);
        return { status: STATUS.GOOD, data: truncate(sense, cdb[4]!) };
      }
      default:
        return { status: STATUS.CHECK_CONDITION, sense: senseData(SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED, false) };
    }
  }
}
