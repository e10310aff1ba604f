// The client side of the admin socket (socket.ts): JSON requests, one JSON answer per line, over a UNIX
// socket. One request per connection (adminRequest), or a connection kept for several (AdminClient,
// what `admin top` polls through).

import { createConnection, type Socket } from 'node:net';
import type { AdminAnswer, AdminRequest } from './commands.js';

/** A connection to an admin socket, answering requests in order. */
export class AdminClient {
  readonly #sock: Socket;
  readonly #waiting: { resolve(a: AdminAnswer): void; reject(e: Error): void }[] = [];
  readonly #ready: Promise<void>;
  #buf = '';
  #failure: Error | undefined;

  private constructor(path: string) {
    this.#sock = createConnection(path);
    this.#sock.setEncoding('utf8');
    this.#ready = new Promise((resolve, reject) => {
      this.#sock.once('connect', () => resolve());
      this.#sock.once('error', (e) => reject(new Error(`cannot reach the admin socket ${path}: ${e.message}`)));
    });
    this.#sock.on('error', (e) => this.#fail(new Error(`admin socket ${path}: ${e.message}`)));
    this.#sock.on('close', () => this.#fail(new Error(`the admin socket ${path} closed the connection`)));
    this.#sock.on('data', (d: string) => {
      this.#buf += d;
      for (let i = this.#buf.indexOf('\n'); i >= 0; i = this.#buf.indexOf('\n')) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        const w = this.#waiting.shift();
        if (w === undefined) continue;
        try {
          w.resolve(JSON.parse(line) as AdminAnswer);
        } catch {
          w.reject(new Error('the admin socket answered something that is not JSON'));
        }
      }
    });
  }

  /** Connects to the admin socket at `path`. */
  static async connect(path: string): Promise<AdminClient> {
    const c = new AdminClient(path);
    await c.#ready;
    return c;
  }

  #fail(e: Error): void {
    this.#failure ??= e;
    for (const w of this.#waiting.splice(0)) w.reject(this.#failure);
  }

  /** Sends one request and resolves with its answer. */
  request(req: AdminRequest): Promise<AdminAnswer> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#sock.write(`${JSON.stringify(req)}\n`);
    });
  }

  close(): void {
    this.#sock.end();
    this.#sock.destroy();
  }
}

/** Sends one request to a running target's admin socket at `path` and resolves with its answer. */
export async function adminRequest(path: string, req: AdminRequest): Promise<AdminAnswer> {
  const c = await AdminClient.connect(path);
  try {
    return await c.request(req);
  } finally {
    c.close();
  }
}
