// Receive memory for `net.Socket`'s `onread` option: reads land one after another in large arenas,
// so received bytes reach the framer without the Readable stream in between. Either end may use it where
// it creates the socket (`onread` is an option of the net.Socket constructor and of net.connect).

/** Receive memory is handed to the socket from arenas of this size ... */
const ARENA_SIZE = 256 * 1024;
/** ... at least this much at a time (libuv reads up to 64 KiB). */
const READ_MIN = 64 * 1024;

/**
 * Receive buffers for `net.connect({ onread })`: each read lands after the previous one in an arena,
 * so the socket's data reaches the framer without the Readable stream in between. Arenas are never
 * reused: views the framer (and a zero-copy read result) keep stay valid; a view keeps its arena alive.
 */
export class ReadArena {
  #arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
  #off = 0;

  /** The memory the next read lands in: the rest of the current arena, or a fresh one when under READ_MIN is left. */
  next(): Buffer {
    if (this.#arena.length - this.#off < READ_MIN) {
      this.#arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
      this.#off = 0;
    }
    return this.#arena.subarray(this.#off);
  }

  /** Marks `n` bytes of the last {@link next} as filled (the onread callback's byte count). */
  used(n: number): void {
    this.#off += n;
  }
}

