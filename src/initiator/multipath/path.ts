// One path of a multipath session: a URL, the session logged in through it, where it stands, its ALUA
// state, and its counters; and the two checks a path passes before it carries commands: which device
// and port it reaches (INQUIRY, Device Identification VPD page, READ CAPACITY), and the state of its
// target port group (REPORT TARGET PORT GROUPS).

import { ALUA_STATE, RTPG_MIN_ALLOC, TPGS, aluaStateName, cdbReportTargetPortGroups, parseReportTargetPortGroups, pathIdentity, type TargetPortGroupDescriptor, type TargetPortGroups } from '../../scsi/cdb/alua.js';
import { parseVpd83 } from '../../scsi/cdb/vpd.js';
import { targetData } from '../commands.js';
import type { Capacity } from '../options.js';
import { aluaStateFromSense } from './classify.js';
import type { IscsiUrl } from '../url.js';
import type { PathSession, PathStatus, PathStatusName } from './options.js';
import type { SelectablePath } from './selector.js';

/** The Device Identification VPD page (SPC-4 §7.8.6). */
const VPD_DEVICE_IDENTIFICATION = 0x83;
/** The largest REPORT TARGET PORT GROUPS answer asked for: 255 groups of 255 ports would need 260 KiB; real ones are tiny. */
const RTPG_MAX_ALLOC = 1 << 16;

/** What a path's checks learnt. */
export interface PathProbe {
  /** The LU's designator (see {@link pathIdentity}), undefined when it reports none. */
  lu: string | undefined;
  relativeTargetPort: number | undefined;
  targetPortGroup: number | undefined;
  /** INQUIRY TPGS (SPC-4 §6.6.2): 0 no ALUA, 1 implicit, 2 explicit, 3 both. */
  tpgs: number;
  /** READ CAPACITY's, or undefined where the port's ALUA state refuses it (Standby, Unavailable, ...). */
  blockSize: number | undefined;
  blocks: number | undefined;
}

/** Asks a path's session which device and port it reaches. */
export async function probePath(s: PathSession, timeout: number): Promise<PathProbe> {
  const o = { timeout };
  const inq = await s.inquiry(o);
  const page = await s.inquiryVpd(VPD_DEVICE_IDENTIFICATION, o);
  const id = targetData(() => pathIdentity(parseVpd83(page)));
  let cap: Capacity | undefined;
  try {
    cap = await s.readCapacity(o);
  } catch (e) {
    // SPC-4 §5.15.2.4.4-.6: a Standby, Unavailable or Transitioning port need not answer READ CAPACITY;
    // INQUIRY was enough to know the device, and the size is learnt through a port that is active.
    const x = e as { senseKey?: number; asc?: number; ascq?: number };
    if (inq.tpgs === TPGS.NONE || aluaStateFromSense(x.senseKey, x.asc, x.ascq) < 0) throw e;
  }
  return { lu: id.lu, relativeTargetPort: id.relativeTargetPort, targetPortGroup: id.targetPortGroup, tpgs: inq.tpgs, blockSize: cap?.blockSize, blocks: cap?.blocks };
}

/** REPORT TARGET PORT GROUPS through a path, asked again with a larger allocation when the answer was cut. */
export async function reportTargetPortGroups(s: PathSession, timeout: number): Promise<TargetPortGroups> {
  let alloc = 1024;
  for (;;) {
    const r = await s.execute(cdbReportTargetPortGroups({ alloc }), { dataIn: alloc, timeout });
    const groups = targetData(() => parseReportTargetPortGroups(r.data));
    if (groups.needed <= alloc || alloc >= RTPG_MAX_ALLOC) return groups;
    alloc = Math.min(RTPG_MAX_ALLOC, Math.max(RTPG_MIN_ALLOC, groups.needed));
  }
}

/** One URL of a multipath session and what is known of it. */
export class Path implements SelectablePath {
  readonly index: number;
  readonly url: IscsiUrl;
  /** The URL with its secrets redacted, for messages and events. */
  readonly label: string;
  session: PathSession | null = null;
  status: PathStatusName = 'connecting';
  /** Bumped at every connection change: a check that outlived its connection is ignored. */
  epoch = 0;
  aluaState: number = ALUA_STATE.ACTIVE_OPTIMIZED;
  pref = false;
  tpgs: number = TPGS.NONE;
  targetPortGroup: number | undefined;
  relativeTargetPort: number | undefined;
  lastError: Error | undefined;
  commands = 0;
  failovers = 0;
  outstanding = 0;
  downs = 0;

  constructor(index: number, url: IscsiUrl, label: string) {
    this.index = index;
    this.url = url;
    this.label = label;
  }

  get usable(): boolean {
    return this.status === 'up' && this.session !== null && this.session.connected;
  }

  /** Takes what a probe learnt about the port (the LU was checked by the caller). */
  learn(probe: PathProbe): void {
    this.tpgs = probe.tpgs;
    this.targetPortGroup = probe.targetPortGroup;
    this.relativeTargetPort = probe.relativeTargetPort;
    // SPC-4 §5.15.1: without TPGS the LU has no asymmetric access: every port is fully active.
    if (probe.tpgs === TPGS.NONE) {
      this.aluaState = ALUA_STATE.ACTIVE_OPTIMIZED;
      this.pref = false;
    }
  }

  /**
   * This port's group in a REPORT TARGET PORT GROUPS answer: by the target port group designator of its
   * Device Identification page, else by its relative port in a group's port list (SPC-4 §6.37).
   */
  groupIn(rtpg: TargetPortGroups): TargetPortGroupDescriptor | undefined {
    const tpg = this.targetPortGroup;
    const rtpi = this.relativeTargetPort;
    if (tpg !== undefined) {
      const g = rtpg.groups.find((x) => x.tpg === tpg);
      if (g !== undefined) return g;
    }
    return rtpi === undefined ? undefined : rtpg.groups.find((x) => x.ports.includes(rtpi));
  }

  /** A copy of where it stands, for {@link MultipathSession.paths}. */
  snapshot(): PathStatus {
    return {
      index: this.index,
      url: this.label,
      status: this.status,
      aluaState: this.aluaState,
      aluaStateName: aluaStateName(this.aluaState),
      pref: this.pref,
      usable: this.usable,
      targetPortGroup: this.targetPortGroup,
      relativeTargetPort: this.relativeTargetPort,
      commands: this.commands,
      failovers: this.failovers,
      outstanding: this.outstanding,
      downs: this.downs,
      lastError: this.lastError?.message,
    };
  }
}
