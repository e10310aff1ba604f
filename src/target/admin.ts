// The admin socket: a UNIX socket speaking one JSON request and one JSON answer per line, for
// `tsiscsi admin` (LUNs added and removed at runtime, sessions listed and dropped).

import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { openBackend } from '../backend/spec.js';
import { parseSize } from '../util/size.js';
import { MAX_LUN } from '../pdu/lun.js';
import type { TargetServer } from './server.js';

export type AdminRequest =
  | { cmd: 'lun-list'; target?: string }
  | { cmd: 'lun-add'; lun: number; spec: string; target?: string }
  | { cmd: 'lun-remove'; lun: number; target?: string }
  | { cmd: 'lun-resize'; lun: number; size: string; target?: string }
  | { cmd: 'session-list' }
  | { cmd: 'session-drop'; id: number; graceMs?: number };

export type AdminAnswer = { ok: true; result: unknown } | { ok: false; error: string };

/** Runs one admin request against the server. */
export async function runAdmin(server: TargetServer, req: AdminRequest): Promise<AdminAnswer> {
  const pick = (name: string | undefined) => {
    const all = server.targets();
    const t = name === undefined ? (all.length === 1 ? all[0] : undefined) : server.target(name);
    if (t === undefined) throw new Error(name === undefined ? 'several targets: name one with --target' : `no target ${name}`);
    return t;
  };
  try {
    switch (req.cmd) {
      case 'lun-list': {
        const out = [];
        for (const t of name2targets(server, req.target)) {
          for (const lun of t.device.luns()) {
            const lu = t.device.get(lun)!;
            out.push({ target: t.name, lun, state: 'serving', blocks: lu.blocks, blockSize: lu.blockSize, bytes: lu.blocks * lu.blockSize, readOnly: lu.readOnly, inFlight: lu.inFlight });
          }
          // A LUN whose removal is under way: out of the inventory, its last commands still finishing.
          for (const lun of t.device.removing) out.push({ target: t.name, lun, state: 'removing' });
        }
        return { ok: true, result: out };
      }
      case 'lun-add': {
        if (!Number.isInteger(req.lun) || req.lun < 0 || req.lun > MAX_LUN) throw new Error(`LUN ${req.lun} is outside 0..${MAX_LUN}`);
        const t = pick(req.target);
        if (t.device.get(req.lun) !== undefined) throw new Error(`LUN ${req.lun} already exists on ${t.name}`);
        const backend = await openBackend(req.spec);
        try {
          t.addLun(req.lun, backend);
        } catch (e) {
          await backend.close();
          throw e;
        }
        return { ok: true, result: { target: t.name, lun: req.lun, blocks: backend.blocks, blockSize: backend.blockSize } };
      }
      case 'lun-remove': {
        // Answers once the three steps are done (seed 003): the LUN refuses new work at once, what was
        // in flight is answered, the backend is closed, the LU's state reset.
        const t = pick(req.target);
        const removed = await t.removeLun(req.lun);
        if (!removed) throw new Error(`no LUN ${req.lun} on ${t.name}`);
        return { ok: true, result: { target: t.name, lun: req.lun, removed: true } };
      }
      case 'lun-resize': {
        const t = pick(req.target);
        const lu = t.device.get(req.lun);
        if (lu === undefined) throw new Error(`no LUN ${req.lun} on ${t.name}`);
        const bytes = parseSize(req.size);
        if (bytes % lu.blockSize !== 0) throw new Error(`${req.size} is not a multiple of the ${lu.blockSize}-byte block`);
        await server.resizeLun(t.name, req.lun, bytes / lu.blockSize);
        return { ok: true, result: { target: t.name, lun: req.lun, blocks: bytes / lu.blockSize, bytes } };
      }
      case 'session-list':
        return { ok: true, result: server.sessions() };
      case 'session-drop': {
        if (req.graceMs !== undefined && (!Number.isInteger(req.graceMs) || req.graceMs < 0)) throw new Error(`grace ${req.graceMs} ms is not a whole number of ms`);
        const r = await server.dropSession(req.id, req.graceMs === undefined ? {} : { graceMs: req.graceMs });
        if (!r.found) throw new Error(`no session ${req.id}`);
        return { ok: true, result: { id: req.id, dropped: true, loggedOut: r.loggedOut } };
      }
      default:
        throw new Error(`unknown admin command ${(req as { cmd: string }).cmd}`);
    }
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

function name2targets(server: TargetServer, name: string | undefined) {
  if (name === undefined) return server.targets();
  const t = server.target(name);
  if (t === undefined) throw new Error(`no target ${name}`);
  return [t];
}

/**
 * Serves the admin socket at `path` for `server`, or for an executor that runs each request (a target
 * with workers routes them to its processes: workers/admin-routing.ts).
 */
export async function startAdminSocket(
  server: TargetServer | ((req: AdminRequest) => Promise<AdminAnswer>),
  path: string,
  log: Logger,
): Promise<{ close(): Promise<void> }> {
  const run = typeof server === 'function' ? server : (req: AdminRequest) => runAdmin(server, req);
  // A stale socket file from a crashed run would make listen fail.
  rmSync(path, { force: true });
  const clients = new Set<Socket>();
  const srv: Server = createServer((sock: Socket) => {
    clients.add(sock);
    sock.once('close', () => clients.delete(sock));
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > 65536) {
        sock.destroy();
        return;
      }
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let req: AdminRequest;
        try {
          req = JSON.parse(line) as AdminRequest;
        } catch {
          sock.write(JSON.stringify({ ok: false, error: 'not JSON' }) + '\n');
          continue;
        }
        void run(req).then((a) => {
          log.info({ admin: req.cmd, ok: a.ok }, 'admin request');
          if (!sock.destroyed) sock.write(JSON.stringify(a) + '\n');
        });
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(path, () => resolve());
  });
  log.info({ path }, 'admin socket listening');
  return {
    // Stops accepting and hangs up on clients still connected (an answer still being worked out is lost).
    close: () =>
      new Promise<void>((r) => {
        srv.close(() => {
          rmSync(path, { force: true });
          r();
        });
        for (const c of clients) c.destroy();
      }),
  };
}
