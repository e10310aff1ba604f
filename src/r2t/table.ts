// R2T bookkeeping (seed 001): descriptors live in a preallocated pool; an issued (target) or received
// (initiator) R2T sits in a queue until its burst is complete or its task is aborted. Moves from pool to
// queue happen under `pool2queue`, moves back under `queue2pool`, so the path that issues R2Ts and the
// path that retires them never tear a descriptor between them.

import { AsyncMutex } from '../util/mutex.js';

/** One R2T: a burst of Data-Out the target asked for (RFC 7143 §11.8). */
export interface R2TDescriptor {
  /** Owning task's initiator task tag. */
  itt: number;
  ttt: number;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
  /** Bytes of this burst received (target) or sent (initiator) so far. */
  done: number;
  /** DataSN expected (target) or to send (initiator) next within this burst (RFC 7143 §11.7.4). */
  nextDataSN: number;
  /** Free-form link for the owner (the task). */
  owner: unknown;
}

function blank(): R2TDescriptor {
  return { itt: 0, ttt: 0, r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 0, done: 0, nextDataSN: 0, owner: null };
}

/** Ranks for the lock-order check: the two guards are leaves, taken after frwd/back locks. */
export const POOL2QUEUE_RANK = 10;
export const QUEUE2POOL_RANK = 11;

export class R2TTable {
  readonly #pool: R2TDescriptor[] = [];
  readonly #queue: R2TDescriptor[] = [];
  readonly capacity: number;
  readonly pool2queue = new AsyncMutex('pool2queue', POOL2QUEUE_RANK);
  readonly queue2pool = new AsyncMutex('queue2pool', QUEUE2POOL_RANK);

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`R2T capacity ${capacity} must be a positive integer`);
    this.capacity = capacity;
    for (let i = 0; i < capacity; i++) this.#pool.push(blank());
  }

  /** Descriptors free in the pool. */
  get free(): number {
    return this.#pool.length;
  }

  /** Descriptors in the queue (issued or received, burst not complete). */
  get outstanding(): number {
    return this.#queue.length;
  }

  /**
   * Pool → queue: fills a free descriptor and queues it. Returns undefined when the pool is empty
   * (the caller issues the R2T later, when a burst completes).
   */
  issue(fill: Omit<R2TDescriptor, 'done' | 'nextDataSN'>): R2TDescriptor | undefined {
    let d: R2TDescriptor | undefined;
    const ran = this.pool2queue.tryRunSync(() => {
      d = this.#pool.pop();
      if (d === undefined) return;
      Object.assign(d, fill);
      d.done = 0;
      d.nextDataSN = 0;
      this.#queue.push(d);
    });
    if (!ran) throw new Error('pool2queue held across an await: R2T issue must wait for it');
    return d;
  }

  /** Queue → pool: the burst is complete, or its task is gone. Idempotent for a descriptor. */
  retire(d: R2TDescriptor): void {
    const ran = this.queue2pool.tryRunSync(() => {
      const i = this.#queue.indexOf(d);
      if (i < 0) return;
      this.#queue.splice(i, 1);
      d.owner = null;
      this.#pool.push(d);
    });
    if (!ran) throw new Error('queue2pool held across an await: R2T retire must wait for it');
  }

  /** Retires every descriptor of one task (abort, or the task completed). Returns how many. */
  retireTask(itt: number): number {
    let n = 0;
    for (const d of this.#queue.filter((q) => q.itt === itt)) {
      this.retire(d);
      n++;
    }
    return n;
  }

  /** The queued descriptor with this TTT (target side: Data-Out arrives tagged with it). */
  byTtt(ttt: number): R2TDescriptor | undefined {
    for (const d of this.#queue) if (d.ttt === ttt) return d;
    return undefined;
  }

  /** Oldest queued descriptor of a task, for the sender of Data-Out (initiator side). */
  nextFor(itt: number): R2TDescriptor | undefined {
    for (const d of this.#queue) if (d.itt === itt) return d;
    return undefined;
  }

  /** Queued descriptors of one task. */
  ofTask(itt: number): R2TDescriptor[] {
    return this.#queue.filter((d) => d.itt === itt);
  }
}
