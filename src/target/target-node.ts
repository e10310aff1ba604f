// One iSCSI target (RFC 7143 §4.4: an iSCSI node with a name): its logical units, who may reach it
// (ACL by InitiatorName), how they authenticate (CHAP, mutual CHAP), and its live sessions.

import type { Logger } from 'pino';
import type { BlockBackend } from '../backend/types.js';
import { ScsiTargetDevice } from '../scsi/lun-map.js';
import type { ChapSecret } from '../session/chap.js';
import type { FullFeatureConnection } from './ffp.js';
import type { TargetSession } from './session.js';
import { TaskManager, type TaskManagementNotice, type TmfScope } from './tmf.js';

/** A CHAP account: a user name and its secret. */
export interface ChapAccount {
  user: string;
  secret: ChapSecret;
}

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
  /** Told of every task management function before the task manager waits (seed 002). */
  onTaskManagement?: (notice: TaskManagementNotice) => void;
}

export class TargetNode {
  readonly name: string;
  readonly alias: string | undefined;
  readonly device: ScsiTargetDevice;
  readonly allow: ReadonlySet<string>;
  readonly chap: readonly ChapAccount[];
  readonly mutualChap: ChapAccount | undefined;
  readonly allowShortSecrets: boolean;
  readonly sessions = new Set<TargetSession>();
  /** Live full feature connections, by session. */
  readonly connections = new Map<TargetSession, FullFeatureConnection>();
  readonly tmf: TaskManager;
  readonly #log: Logger;
  /** Set by the server: drops every connection of this target. */
  dropAll: (reason: string) => void = () => {};

  constructor(opts: TargetNodeOptions) {
    this.name = opts.name;
    this.alias = opts.alias;
    this.device = new ScsiTargetDevice({ targetName: opts.name });
    this.allow = new Set(opts.allow ?? []);
    this.chap = opts.chap ?? [];
    this.mutualChap = opts.mutualChap;
    this.allowShortSecrets = opts.allowShortSecrets ?? false;
    this.#log = opts.log;
    const scope: TmfScope = {
      connections: () => this.connections.values(),
      hasLun: (lun) => this.device.get(lun) !== undefined,
      notify: (type, lun, by, aborted) => {
        if (by.nexus === undefined) return;
        const luns = lun === undefined ? this.device.luns() : [lun];
        for (const l of luns) {
          const itts = aborted.filter((t) => t.lun === l).map((t) => t.itt);
          this.device.get(l)?.taskManagement({ type, nexus: by.nexus, aborted: itts });
        }
      },
      pendingUnitAttentions: (lun, session) =>
        session.nexus === undefined ? [] : (this.device.get(lun)?.pendingUnitAttentions(session.nexus.id) ?? []),
      dropAll: (reason) => this.dropAll(reason),
      log: opts.log,
      ...(opts.onTaskManagement !== undefined && { onTaskManagement: opts.onTaskManagement }),
    };
    this.tmf = new TaskManager(scope);
    // PREEMPT AND ABORT (persistent reservations) aborts other nexuses' tasks through the transport.
    this.device.setTaskAborter((lun, nexusIds) => this.tmf.abortNexusTasks(lun, nexusIds));
  }

  /** Whether this InitiatorName may log in (and see the target in discovery). */
  allows(initiatorName: string): boolean {
    return this.allow.size === 0 || this.allow.has(initiatorName);
  }

  /** Adds LUN `lun` over `backend`. */
  addLun(lun: number, backend: BlockBackend): void {
    this.device.add(lun, backend);
    this.#log.info({ target: this.name, lun, blocks: backend.blocks, blockSize: backend.blockSize, kind: backend.kind }, 'LUN added');
  }
}
