// Event delivery shared by both ends: an async iterable per subscriber and one callback. It never says
// an event is pending and then blocks, nor blocks while one is pending (a reader that is waiting is
// handed the event directly); each subscriber has its own bounded queue, so a slow reader loses the
// oldest events (counted) and never stalls the producer. Callbacks are validated once, at registration.

/**
 * Validates an event name when a listener registers: a misspelt name would silently never fire, and
 * checking once at registration costs nothing per event delivered. EventEmitter's own names and
 * symbols pass.
 */
export function checkEventName(event: string | symbol, known: ReadonlySet<string>): void {
  if (typeof event === 'symbol' || event === 'event' || event === 'newListener' || event === 'removeListener' || event === 'error') return;
  if (!known.has(event)) throw new TypeError(`unknown event ${JSON.stringify(event)}: expected one of ${[...known].join(', ')}, or 'event'`);
}

const DEFAULT_MAX_QUEUED = 1024;

class Subscriber<E> implements AsyncIterableIterator<E> {
  readonly #queue: E[] = [];
  readonly #max: number;
  #waiter: ((r: IteratorResult<E>) => void) | null = null;
  #done = false;
  #onReturn: (s: Subscriber<E>) => void;
  dropped = 0;

  constructor(max: number, onReturn: (s: Subscriber<E>) => void) {
    this.#max = max;
    this.#onReturn = onReturn;
  }

  /** Events queued and not yet read: when > 0, the next `next()` resolves at once. */
  get pending(): number {
    return this.#queue.length;
  }

  push(e: E): void {
    if (this.#done) return;
    const w = this.#waiter;
    if (w !== null) {
      // A reader is waiting only when the queue is empty: hand it over directly.
      this.#waiter = null;
      w({ value: e, done: false });
      return;
    }
    if (this.#queue.length >= this.#max) {
      this.#queue.shift();
      this.dropped++;
    }
    this.#queue.push(e);
  }

  end(): void {
    if (this.#done) return;
    this.#done = true;
    const w = this.#waiter;
    this.#waiter = null;
    w?.({ value: undefined, done: true });
  }

  /** Takes a queued event without waiting, or undefined. */
  tryNext(): E | undefined {
    return this.#queue.shift();
  }

  next(): Promise<IteratorResult<E>> {
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift()!, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== null) return Promise.reject(new Error('next() called again before the previous call resolved'));
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  return(): Promise<IteratorResult<E>> {
    // Events still queued are dropped: the reader said it wants no more.
    this.#queue.length = 0;
    this.end();
    this.#onReturn(this);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<E> {
    return this;
  }
}

/** An async iterator of session events with a non-blocking peek (`pending`, `tryNext`). */
export interface EventIterator<E> extends AsyncIterableIterator<E> {
  readonly pending: number;
  readonly dropped: number;
  tryNext(): E | undefined;
}

/** Fans events out to subscribers and one callback. */
export class EventChannel<E> {
  readonly #subs = new Set<Subscriber<E>>();
  readonly #callback: (e: E) => void;
  readonly #maxQueued: number;
  #closed = false;

  /** @param callback called synchronously for every event (validated here, once). */
  constructor(callback: (e: E) => void, maxQueued = DEFAULT_MAX_QUEUED) {
    if (typeof callback !== 'function') throw new TypeError('event callback must be a function');
    if (!Number.isInteger(maxQueued) || maxQueued < 1) throw new RangeError('maxQueued must be a positive integer');
    this.#callback = callback;
    this.#maxQueued = maxQueued;
  }

  emit(e: E): void {
    if (this.#closed) return;
    for (const s of this.#subs) s.push(e);
    this.#callback(e);
  }

  /** A new iterator receiving every event from now on; it ends when the channel closes. */
  subscribe(): EventIterator<E> {
    const s = new Subscriber<E>(this.#maxQueued, (x) => this.#subs.delete(x));
    if (this.#closed) s.end();
    else this.#subs.add(s);
    return s;
  }

  /** Ends every iterator (after the events already queued are read). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#subs) s.end();
    this.#subs.clear();
  }
}
