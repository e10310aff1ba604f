// Session events (Async Messages, unit attentions, connection changes) delivered two ways: an async
// iterable per subscriber and a callback (the Session's EventEmitter). Seed 004: delivery never says an
// event is pending and then blocks, nor blocks while one is pending. Each subscriber has its own bounded
// queue: a slow reader loses the oldest events (counted), never stalls the session.

import type { ParsedSense } from '../../scsi/sense.js';

/** Something the session reports that is not the answer to a command. */
export type SessionEvent =
  | { type: 'unit-attention'; lun: number | undefined; senseKey: number; asc: number; ascq: number; ascName: string; sense: Buffer }
  | { type: 'scsi-async-event'; lun: number | undefined; sense: ParsedSense | undefined; raw: Buffer }
  | { type: 'logout-requested'; time2Wait: number; time2Retain: number; within: number }
  | { type: 'connection-drop-requested'; time2Wait: number; time2Retain: number; cid: number }
  | { type: 'session-drop-requested'; time2Wait: number; time2Retain: number }
  | { type: 'renegotiate-requested'; within: number }
  | { type: 'vendor-async-event'; code: number; data: Buffer }
  | { type: 'connection-lost'; reason: string; error: Error }
  | { type: 'reconnected'; attempt: number; downMs: number }
  | { type: 'session-lost'; error: Error }
  | { type: 'protocol-error'; error: Error }
  /** The session is closed (by close(), or a failed connect): the last event, then iterators end. */
  | { type: 'closed'; error: Error };

/** The names of {@link SessionEvent} types. */
export type SessionEventType = SessionEvent['type'];

/** Every {@link SessionEventType}, for checking names at registration. */
export const SESSION_EVENT_TYPES: ReadonlySet<string> = new Set<SessionEventType>([
  'unit-attention',
  'scsi-async-event',
  'logout-requested',
  'connection-drop-requested',
  'session-drop-requested',
  'renegotiate-requested',
  'vendor-async-event',
  'connection-lost',
  'reconnected',
  'session-lost',
  'protocol-error',
  'closed',
]);

/**
 * Validates an event name when a listener registers (seed 004: check once, at registration): a
 * misspelt name would silently never fire. EventEmitter's own names and symbols pass.
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
