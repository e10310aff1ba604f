// A connection handed from the main process to a worker process arrives whole: the bytes the main
// process read to route it, then everything else the initiator sent, each byte once and in order,
// however the stream was cut into segments. The worker side is the built worker code (dist/), in a child
// process that receives the socket's handle over IPC as a worker does.

import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detachForHandoff, readFirstPdu } from '../../../src/target/workers/handoff.js';
import { loginRequestBytes } from './login-request.js';

const HANDOFF_JS = new URL('../../../dist/src/target/workers/handoff.js', import.meta.url).href;

// The receiving end: puts the first bytes back with the worker's own code, then hashes the stream.
const CHILD = `
import { restoreFirstBytes } from ${JSON.stringify(HANDOFF_JS)};
import { createHash } from 'node:crypto';
process.on('message', (m, socket) => {
  const h = createHash('sha256');
  let length = 0;
  restoreFirstBytes(socket, m.first);
  socket.on('data', (d) => { h.update(d); length += d.length; });
  socket.on('end', () => { process.send({ id: m.id, length, sha256: h.digest('hex') }); socket.end(); });
});
`;

const LOGIN = loginRequestBytes([
  ['InitiatorName', 'iqn.2026-12.test:i'],
  ['TargetName', 'iqn.2026-12.test:t'],
]);

/** A small deterministic generator, so a failing cut can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('handing a connection to a worker process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-handoff-'));
  let child: ChildProcess;
  let server: Server;
  let port: number;
  const results = new Map<number, (r: { length: number; sha256: string }) => void>();
  const routed: string[] = [];
  let nextId = 1;

  beforeAll(async () => {
    writeFileSync(join(dir, 'child.mjs'), CHILD);
    child = fork(join(dir, 'child.mjs'), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m: { id: number; length: number; sha256: string }) => results.get(m.id)?.(m));
    server = createServer({ pauseOnConnect: true }, (socket: Socket) => {
      const id = nextId++;
      void readFirstPdu(socket, 10_000).then((first) => {
        if (first === undefined) throw new Error('the first PDU never routed');
        routed.push(first.route.kind === 'target' ? first.route.name : first.route.kind);
        const rest = detachForHandoff(socket);
        child.send({ id, first: Buffer.concat([first.bytes, ...rest]) }, socket);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => {
    child?.kill();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([1, 2, 3, 4, 5, 6])('delivers every byte once and in order (cut %i)', async (seed) => {
    const next = rng(seed);
    const tail = Buffer.alloc(1 << 20);
    for (let i = 0; i < tail.length; i++) tail[i] = (next() * 256) | 0;
    const stream = Buffer.concat([LOGIN, tail]);
    const id = nextId;
    const got = new Promise<{ length: number; sha256: string }>((r) => results.set(id, r));
    const c = createConnection(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    // Segments of 1 byte to 64 KiB, some written in the same turn, some a turn apart: the login's end
    // falls inside a segment, on its edge, or split over several.
    for (let off = 0; off < stream.length; ) {
      const n = Math.max(1, Math.floor(next() ** 3 * 65536));
      c.write(stream.subarray(off, off + n));
      off += n;
      if (next() < 0.3) await new Promise((r) => setImmediate(r));
    }
    c.end();
    const r = await got;
    c.destroy();
    expect(routed.at(-1)).toBe('iqn.2026-12.test:t');
    expect(r.length).toBe(stream.length);
    expect(r.sha256).toBe(createHash('sha256').update(stream).digest('hex'));
  });
});
