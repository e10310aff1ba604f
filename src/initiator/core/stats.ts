// The core's counters: bumped where things happen (one plain object of one shape, increments only) and
// read as one snapshot by Session.stats() and `tsiscsi bench`.

import type { LockStats } from './locks.js';

/** What a core counts as it works. */
export interface CoreCounters {
  submitted: number;
  completed: number;
  failed: number;
  /** Commands sent again: after a reconnection, a unit attention or a reset that cleared them. */
  reissued: number;
  bytesIn: number;
  bytesOut: number;
  pdusIn: number;
  aborts: number;
  lunResets: number;
  pings: number;
}

/** Counters of a core, as {@link InitiatorCore.snapshot} reports them. */
export interface CoreStats extends CoreCounters {
  /** Window updates ignored because they broke RFC 7143 §4.2.2.1. */
  windowIgnored: number;
  locks: LockStats[];
}

/** A fresh set of counters, all zero. */
export function newCounters(): CoreCounters {
  return { submitted: 0, completed: 0, failed: 0, reissued: 0, bytesIn: 0, bytesOut: 0, pdusIn: 0, aborts: 0, lunResets: 0, pings: 0 };
}

/** The counters with the window's and the locks' own, copied. */
export function snapshotStats(c: CoreCounters, windowIgnored: number, locks: LockStats[]): CoreStats {
  return { ...c, windowIgnored, locks };
}
