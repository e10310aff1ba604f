// The bare-Node ceiling: two Node processes exchanging the PDU sizes of an iSCSI 4 KiB read (a 48-byte
// command, a 48-byte header plus the data back), with the replies of one event-loop turn sent in one
// corked write, and Nagle off. No iSCSI at all: what any Node implementation here can hope to reach.
//
//   node dist/bench/ceiling.js [--qd 32] [--bytes 4096] [--time 5]   (prints one JSON line)

import { fork } from 'node:child_process';
import { createConnection, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const REQ = 48;

function server(): void {
  const srv = createServer({ noDelay: true }, (s: Socket) => {
    s.setNoDelay(true);
    const bytes = Number(process.env.CEILING_BYTES ?? 4096);
    const reply = Buffer.alloc(48 + bytes, 0x5a);
    let pending = 0;
    let scheduled = false;
    let carry = 0;
    const flush = (): void => {
      scheduled = false;
      s.cork();
      for (; pending > 0; pending--) s.write(reply);
      s.uncork();
    };
    s.on('data', (d: Buffer) => {
      carry += d.length;
      const n = Math.floor(carry / REQ);
      carry -= n * REQ;
      pending += n;
      if (!scheduled && pending > 0) {
        scheduled = true;
        setImmediate(flush);
      }
    });
    s.on('error', () => {});
  });
  srv.listen(0, '127.0.0.1', () => process.send!({ port: (srv.address() as { port: number }).port }));
}

export async function measureCeiling(opts: { qd: number; bytes: number; seconds: number }): Promise<{ rps: number; mbps: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { env: { ...process.env, CEILING_BYTES: String(opts.bytes) }, stdio: 'ignore' });
  const port = await new Promise<number>((r) => child.once('message', (m: { port: number }) => r(m.port)));
  const sock = createConnection({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((r) => sock.once('connect', r));
  const replyLen = 48 + opts.bytes;
  const req = Buffer.alloc(REQ, 1);
  let done = 0;
  let carry = 0;
  let running = true;
  sock.on('data', (d: Buffer) => {
    carry += d.length;
    const n = Math.floor(carry / replyLen);
    carry -= n * replyLen;
    done += n;
    if (!running) return;
    sock.cork();
    for (let i = 0; i < n; i++) sock.write(req);
    sock.uncork();
  });
  sock.cork();
  for (let i = 0; i < opts.qd; i++) sock.write(req);
  sock.uncork();
  await new Promise((r) => setTimeout(r, 500)); // warm-up
  const start = done;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, opts.seconds * 1000));
  const n = done - start;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  sock.destroy();
  child.kill();
  return { rps: n / secs, mbps: (n * opts.bytes) / secs / 1e6 };
}

const argv = process.argv.slice(2);
if (argv[0] === '--server') {
  server();
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const get = (k: string, d: number) => {
    const i = argv.indexOf(k);
    return i >= 0 ? Number(argv[i + 1]) : d;
  };
  const r = await measureCeiling({ qd: get('--qd', 32), bytes: get('--bytes', 4096), seconds: get('--time', 5) });
  console.log(JSON.stringify({ bench: 'bare-node-ceiling', qd: get('--qd', 32), bytes: get('--bytes', 4096), ...r }));
}
