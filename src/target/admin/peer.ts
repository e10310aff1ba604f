// Who is at the other end of an admin connection. Node exposes no SO_PEERCRED, so on Linux the kernel
// is asked through sock_diag, as `ss -xp` does: our socket's inode (from /proc/self/fd) gives its peer's
// inode, and the process holding that one gives the pid; /proc/PID gives its uid and gid. Where any step
// is unavailable (not Linux, no `ss`, a process we may not see) the answer says so instead of guessing.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { Socket } from 'node:net';

/** The peer of an admin connection: its process and user, or why they are unknown. */
export type PeerCredentials = { pid: number; uid: number; gid: number; command: string } | { unavailable: string };

const SS_TIMEOUT_MS = 2000;

function ss(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ss', ['-xpnH'], { timeout: SS_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err !== null) reject(err);
      else resolve(stdout);
    });
  });
}

/** The file descriptor of a connected UNIX socket, where libuv exposes it. */
function fdOf(sock: Socket): number | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Finds the peer of `sock` (see the file's header). Never throws. */
export async function peerCredentials(sock: Socket): Promise<PeerCredentials> {
  if (process.platform !== 'linux') return { unavailable: `peer credentials are not available on ${process.platform}` };
  const fd = fdOf(sock);
  if (fd === undefined) return { unavailable: 'the socket has no file descriptor' };
  let inode: string;
  try {
    const link = await fs.readlink(`/proc/self/fd/${fd}`);
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m === null) return { unavailable: `fd ${fd} is not a socket` };
    inode = m[1]!;
  } catch (e) {
    return { unavailable: `cannot read /proc/self/fd: ${(e as Error).message}` };
  }
  let table: string;
  try {
    table = await ss();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { unavailable: code === 'ENOENT' ? 'ss (iproute2) is not installed' : `ss failed: ${(e as Error).message}` };
  }
  // u_str ESTAB 0 0 /path 123 * 124 users:(("tsiscsi",pid=42,fd=3)): local inode, then the peer's.
  const rows = table.split('\n').map((l) => l.trim().split(/\s+/));
  const ours = rows.find((r) => r[0] === 'u_str' && r[5] === inode);
  if (ours === undefined || ours[7] === undefined) return { unavailable: 'the connection is not in the kernel socket table' };
  const theirs = rows.find((r) => r[0] === 'u_str' && r[5] === ours[7]);
  const pid = theirs === undefined ? undefined : /pid=(\d+)/.exec(theirs.slice(8).join(' '))?.[1];
  if (pid === undefined) return { unavailable: 'the peer process is not visible to this user' };
  try {
    const st = await fs.stat(`/proc/${pid}`);
    const command = (await fs.readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    return { pid: Number(pid), uid: st.uid, gid: st.gid, command };
  } catch {
    return { unavailable: `process ${pid} ended before it could be identified` };
  }
}
