// One iSCSI target (RFC 7143 §4.4: an iSCSI node with a name): its logical units, who may reach it
// (ACL by InitiatorName), how they authenticate (CHAP, mutual CHAP), and its live sessions.

import type { Logger } from 'pino';
import type { BlockBackend } from '../backend/types.js';
import { AsyncEvent } from '../pdu/constants.js';
import { lunToField } from '../pdu/lun.js';
import { ASC, SENSE_KEY } from '../scsi/constants.js';
import type { LogicalUnit, LogicalUnitOptions } from '../scsi/logical-unit.js';
import { ScsiTargetDevice } from '../scsi/target-device.js';
import { buildFixedSense } from '../scsi/sense.js';
import type { ChapSecret } from '../login/chap.js';
import type { FullFeatureConnection } from './ffp/index.js';
import type { TargetSession } from './session.js';
import { TargetCounters } from './stats/counters.js';
import { TaskManager, type TaskManagementNotice, type TmfScope } from './tmf.js';

/**
 * How a target tells its initiators that its LUN inventory (a LUN added or removed) or a LUN's
 * capacity changed:
 * - `'both'` (default): the unit attention SPC-4 requires (REPORTED LUNS DATA HAS CHANGED 3Fh/0Eh for
 *   every I_T nexus, reported once per nexus through whichever LU it addresses next and then cleared on
 *   all of them, LUICLR; CAPACITY DATA HAS CHANGED 2Ah/09h on the resized LU), and an iSCSI
 *   Asynchronous Message (SCSI Async Event, RFC 7143 §11.9.1) carrying the same sense to every
 *   logged-in session, so initiators that listen act at once (open-iscsi's iscsid rescans on 3Fh/0Eh);
 * - `'unit-attention'`: the unit attention only;
 * - `'async-event'`: the Asynchronous Message only, no unit attention: SAM-2's asynchronous event
 *   reporting, where an event reported that way is not also reported with CHECK CONDITION. For
 *   initiators that mishandle unit attentions (libiscsi's iscsi-perf miscounts the command it sends
 *   again); initiators that ignore the message (libiscsi) learn of the change only when they look.
 */
export type LunEventMode = 'both' | 'unit-attention' | 'async-event';

/** What a target node reports to its server (and the server to its listeners). */
export type TargetNodeEvent =
  | { type: 'lun-added'; target: string; lun: number; blocks: number; blockSize: number }
  | { type: 'lun-removing'; target: string; lun: number }
  | { type: 'lun-removed'; target: string; lun: number }
  | { type: 'lun-resized'; target: string; lun: number; blocks: number }
  | { type: 'task-management'; target: string; notice: TaskManagementNotice }
  | { type: 'backend-error'; target: string; lun: number; error: Error };

/** What a LUN may be added with beyond its backend (a cluster gives identity, ALUA and shared state). */
export type LunOptions = Partial<Omit<LogicalUnitOptions, 'lun' | 'backend' | 'host'>>;

/** A CHAP account: a user name and its secret. */
export interface ChapAccount {
  user: string;
  secret: ChapSecret;
}

/** How a target is built: its name, who may log in, how they authenticate, where its events go. */
export interface TargetNodeOptions {
  name: string;
  alias?: string;
  /** InitiatorNames allowed in; empty or absent lets every initiator in (subject to CHAP). */
  allow?: readonly string[];
  /** Initiator accounts for CHAP; when any is given, CHAP is required. */
  chap?: readonly ChapAccount[];
  /** The target's own credentials for mutual CHAP (the initiator authenticates the target). */
  mutualChap?: ChapAccount;
  /** Accept CHAP secrets under 12 bytes (RFC 7143 §12.1.3 requires 96 bits). Default false. */
  allowShortSecrets?: boolean;
  log: Logger;
  /** Told of every task management function before the task manager waits for the tasks it aborted. */
  onTaskManagement?: (notice: TaskManagementNotice) => void;
  /** How LUN inventory and capacity changes reach initiators; default `'both'`. */
  lunEvents?: LunEventMode;
  /**
   * Known here for SendTargets only (name, alias, ACL): another process serves its LUNs and sessions
   * (a target with workers, workers/), so a normal login to it is refused here. Default false.
   */
  discoveryOnly?: boolean;
}

/** One target: its LUNs (a SCSI target device), ACL, CHAP accounts, task manager and live sessions. */
export class TargetNode {
  readonly name: string;
  readonly alias: string | undefined;
  readonly device: ScsiTargetDevice;
  /** InitiatorNames allowed in (empty: any); changed at runtime by the admin socket. */
  readonly allow: Set<string>;
  /** Initiator CHAP accounts (CHAP required when any); read at each login, so changes apply to the next one. */
  chap: readonly ChapAccount[];
  mutualChap: ChapAccount | undefined;
  readonly allowShortSecrets: boolean;
  /** See {@link TargetNodeOptions.discoveryOnly}. */
  readonly discoveryOnly: boolean;
  readonly sessions = new Set<TargetSession>();
  /** Live full feature connections, by session. */
  readonly connections = new Map<TargetSession, FullFeatureConnection>();
  readonly tmf: TaskManager;
  /** Counters of this target's LUNs, task management and logins (kept while the server keeps counters). */
  readonly counters = new TargetCounters();
  readonly #log: Logger;
  #lunEvents: LunEventMode = 'both';
  /** Set by the server: drops every connection of this target. */
  dropAll: (reason: string) => void = () => {};
  /** Set by the server: where this node's events go. */
  emit: (e: TargetNodeEvent) => void = () => {};
  /**
   * Set on a cluster gateway: joins the shared LUN of a LUN spec (admin `lun add`), giving the options
   * to add it with and what connects it once added.
   */
  joinLun: ((spec: string) => Promise<{ options: LunOptions; attach(lu: LogicalUnit): Promise<void> }>) | undefined;

  constructor(opts: TargetNodeOptions) {
    this.name = opts.name;
    this.alias = opts.alias;
    this.device = new ScsiTargetDevice({
      targetName: opts.name,
      defaults: {
        onInternalError: (e, cmd) => {
          const error = e instanceof Error ? e : new Error(String(e));
          if (cmd === undefined) {
            this.#log.error({ err: error }, 'a shared reservation change failed');
            return;
          }
          this.#log.error({ err: error, lun: cmd.lun, itt: cmd.taskTag }, 'command failed inside the target');
          this.emit({ type: 'backend-error', target: this.name, lun: cmd.lun, error });
        },
        // A TARGET COLD RESET through another gateway of the cluster resets this same target: it is a
        // power on event that terminates every session, those through this gateway too (RFC 7143 §11.5.1).
        onSharedReset: (code) => {
          if (code === ASC.POWER_ON_OCCURRED) this.dropAll('TARGET COLD RESET through another gateway');
        },
      },
    });
    this.lunEvents = opts.lunEvents ?? 'both';
    this.allow = new Set(opts.allow ?? []);
    this.chap = opts.chap ?? [];
    this.mutualChap = opts.mutualChap;
    this.allowShortSecrets = opts.allowShortSecrets ?? false;
    this.discoveryOnly = opts.discoveryOnly ?? false;
    this.#log = opts.log;
    const scope: TmfScope = {
      connections: () => this.connections.values(),
      hasLun: (lun) => this.device.get(lun) !== undefined,
      notify: (type, lun, by, aborted) => {
        if (by.nexus === undefined) return;
        const luns = lun === undefined ? this.device.luns() : [lun];
        const settled: Promise<void>[] = [];
        for (const l of luns) {
          const mine = aborted.filter((a) => a.task.lun === l);
          this.device.get(l)?.taskManagement({
            type,
            nexus: by.nexus,
            aborted: mine.map((a) => a.task.itt),
            abortedNexuses: mine.flatMap((a) => (a.session.nexus === undefined ? [] : [a.session.nexus.id])),
          });
          const lu = this.device.get(l);
          if (lu !== undefined) settled.push(lu.settled());
        }
        return Promise.all(settled).then(() => {});
      },
      pendingUnitAttentions: (lun, session) =>
        session.nexus === undefined ? [] : (this.device.get(lun)?.pendingUnitAttentions(session.nexus.id) ?? []),
      dropAll: (reason) => this.dropAll(reason),
      log: opts.log,
      onTaskManagement: (notice) => {
        opts.onTaskManagement?.(notice);
        this.emit({ type: 'task-management', target: this.name, notice });
      },
    };
    this.tmf = new TaskManager(scope);
    // PREEMPT AND ABORT (persistent reservations) aborts other nexuses' tasks through the transport.
    this.device.setTaskAborter((lun, nexusIds) => this.tmf.abortNexusTasks(lun, nexusIds));
  }

  /** Whether this InitiatorName may log in (and see the target in discovery). */
  allows(initiatorName: string): boolean {
    return this.allow.size === 0 || this.allow.has(initiatorName);
  }

  /** How LUN inventory and capacity changes reach initiators (see {@link LunEventMode}). */
  get lunEvents(): LunEventMode {
    return this.#lunEvents;
  }

  set lunEvents(mode: LunEventMode) {
    if (mode !== 'both' && mode !== 'unit-attention' && mode !== 'async-event') throw new RangeError(`lunEvents ${String(mode)} is not both, unit-attention or async-event`);
    this.#lunEvents = mode;
    this.device.inventoryUnitAttention = mode !== 'async-event';
  }

  /**
   * Adds LUN `lun` over `backend` (which it then owns); initiators hear of it as `lunEvents` says.
   * `opts` gives the logical unit more (a cluster's shared identity, asymmetric access and state).
   */
  addLun(lun: number, backend: BlockBackend, opts: LunOptions = {}): LogicalUnit {
    const lu = this.device.add(lun, backend, opts);
    this.counters.addLun(lun);
    this.#log.info({ target: this.name, lun, blocks: backend.blocks, blockSize: backend.blockSize, kind: backend.kind }, 'LUN added');
    this.#announce(lun, ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
    this.emit({ type: 'lun-added', target: this.name, lun, blocks: backend.blocks, blockSize: backend.blockSize });
    return lu;
  }

  /**
   * Removes LUN `lun` in three steps ({@link ScsiTargetDevice.remove}): it leaves the inventory and
   * refuses new work at once (initiators hear REPORTED LUNS DATA HAS CHANGED as `lunEvents` says), what is in
   * flight completes and is answered, the backend is closed once, the LU's state is reset: no command
   * already accepted is lost, and none reaches a closed backend. Resolves false when there is no such LUN.
   */
  async removeLun(lun: number): Promise<boolean> {
    if (this.device.get(lun) === undefined) return false;
    this.emit({ type: 'lun-removing', target: this.name, lun });
    const removed = this.device.remove(lun, (step) => this.#log.debug({ target: this.name, lun, step }, 'LUN removal'));
    // The LUN is out of the inventory as soon as remove() started: tell the initiators now, not after the flush.
    this.#announce(lun, ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
    await removed;
    this.counters.removeLun(lun);
    this.#log.info({ target: this.name, lun }, 'LUN removed');
    this.emit({ type: 'lun-removed', target: this.name, lun });
    return true;
  }

  /** Changes LUN `lun`'s capacity to `blocks`; initiators hear CAPACITY DATA HAS CHANGED as `lunEvents` says. */
  async resizeLun(lun: number, blocks: number): Promise<void> {
    const lu = this.device.get(lun);
    if (lu === undefined) throw new RangeError(`no LUN ${lun} on ${this.name}`);
    await lu.resize(blocks, { unitAttention: this.#lunEvents !== 'async-event' });
    this.#announce(lun, ASC.CAPACITY_DATA_HAS_CHANGED);
    this.#log.info({ target: this.name, lun, blocks }, 'LUN resized');
    this.emit({ type: 'lun-resized', target: this.name, lun, blocks });
  }

  /** Sends a SCSI Asynchronous Event (RFC 7143 §11.9.1 AsyncEvent 0) with UNIT ATTENTION `code` to every session. */
  #announce(lun: number, code: number): void {
    if (this.#lunEvents === 'unit-attention') return;
    const sense = buildFixedSense({ key: SENSE_KEY.UNIT_ATTENTION, asc: code >> 8, ascq: code & 0xff });
    for (const ffp of this.connections.values()) ffp.sendAsync(AsyncEvent.ScsiAsyncEvent, { lun: lunToField(lun), sense });
  }
}
