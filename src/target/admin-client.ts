// The client side of the admin socket (admin.ts): one JSON request, one JSON answer, over a UNIX socket.

import { createConnection } from 'node:net';
import type { AdminAnswer, AdminRequest } from './admin.js';

/** Sends one request to a running target's admin socket at `path` and resolves with its answer. */
export function adminRequest(path: string, req: AdminRequest): Promise<AdminAnswer> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let buf = '';
    s.setEncoding('utf8');
    s.once('error', (e) => reject(new Error(`cannot reach the admin socket ${path}: ${e.message}`)));
    s.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) {
        s.end();
        resolve(JSON.parse(buf.slice(0, i)) as AdminAnswer);
      }
    });
    s.on('connect', () => s.write(JSON.stringify(req) + '\n'));
  });
}
