// The command window (RFC 7143 §3.2.2.1, §4.2.2.1): the initiator may send a non-immediate command only
// while its CmdSN is within [ExpCmdSN, MaxCmdSN]. CmdSN is forward state (frwdLock); ExpCmdSN and
// MaxCmdSN are backward state (backLock), updated from every response with serial arithmetic (RFC 1982).

import { snAdd, snDiff, snLt, snLte } from '../../util/serial.js';

/** CmdSN (forward) and ExpCmdSN/MaxCmdSN (backward) with the update rules of RFC 7143 §4.2.2.1. */
export class CommandWindow {
  // ---- forward state (frwdLock) ----
  /** The CmdSN the next non-immediate command goes out with. */
  cmdSN = 1;
  // ---- backward state (backLock) ----
  expCmdSN = 1;
  maxCmdSN = 1;
  /** Updates ignored because they broke RFC 7143 §4.2.2.1 (MaxCmdSN < ExpCmdSN - 1, or ExpCmdSN ahead of what was sent). */
  ignored = 0;

  /** Starts a new session's numbering from the final Login Response (RFC 7143 §11.13). */
  reset(cmdSN: number, expCmdSN: number, maxCmdSN: number): void {
    this.cmdSN = cmdSN >>> 0;
    this.expCmdSN = expCmdSN >>> 0;
    this.maxCmdSN = maxCmdSN >>> 0;
  }

  /** True when a command may be sent now: CmdSN <= MaxCmdSN (forward path; reads MaxCmdSN as a snapshot). */
  get open(): boolean {
    return snLte(this.cmdSN, this.maxCmdSN);
  }

  /** How many more commands fit in the window now. */
  get room(): number {
    if (!this.open) return 0;
    return snDiff(this.cmdSN, this.maxCmdSN) + 1;
  }

  /** Hands out the next CmdSN (forward path). */
  take(): number {
    const sn = this.cmdSN;
    this.cmdSN = snAdd(sn, 1);
    return sn;
  }

  /**
   * Applies the ExpCmdSN/MaxCmdSN of a response (backward path), by RFC 7143 §4.2.2.1: a MaxCmdSN below
   * ExpCmdSN - 1 voids both; each moves only forward. An ExpCmdSN beyond the next CmdSN to be sent
   * acknowledges commands never sent: a broken target, ignored. Returns true when the window went from
   * closed to open.
   */
  update(expCmdSN: number, maxCmdSN: number): boolean {
    if (snLt(maxCmdSN, snAdd(expCmdSN, -1 >>> 0))) {
      this.ignored++;
      return false;
    }
    if (snLt(this.cmdSN, expCmdSN)) {
      this.ignored++;
      return false;
    }
    const wasOpen = this.open;
    if (snLt(this.expCmdSN, expCmdSN)) this.expCmdSN = expCmdSN >>> 0;
    if (snLt(this.maxCmdSN, maxCmdSN)) this.maxCmdSN = maxCmdSN >>> 0;
    return !wasOpen && this.open;
  }
}
