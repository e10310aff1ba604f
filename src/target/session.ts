// A target session (RFC 7143 §4.2.2): its identity (InitiatorName, ISID, TSIH), the negotiated
// parameters, the CmdSN window shared by its connections, and its tasks. No sockets here.

import type { SessionParams } from '../login/keys.js';
import { snAdd } from '../util/serial.js';
import type { ItNexus } from '../scsi/types.js';
import { SessionCounters } from './stats/counters.js';
import type { TargetTask } from './task.js';

/** SessionType (RFC 7143 §13.21): a discovery session carries only Text and Logout. */
export type TargetSessionType = 'Normal' | 'Discovery';

/** What a session is created with, once its leading login completed. */
export interface TargetSessionInit {
  tsih: number;
  isid: string;
  initiatorName: string;
  /** The target this session reaches (undefined for discovery). */
  targetName: string | undefined;
  tpgt: number;
  type: TargetSessionType;
  params: SessionParams;
  /** Commands the session may have queued at once: MaxCmdSN is advertised from it. */
  queueDepth: number;
  /** Initial ExpCmdSN: the CmdSN of the leading Login Request (RFC 7143 §4.2.2.1). */
  expCmdSN: number;
  /** The id for logs and the admin socket; by default the next of a process-wide counter. */
  id?: number;
}

/**
 * The I_T nexus of a session: SCSI port names from the iSCSI names, ISID and TPGT (RFC 7143 §4.4.2).
 * A target portal group is one SCSI target port, so its tag is also the port's relative target port
 * identifier (VPD 83h): 1 for a lone target, the gateway's own number in a cluster.
 */
export function makeNexus(initiatorName: string, isid: string, targetName: string, tpgt: number): ItNexus {
  const initiatorPortName = `${initiatorName},i,0x${isid}`;
  const targetPortName = `${targetName},t,0x${tpgt.toString(16).padStart(4, '0')}`;
  return {
    id: `${initiatorPortName}|${targetPortName}`,
    initiatorName,
    isid,
    initiatorPortName,
    targetName,
    tpgt,
    targetPortName,
    relativeTargetPortId: tpgt,
  };
}

let nextSessionId = 1;

/** One session of the target; its only connection (MaxConnections=1) runs its full feature phase. */
export class TargetSession {
  /** An id for logs and the admin socket, unique in its server (and across the processes of a target with workers). */
  readonly id: number;
  readonly tsih: number;
  readonly isid: string;
  readonly initiatorName: string;
  readonly targetName: string | undefined;
  readonly tpgt: number;
  readonly type: TargetSessionType;
  params: SessionParams;
  readonly queueDepth: number;
  readonly nexus: ItNexus | undefined;
  expCmdSN: number;
  /** Non-immediate SCSI tasks holding a slot of the command window. */
  active = 0;
  readonly tasks = new Map<number, TargetTask>();
  /** CmdSNs that an ABORT TASK declared received before they arrived (RFC 7143 §11.6.1 b). */
  readonly skippedCmdSNs = new Set<number>();
  readonly createdAt = Date.now();
  closed = false;
  /** Counters for the admin socket. */
  readonly stats = { commands: 0, readBytes: 0, writeBytes: 0, errors: 0 };
  /** Counters of completed commands (latency included), kept while the server keeps counters. */
  readonly counters = new SessionCounters();

  constructor(init: TargetSessionInit) {
    this.id = init.id ?? nextSessionId++;
    this.tsih = init.tsih;
    this.isid = init.isid;
    this.initiatorName = init.initiatorName;
    this.targetName = init.targetName;
    this.tpgt = init.tpgt;
    this.type = init.type;
    this.params = init.params;
    this.queueDepth = init.queueDepth;
    this.expCmdSN = init.expCmdSN;
    this.nexus = init.targetName === undefined ? undefined : makeNexus(init.initiatorName, init.isid, init.targetName, init.tpgt);
  }

  /**
   * MaxCmdSN from the real queue depth: the window holds as many commands as there are free slots.
   * A command arriving moves ExpCmdSN and takes a slot; one finishing frees it: MaxCmdSN never moves
   * back (RFC 7143 §4.2.2.1).
   */
  get maxCmdSN(): number {
    return snAdd(this.expCmdSN, this.queueDepth - this.active - 1);
  }
}
