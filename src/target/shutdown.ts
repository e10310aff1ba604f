// The target's orderly shutdown, each wait bounded: stop accepting, ask every initiator to log out
// (RFC 7143 §11.9.1, AsyncEvent 1) so that commands in flight are answered, close what is left, then
// flush and close the backends so that every acknowledged write reaches stable storage.

import type { Server } from 'node:net';
import type { Logger } from 'pino';
import type { TargetConnection } from './connection.js';
import type { TargetNode } from './target-node.js';

/** What a shutdown (TargetServer.close) found: whether everything ended within its bounds. */
export interface CloseSummary {
  /** Every connection and backend closed within the time allowed, every flush succeeded. */
  clean: boolean;
  /** Sessions that logged out when asked, and those closed by force after the grace period. */
  loggedOut: number;
  forced: number;
  /** Problems met (a flush that failed, a backend that did not close in time). */
  problems: string[];
}

/** How long each step of a shutdown may take (ms). */
export interface ShutdownOptions {
  /** For the initiators to log out. Default 5 s. */
  graceMs?: number;
  /** For a closing connection's aborted commands to end. Default 2 s. */
  abortWaitMs?: number;
  /** For each backend's flush, and for each target's backends to close. Default 5 s. */
  backendWaitMs?: number;
}

/** What a shutdown acts on. */
export interface ShutdownScope {
  /** The listeners, closed first so that no connection is accepted. */
  readonly listeners: readonly Server[];
  /** Connections serving a session, asked to log out. */
  sessionConnections(): TargetConnection[];
  /** Every connection, logged in or not, closed after the grace period. */
  connections(): TargetConnection[];
  targets(): Iterable<TargetNode>;
  readonly log: Logger;
}

/**
 * Shuts down, in this order, each wait bounded:
 * 1. stop accepting connections (the caller refuses logins already);
 * 2. ask every initiator to log out (Async Message, RFC 7143 §11.9.1) and wait up to `graceMs` for
 *    them: a logout completes once its running commands are answered;
 * 3. close what is left (its commands aborted; each connection waits up to `abortWaitMs` for them);
 * 4. flush every backend (what was acknowledged reaches stable storage), then close them, waiting up
 *    to `backendWaitMs` for those that hang.
 */
export async function shutdown(scope: ShutdownScope, opts: ShutdownOptions): Promise<CloseSummary> {
  const grace = opts.graceMs ?? 5000;
  const problems: string[] = [];
  // net.Server#close stops accepting at once but calls back only once every connection has ended:
  // waiting for it here would wait for the initiators to leave by themselves (iscsi-perf: the whole run).
  const listenersClosed = Promise.all(scope.listeners.map((s) => new Promise<void>((r) => s.close(() => r()))));
  const loggedOut = await askLogout(scope.sessionConnections(), grace);
  const left = scope.connections();
  const abortWaitMs = opts.abortWaitMs ?? 2000;
  await Promise.all(left.map((c) => c.close('target shutting down', { abortWaitMs })));
  const forced = left.filter((c) => c.session !== undefined && c.closeReason === 'target shutting down').length;
  await listenersClosed;
  const backendWait = opts.backendWaitMs ?? 5000;
  for (const t of scope.targets()) {
    // Everything acknowledged reaches stable storage before the backends close.
    for (const l of t.device.luns()) {
      const lu = t.device.get(l);
      if (lu === undefined) continue;
      const r = await bounded(lu.backend.flush(), backendWait);
      if (r !== 'done') {
        const why = r === 'timeout' ? `flush of ${t.name} LUN ${l} took over ${backendWait} ms` : `flush of ${t.name} LUN ${l} failed: ${r.message}`;
        problems.push(why);
        scope.log.error({ target: t.name, lun: l, err: r === 'timeout' ? undefined : r }, why);
      }
    }
    const r = await bounded(t.device.close(), backendWait);
    if (r !== 'done') {
      const why = r === 'timeout' ? `backends of ${t.name} did not close within ${backendWait} ms` : `closing the backends of ${t.name} failed: ${r.message}`;
      problems.push(why);
      scope.log.error({ target: t.name }, why);
    }
  }
  const summary: CloseSummary = { clean: problems.length === 0, loggedOut, forced, problems };
  scope.log.info({ loggedOut, forced, clean: summary.clean }, 'target stopped');
  return summary;
}

/** Asks these connections' initiators to log out and waits up to `graceMs`; resolves how many did. */
export async function askLogout(conns: readonly TargetConnection[], graceMs: number): Promise<number> {
  const live = conns.filter((c) => c.state !== 'closed' && c.state !== 'closing');
  if (live.length === 0) return 0;
  for (const c of live) c.requestLogout(Math.max(1, Math.ceil(graceMs / 1000)));
  let loggedOut = 0;
  const all = Promise.all(live.map((c) => c.closed.then(() => void (c.closeReason === 'logged out' && loggedOut++))));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  return loggedOut;
}

/** Waits for `p` at most `ms`: 'done', 'timeout', or the error it failed with. The timer never outlives the wait. */
async function bounded(p: Promise<unknown>, ms: number): Promise<'done' | 'timeout' | Error> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then(
        () => 'done' as const,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      ),
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
