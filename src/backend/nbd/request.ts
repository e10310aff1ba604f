// One NBD request from the backend's call to its settlement: it may be sent, lost with a connection,
// queued and sent again; it settles exactly once (reply, error, abort or timeout), and after that its
// late reply is read and dropped.

import { AbortError } from '../../errors.js';
import { NBD_CMD } from './constants.js';
import type { ReplyTarget } from './replies.js';

/** The NBD_CMD_* names, for errors and logs. */
export const COMMAND_NAMES: readonly string[] = ['NBD_CMD_READ', 'NBD_CMD_WRITE', 'NBD_CMD_DISC', 'NBD_CMD_FLUSH', 'NBD_CMD_TRIM', 'NBD_CMD_CACHE', 'NBD_CMD_WRITE_ZEROES'];

/** A request in the client; the fields the reply parser reads are those of {@link ReplyTarget}. */
export class NbdRequest implements ReplyTarget {
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly length: number;
  /** A WRITE's payload. */
  readonly data: Buffer | null;
  into: Buffer | null;
  readonly intoOffset: number;
  covered = 0;
  replyError = 0;
  replyMessage = '';
  /** When it must have settled (ms, performance.now clock). */
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  /** Connection slot it occupies while sent, and the cookie's upper half that goes with it. */
  slot = -1;
  cookieHi = 0;
  /** Index of the connection it should use when that one is up (a FLUSH per connection), else -1. */
  readonly preferred: number;
  /** Times it was sent (more than once after a lost connection). */
  sends = 0;
  settled = false;
  readonly promise: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: unknown) => void;
  #onAbort: (() => void) | null = null;

  constructor(
    type: number,
    flags: number,
    offset: number,
    length: number,
    data: Buffer | null,
    into: Buffer | null,
    intoOffset: number,
    deadline: number,
    signal: AbortSignal | undefined,
    preferred = -1,
  ) {
    this.type = type;
    this.flags = flags;
    this.offset = offset;
    this.length = length;
    this.data = data;
    this.into = into;
    this.intoOffset = intoOffset;
    this.deadline = deadline;
    this.signal = signal;
    this.preferred = preferred;
    this.promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  get name(): string {
    return COMMAND_NAMES[this.type] ?? `NBD command ${this.type}`;
  }

  /** A READ or WRITE carries a payload; the others do not. */
  get isRead(): boolean {
    return this.type === NBD_CMD.READ;
  }

  /** Calls `onAbort` once when the signal fires (the caller then settles the request). */
  watchAbort(onAbort: (req: NbdRequest) => void): void {
    if (this.signal === undefined) return;
    const fn = (): void => onAbort(this);
    this.#onAbort = fn;
    this.signal.addEventListener('abort', fn, { once: true });
  }

  /** Settles with success. */
  resolve(): void {
    if (this.settled) return;
    this.#settle();
    this.#resolve();
  }

  /** Settles with `error`; a READ's buffer is no longer written (a late reply is dropped). */
  reject(error: unknown): void {
    if (this.settled) return;
    this.into = null;
    this.#settle();
    this.#reject(error);
  }

  /** Settles with AbortError (the signal fired). */
  abort(): void {
    this.reject(new AbortError('NBD request aborted', { cause: this.signal?.reason }));
  }

  #settle(): void {
    this.settled = true;
    if (this.#onAbort !== null) {
      this.signal!.removeEventListener('abort', this.#onAbort);
      this.#onAbort = null;
    }
  }
}
