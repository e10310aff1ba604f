// The clock of the latency counters: read at most once per run of the event loop's queues. On a VM
// (kvm-clock) one performance.now() costs about 250 ns, a few percent of a 4 KiB command's whole CPU
// budget when read twice per command; the commands admitted or answered in one turn (a socket read, a
// batch of completions) share one reading instead. Latency is thus known to within one turn of the
// loop, which is also the finest grain at which the target can act on a command.

let now = 0;
let fresh = false;

function expire(): void {
  fresh = false;
}

/** performance.now(), read once per turn of the event loop (see the file's header). */
export function turnClockMs(): number {
  if (!fresh) {
    now = performance.now();
    fresh = true;
    // process.nextTick callbacks run once the current macrotask's code and its microtasks are done.
    process.nextTick(expire);
  }
  return now;
}
