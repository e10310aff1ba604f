// R2T bookkeeping for both ends (RFC 7143 §11.8): descriptors live in a preallocated pool, so taking an
// R2T allocates nothing; an issued (target) or received (initiator) R2T is queued until its burst is
// complete or its task ends. The queue is indexed by Target Transfer Tag, which is how a Data-Out finds
// its burst (§11.7.4), and by task, so a task's R2Ts are retired together when it ends. Moves from pool
// to queue happen under `pool2queue`, moves back under `queue2pool`: on the initiator an R2T arrives on
// the response path while its burst is sent and retired on the submit path, and the two guards keep
// either path from seeing a descriptor half moved should the other ever hold one across an await.

import { AsyncMutex } from '../util/mutex.js';

/** One R2T: a burst of Data-Out the target asked for (RFC 7143 §11.8). */
export interface R2TDescriptor {
  /** Owning task's initiator task tag. */
  readonly itt: number;
  /** The Target Transfer Tag the burst's Data-Out PDUs carry (RFC 7143 §11.8.3). */
  readonly ttt: number;
  /** R2TSN (RFC 7143 §11.8.5). */
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

/** What {@link R2TTable.issue} fills a descriptor with; its burst starts with nothing done. */
export type R2TRequest = Omit<R2TDescriptor, 'done' | 'nextDataSN'>;

/** A pool descriptor: the public fields, and the links of the two queue indexes. */
class Slot implements R2TDescriptor {
  itt = 0;
  ttt = 0;
  r2tSN = 0;
  bufferOffset = 0;
  desiredDataTransferLength = 0;
  done = 0;
  nextDataSN = 0;
  owner: unknown = null;
  /** In the queue (between issue and retire). */
  queued = false;
  /**
   * The next queued descriptor with the same TTT, in issue order. RFC 7143 §11.8.3 reserves only
   * 0xffffffff and does not make a target's TTTs unique, so the initiator may hold two at once.
   */
  sameTtt: Slot | null = null;
  /** The next queued descriptor of the same task, in issue order. */
  sameTask: Slot | null = null;
}

/** Ranks for the lock-order check: the two guards are leaves, taken after frwd/back locks. */
export const POOL2QUEUE_RANK = 10;
/** See {@link POOL2QUEUE_RANK}. */
export const QUEUE2POOL_RANK = 11;

/**
 * The R2T descriptors of one connection: a pool of `capacity` and the queue of those in use, indexed
 * by TTT and by task. Every operation is O(1) but for walks along the chains of one TTT or one task,
 * which hold one descriptor, or at most MaxOutstandingR2T (RFC 7143 §13.17).
 */
export class R2TTable {
  readonly #pool: Slot[] = [];
  /** Queued descriptors by TTT: the oldest of each TTT, the others chained on `sameTtt`. */
  readonly #byTtt = new Map<number, Slot>();
  /** Queued descriptors by ITT: the oldest of each task, the others chained on `sameTask`. */
  readonly #byItt = new Map<number, Slot>();
  #outstanding = 0;
  readonly capacity: number;
  readonly pool2queue = new AsyncMutex('pool2queue', POOL2QUEUE_RANK);
  readonly queue2pool = new AsyncMutex('queue2pool', QUEUE2POOL_RANK);
  // The transitions' arguments and results, so that the guarded sections are methods bound once and
  // no closure is made per R2T.
  #request: R2TRequest | null = null;
  #issued: Slot | undefined;
  #retiring: R2TDescriptor | null = null;
  #retiringTask = 0;
  #retired = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`R2T capacity ${capacity} must be a positive integer`);
    this.capacity = capacity;
    for (let i = 0; i < capacity; i++) this.#pool.push(new Slot());
  }

  /** Descriptors free in the pool. */
  get free(): number {
    return this.#pool.length;
  }

  /** Descriptors in the queue (issued or received, burst not complete). */
  get outstanding(): number {
    return this.#outstanding;
  }

  /**
   * Pool → queue: fills a free descriptor and queues it. Returns undefined when the pool is empty
   * (the caller issues the R2T later, when a burst completes).
   * @throws Error when pool2queue is held across an await (the caller must wait for it)
   */
  issue(request: R2TRequest): R2TDescriptor | undefined {
    this.#request = request;
    const ran = this.pool2queue.tryRunSync(this.#poolToQueue);
    const d = this.#issued;
    this.#request = null;
    this.#issued = undefined;
    if (!ran) throw new Error('pool2queue held across an await: R2T issue must wait for it');
    return d;
  }

  /**
   * Queue → pool: the burst is complete, or its task is gone. Idempotent for a descriptor; one that is
   * not queued in this table is left alone.
   * @throws Error when queue2pool is held across an await (the caller must wait for it)
   */
  retire(d: R2TDescriptor): void {
    this.#retiring = d;
    const ran = this.queue2pool.tryRunSync(this.#queueToPool);
    this.#retiring = null;
    if (!ran) throw new Error('queue2pool held across an await: R2T retire must wait for it');
  }

  /** Retires every descriptor of one task (abort, or the task completed). Returns how many. */
  retireTask(itt: number): number {
    if (!this.#byItt.has(itt)) return 0;
    this.#retiringTask = itt;
    const ran = this.queue2pool.tryRunSync(this.#taskToPool);
    const n = this.#retired;
    this.#retired = 0;
    if (!ran) throw new Error('queue2pool held across an await: R2T retire must wait for it');
    return n;
  }

  /** The queued descriptor with this TTT, the oldest if several (target side: Data-Out arrives tagged with it). */
  byTtt(ttt: number): R2TDescriptor | undefined {
    return this.#byTtt.get(ttt);
  }

  /** Oldest queued descriptor of a task, for the sender of Data-Out (initiator side). */
  nextFor(itt: number): R2TDescriptor | undefined {
    return this.#byItt.get(itt);
  }

  /** Queued descriptors of one task, oldest first. */
  ofTask(itt: number): R2TDescriptor[] {
    const out: R2TDescriptor[] = [];
    for (let d = this.#byItt.get(itt) ?? null; d !== null; d = d.sameTask) out.push(d);
    return out;
  }

  /** Pool → queue, under pool2queue: a free descriptor takes `#request` and joins both indexes. */
  readonly #poolToQueue = (): void => {
    const d = this.#pool.pop();
    this.#issued = d;
    if (d === undefined) return;
    const r = this.#request!;
    d.itt = r.itt;
    d.ttt = r.ttt;
    d.r2tSN = r.r2tSN;
    d.bufferOffset = r.bufferOffset;
    d.desiredDataTransferLength = r.desiredDataTransferLength;
    d.owner = r.owner;
    d.done = 0;
    d.nextDataSN = 0;
    d.queued = true;
    const sameTtt = this.#byTtt.get(d.ttt);
    if (sameTtt === undefined) this.#byTtt.set(d.ttt, d);
    else {
      let last = sameTtt;
      while (last.sameTtt !== null) last = last.sameTtt;
      last.sameTtt = d;
    }
    const sameTask = this.#byItt.get(d.itt);
    if (sameTask === undefined) this.#byItt.set(d.itt, d);
    else {
      let last = sameTask;
      while (last.sameTask !== null) last = last.sameTask;
      last.sameTask = d;
    }
    this.#outstanding++;
  };

  /** Queue → pool, under queue2pool: `#retiring` leaves both indexes, if queued here. */
  readonly #queueToPool = (): void => {
    const d = this.#retiring as Slot;
    if (d.queued === true) this.#unqueue(d);
  };

  /** Queue → pool, under queue2pool: every descriptor of task `#retiringTask`, counted in `#retired`. */
  readonly #taskToPool = (): void => {
    let n = 0;
    for (let d = this.#byItt.get(this.#retiringTask) ?? null; d !== null; ) {
      const next = d.sameTask;
      if (this.#unqueue(d)) n++;
      d = next;
    }
    this.#retired = n;
  };

  /** Takes a queued descriptor out of both indexes and back to the pool; false if it is not in this table. */
  #unqueue(d: Slot): boolean {
    const firstOfTtt = this.#byTtt.get(d.ttt);
    if (firstOfTtt === d) {
      if (d.sameTtt === null) this.#byTtt.delete(d.ttt);
      else this.#byTtt.set(d.ttt, d.sameTtt);
    } else {
      let prev = firstOfTtt;
      while (prev !== undefined && prev.sameTtt !== d) prev = prev.sameTtt ?? undefined;
      if (prev === undefined) return false; // queued in another table
      prev.sameTtt = d.sameTtt;
    }
    const firstOfTask = this.#byItt.get(d.itt)!;
    if (firstOfTask === d) {
      if (d.sameTask === null) this.#byItt.delete(d.itt);
      else this.#byItt.set(d.itt, d.sameTask);
    } else {
      let prev = firstOfTask;
      while (prev.sameTask !== d) prev = prev.sameTask!;
      prev.sameTask = d.sameTask;
    }
    d.sameTtt = null;
    d.sameTask = null;
    d.queued = false;
    d.owner = null;
    this.#pool.push(d);
    this.#outstanding--;
    return true;
  }
}
