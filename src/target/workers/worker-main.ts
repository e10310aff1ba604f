// A worker process of a target with workers (pool.ts): it serves its share of the targets on sockets the
// main process hands over, end to end (reads, writes, SCSI, backends), and answers the main process's
// calls (messages.ts). Signals are the main process's to act on; if the main process goes away, the
// worker closes its sessions and exits rather than serve on unsupervised.

import type { Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { executeVerb } from '../admin/commands.js';
import { ExportPolicy } from '../admin/paths.js';
import { buildServer } from '../config/build.js';
import type { TargetServer } from '../server.js';
import { forgetTarget, knowTarget } from './known-targets.js';
import { restoreFirstBytes } from './handoff.js';
import { sessionIdsOf, type CallMessage, type FromWorker, type ToWorker, type WorkerCalls, type WorkerInit } from './messages.js';

/** How long the sessions of a worker whose main process vanished get to log out. */
const ORPHAN_GRACE_MS = 1000;

let server: TargetServer | undefined;
let exports: ExportPolicy | undefined;
let log: Logger | undefined;

function send(m: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });
}

async function start(init: WorkerInit): Promise<void> {
  log = pino({ level: init.logLevel, base: { worker: init.slot, pid: process.pid } }, pino.destination(2));
  try {
    server = await buildServer(
      init.config,
      log,
      { sessionIds: sessionIdsOf(init.slot, init.slots, init.generation), counting: init.counting, ...(init.lunEvents !== undefined && { lunEvents: init.lunEvents }) },
      { serve: new Set(init.serve) },
    );
  } catch (e) {
    await send({ type: 'failed', message: (e as Error).message });
    process.exit(1);
  }
  server.bound = init.portals;
  exports = new ExportPolicy(init.config.allowedPaths);
  await send({ type: 'ready' });
}

const calls: { [K in keyof WorkerCalls]: (s: TargetServer, request: WorkerCalls[K]['request']) => Promise<WorkerCalls[K]['answer']> } = {
  verb: (s, req) => {
    const l = log!;
    return executeVerb({ server: s, config: undefined, exports: exports!, stats: () => s.stats(), log: l }, req);
  },
  'know-target': async (s, t) => knowTarget(s, t, log!),
  'forget-target': async (s, iqn) => forgetTarget(s, iqn),
  shutdown: (s, opts) => s.close(opts),
};

async function answer(m: CallMessage): Promise<void> {
  const s = server;
  if (s === undefined) return send({ type: 'answer', seq: m.seq, ok: false, error: 'the worker is not started' });
  try {
    // The table's row for m.name takes m.request: TypeScript cannot correlate the two through the union.
    const handler = calls[m.name] as (s: TargetServer, r: CallMessage['request']) => Promise<WorkerCalls[typeof m.name]['answer']>;
    await send({ type: 'answer', seq: m.seq, ok: true, answer: await handler(s, m.request) });
  } catch (e) {
    await send({ type: 'answer', seq: m.seq, ok: false, error: (e as Error).message });
  }
  if (m.name === 'shutdown') process.exit(0);
}

process.on('message', (m: ToWorker, handle: unknown) => {
  switch (m.type) {
    case 'init':
      void start(m.init);
      return;
    case 'connection': {
      // The connection may have closed on its way here: Node then delivers no handle.
      const socket = handle as Socket | undefined;
      if (socket === undefined) return;
      if (server === undefined) return void socket.destroy();
      server.adopt(restoreFirstBytes(socket, m.first));
      return;
    }
    case 'call':
      void answer(m);
      return;
  }
});

// A terminal's Ctrl-C reaches the whole process group: the main process orders the shutdown.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('disconnect', () => {
  void (server?.close({ graceMs: ORPHAN_GRACE_MS, abortWaitMs: ORPHAN_GRACE_MS, backendWaitMs: 3000 }) ?? Promise.resolve()).then(() => process.exit(1));
});
