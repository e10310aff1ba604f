// The admin socket: a UNIX socket speaking one JSON request and one JSON answer per line, for
// `tsiscsi admin`. It can add LUNs (open files) as the target's user, often root, so it is guarded as
// the iSCSI port is: created owner-only (0600) whatever the umask, or 0660 for one group; refused in a
// directory anyone may replace it in; every request bounded (line length, nesting, connections, idle
// time, answers a client does not read); every change logged with the peer's uid and pid.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { TsiscsiError } from '../../errors.js';
import { adminCommandMutates, runAdmin, type AdminAnswer, type AdminContext } from './commands.js';
import { peerCredentials, type PeerCredentials } from './peer.js';

/** Bounds of the admin socket. */
export const ADMIN_LIMITS = {
  /** Bytes of one request line. */
  maxLineBytes: 64 * 1024,
  /** Nesting of arrays and objects in a request. */
  maxDepth: 16,
  /** Connections at once; the longest idle one makes room for a new one. */
  maxConnections: 16,
  /** A connection with no request for this long is closed (ms). */
  idleTimeoutMs: 60_000,
  /** Requests read ahead of their answers on one connection. */
  maxQueued: 8,
  /** Answer bytes a client may leave unread before the connection stops being read. */
  maxUnread: 1024 * 1024,
} as const;

/** The admin socket could not be created safely. */
export class AdminSocketError extends TsiscsiError {
  constructor(message: string) {
    super('ERR_ADMIN_SOCKET', message);
    this.name = 'AdminSocketError';
  }
}

/** How the admin socket is created. */
export interface AdminSocketOptions {
  path: string;
  /** A group (name or gid) whose members may use the socket: mode 0660 and that group. */
  group?: string;
  log: Logger;
}

/** A running admin socket. */
export interface AdminSocket {
  readonly path: string;
  /** Stops accepting and hangs up on clients still connected (an answer still being worked out is lost). */
  close(): Promise<void>;
}

/** The gid of a group given by name or number (NSS through getent, then /etc/group). */
export function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  try {
    const line = execFileSync('getent', ['group', group], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
    const gid = Number(line.split(':')[2]);
    if (Number.isInteger(gid)) return gid;
  } catch {
    // getent missing or the group unknown to NSS: /etc/group decides.
  }
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === group && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  throw new AdminSocketError(`--admin-group: no group named ${group}`);
}

/** Refuses a directory where another user could remove or replace the socket (world-writable, no sticky bit). */
function checkDirectory(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new AdminSocketError(`admin socket directory ${dir}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new AdminSocketError(`admin socket directory ${dir} is not a directory`);
  if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) {
    throw new AdminSocketError(`admin socket directory ${dir} is world-writable without the sticky bit: anyone could replace the socket (use a directory such as /run/tsiscsi)`);
  }
}

/** Removes a socket left by a crashed run; anything else at the path is left alone and refused. */
function removeStale(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new AdminSocketError(`admin socket ${path}: ${(e as Error).message}`);
  }
  if (!st.isSocket()) throw new AdminSocketError(`admin socket ${path} exists and is not a socket: remove it or choose another path`);
  rmSync(path, { force: true });
}

/** Nesting depth of a JSON text, without parsing it (strings skipped): refuses a bomb before JSON.parse sees it. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

function peerText(p: PeerCredentials): Record<string, unknown> {
  return 'unavailable' in p ? { peer: `unknown (${p.unavailable})` } : { peerUid: p.uid, peerGid: p.gid, peerPid: p.pid, peerCommand: p.command };
}

/** Runs one request (checked or not) to its answer, never rejecting: a target with workers routes it (workers/admin-routing.ts). */
export type AdminExecutor = (req: unknown) => Promise<AdminAnswer>;

/**
 * Starts the admin socket (see the file's header) for the server of `ctx`, or for an executor that
 * answers each request.
 */
export async function startAdminSocket(ctx: AdminContext | AdminExecutor, opts: AdminSocketOptions): Promise<AdminSocket> {
  const run: AdminExecutor = typeof ctx === 'function' ? ctx : (req) => runAdmin(ctx, req);
  const { path, log } = opts;
  const gid = opts.group === undefined ? undefined : groupId(opts.group);
  checkDirectory(dirname(path));
  removeStale(path);
  const mode = gid === undefined ? 0o600 : 0o660;
  /** Open connections in arrival order, and whether each has a request under way. */
  const clients = new Map<Socket, { busy: number }>();

  const serve = (sock: Socket): void => {
    const state = { busy: 0 };
    clients.set(sock, state);
    sock.once('close', () => clients.delete(sock));
    if (clients.size > ADMIN_LIMITS.maxConnections) {
      // The connection idle longest makes room (a Map iterates in arrival order); if all are busy, the new one goes.
      const idle = [...clients].find(([s, st]) => s !== sock && st.busy === 0)?.[0];
      const victim = idle ?? sock;
      if (!victim.destroyed) victim.end(`${JSON.stringify({ ok: false, error: 'too many admin connections: this one was closed' })}\n`);
      victim.destroy();
      if (victim === sock) return;
    }
    sock.setTimeout(ADMIN_LIMITS.idleTimeoutMs, () => sock.destroy());
    let peer: Promise<PeerCredentials> | undefined;
    let chunks: Buffer[] = [];
    let buffered = 0;
    let queue: Promise<void> = Promise.resolve();
    const answer = (a: AdminAnswer): void => {
      if (sock.destroyed) return;
      sock.write(`${JSON.stringify(a)}\n`);
      // A client that does not read its answers stops being read.
      if (sock.writableLength > ADMIN_LIMITS.maxUnread) {
        sock.pause();
        sock.once('drain', () => sock.resume());
      }
    };
    let refused = false;
    const refuse = (error: string): void => {
      if (refused) return;
      refused = true;
      answer({ ok: false, error });
      // The answer goes out, then the connection: whatever the client still sends is not read.
      sock.pause();
      sock.end(() => sock.destroy());
    };
    const line = (text: string): void => {
      if (text.trim() === '') return;
      if (jsonDepth(text) > ADMIN_LIMITS.maxDepth) return answer({ ok: false, error: `request nested deeper than ${ADMIN_LIMITS.maxDepth} levels` });
      let req: unknown;
      try {
        req = JSON.parse(text);
      } catch {
        return answer({ ok: false, error: 'not JSON: send one JSON object per line' });
      }
      if (state.busy >= ADMIN_LIMITS.maxQueued) return refuse(`more than ${ADMIN_LIMITS.maxQueued} requests waiting for their answers`);
      state.busy++;
      const cmd = typeof req === 'object' && req !== null ? String((req as { cmd?: unknown }).cmd) : '?';
      const mutates = adminCommandMutates(cmd);
      // Who asked is looked up once per connection, and only for changes (it costs a look at the socket table).
      if (mutates) peer ??= peerCredentials(sock);
      queue = queue.then(async () => {
        const a = await run(req);
        if (mutates) {
          const who = peerText(await peer!);
          if (a.ok) log.info({ admin: cmd, ...who, ...(a.warning !== undefined && { warning: a.warning }) }, 'admin change');
          else log.warn({ admin: cmd, ...who, error: a.error }, 'admin change refused');
        } else log.debug({ admin: cmd, ok: a.ok }, 'admin request');
        state.busy--;
        answer(a);
      });
    };
    sock.on('data', (d: Buffer) => {
      if (refused) return;
      let start = 0;
      for (let i = d.indexOf(0x0a); i >= 0; i = d.indexOf(0x0a, start)) {
        const piece = d.subarray(start, i);
        start = i + 1;
        if (buffered + piece.length > ADMIN_LIMITS.maxLineBytes) return refuse(`request line longer than ${ADMIN_LIMITS.maxLineBytes} bytes`);
        const text = (chunks.length === 0 ? piece : Buffer.concat([...chunks, piece])).toString('utf8');
        chunks = [];
        buffered = 0;
        line(text);
        if (refused || sock.destroyed) return;
      }
      const rest = d.subarray(start);
      buffered += rest.length;
      if (buffered > ADMIN_LIMITS.maxLineBytes) return refuse(`request line longer than ${ADMIN_LIMITS.maxLineBytes} bytes`);
      if (rest.length > 0) chunks.push(rest);
    });
    sock.on('error', () => {});
  };

  const srv: Server = createServer(serve);
  await new Promise<void>((resolve, reject) => {
    srv.once('error', (e) => reject(new AdminSocketError(`admin socket ${path}: ${e.message}`)));
    // bind(2) happens inside listen(), synchronously: with this umask the socket is never, even for an
    // instant, wider than owner-only; the chmod below then states the final mode exactly.
    const old = process.umask(0o177);
    try {
      srv.listen(path, () => resolve());
    } finally {
      process.umask(old);
    }
  });
  try {
    if (gid !== undefined) chownSync(path, -1, gid);
    chmodSync(path, mode);
  } catch (e) {
    srv.close();
    throw new AdminSocketError(`admin socket ${path}: ${(e as Error).message}`);
  }
  srv.on('error', (err) => log.error({ err }, 'admin socket error'));
  log.info({ path, mode: mode.toString(8), ...(gid !== undefined && { gid }) }, 'admin socket listening');
  return {
    path,
    close: () =>
      new Promise<void>((r) => {
        srv.close(() => {
          rmSync(path, { force: true });
          r();
        });
        for (const c of clients.keys()) c.destroy();
      }),
  };
}
