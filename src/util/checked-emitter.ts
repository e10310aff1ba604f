// An EventEmitter that refuses a listener for an event name it will never emit: a misspelt name would
// otherwise register silently and never fire. Names are checked once, at registration, not on every
// emit. Both ends' public objects (the initiator's Session, the TargetServer) extend it.

import { EventEmitter } from 'node:events';
import { checkEventName } from './event-channel.js';

/** An EventEmitter of events `E` (each with a `type`), emitted under their type and as 'event'. */
export class CheckedEventEmitter<E extends { type: string }> extends EventEmitter {
  readonly #known: ReadonlySet<string>;

  /** @param known every event type this emitter emits (besides 'event', 'error' and Node's own). */
  constructor(known: ReadonlySet<string>) {
    super();
    this.#known = known;
  }

  override on(event: E['type'] | 'event', listener: (e: E) => void): this;
  override on(event: string | symbol, listener: (...args: unknown[]) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    checkEventName(event, this.#known);
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override once(event: E['type'] | 'event', listener: (e: E) => void): this;
  override once(event: string | symbol, listener: (...args: unknown[]) => void): this;
  override once(event: string | symbol, listener: (...args: never[]) => void): this {
    checkEventName(event, this.#known);
    return super.once(event, listener as (...args: unknown[]) => void);
  }

  override addListener(event: string | symbol, listener: (...args: never[]) => void): this {
    checkEventName(event, this.#known);
    return super.addListener(event, listener as (...args: unknown[]) => void);
  }

  override prependListener(event: string | symbol, listener: (...args: never[]) => void): this {
    checkEventName(event, this.#known);
    return super.prependListener(event, listener as (...args: unknown[]) => void);
  }

  override prependOnceListener(event: string | symbol, listener: (...args: never[]) => void): this {
    checkEventName(event, this.#known);
    return super.prependOnceListener(event, listener as (...args: unknown[]) => void);
  }
}
