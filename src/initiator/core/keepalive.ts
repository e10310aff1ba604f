// Liveness of the connection (RFC 7143 §11.18): a NOP-Out ping after a quiet interval, the connection
// declared dead only when nothing at all came back within the timeout. Any received PDU counts as
// liveness (open-iscsi #97: a busy, healthy connection must not fail because one NOP-In is late).
// The same ping is the backstop for a window that stays closed: a target may open its window without
// sending anything (MaxCmdSN only travels on PDUs it sends, RFC 7143 §4.2.2.1), and commands held back
// would wait for a wake-up that never comes; the NOP-In answering the ping carries a fresh MaxCmdSN
// (§11.19).

export interface KeepaliveOptions {
  /** Quiet time (nothing received) after which a ping goes out; 0 disables idle pings. */
  interval: number;
  /** Time a ping may go unanswered, with nothing else received, before the connection is dead. */
  timeout: number;
  /** Quiet time with commands held back by a closed window after which a ping asks for MaxCmdSN. */
  windowStall: number;
}

/** What the keepalive wants done now. */
export type KeepaliveAction = 'ping' | 'dead' | undefined;

/** Decides, on each timer tick, whether to ping or to declare the connection dead. */
export class Keepalive {
  /** The options it was made with. */
  readonly options: KeepaliveOptions;
  #lastHeard = 0;
  /** Send time of the outstanding ping, or -1. */
  #pingSentAt = -1;
  #pingItt = 0;
  pingsSent = 0;

  constructor(options: KeepaliveOptions) {
    this.options = options;
  }

  /** The connection starts (or restarts) at `now`: nothing outstanding. */
  reset(now: number): void {
    this.#lastHeard = now;
    this.#pingSentAt = -1;
  }

  /** A PDU arrived. */
  heard(now: number): void {
    this.#lastHeard = now;
  }

  /** When a PDU last arrived. */
  get lastHeard(): number {
    return this.#lastHeard;
  }

  /** True while a ping waits for its NOP-In. */
  get pingOutstanding(): boolean {
    return this.#pingSentAt >= 0;
  }

  /** A ping went out with this ITT. */
  pinged(itt: number, now: number): void {
    this.#pingSentAt = now;
    this.#pingItt = itt;
    this.pingsSent++;
  }

  /** A NOP-In answered `itt`; true if it was our ping. */
  answered(itt: number): boolean {
    if (this.#pingSentAt < 0 || itt !== this.#pingItt) return false;
    this.#pingSentAt = -1;
    return true;
  }

  /**
   * Decides on a timer tick. `windowStalled`: commands wait for the CmdSN window. `busy`: commands are
   * outstanding (a quiet connection with work in flight is pinged even with idle pings disabled).
   */
  tick(now: number, windowStalled: boolean, busy: boolean): KeepaliveAction {
    const o = this.options;
    if (this.#pingSentAt >= 0) {
      // Anything heard since the ping proves the connection alive: the ping has done its job.
      if (this.#lastHeard > this.#pingSentAt) {
        this.#pingSentAt = -1;
      } else if (now - this.#pingSentAt >= o.timeout) {
        return 'dead';
      } else {
        return undefined;
      }
    }
    const quiet = now - this.#lastHeard;
    if (windowStalled && quiet >= o.windowStall) return 'ping';
    if (o.interval > 0 && quiet >= o.interval) return 'ping';
    if (busy && o.interval === 0 && quiet >= o.timeout) return 'ping';
    return undefined;
  }
}
