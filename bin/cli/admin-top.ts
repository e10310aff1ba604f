// `tsiscsi admin top`: the target's counters every second, as rates per LUN and per session (IOPS,
// MB/s, latency percentiles of that second, commands in flight). On a terminal the screen is redrawn in
// place; otherwise (or with --json) each interval is printed after the last.

import { AdminClient, ratesBetween, type RatesFrame, type StatsSnapshot } from '../../src/target/index.js';

/** How `top` runs. */
export interface TopOptions {
  json: boolean;
  intervalMs: number;
  /** Stop after this many frames (default: until interrupted). */
  count?: number;
}

function fmtUs(us: number): string {
  if (us === 0) return '-';
  if (us < 1000) return `${us.toFixed(0)}us`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}

function fmtRate(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

function pad(s: string, n: number, left = false): string {
  return left ? s.padEnd(n) : s.padStart(n);
}

function shorten(s: string, n: number): string {
  return s.length <= n ? s : `…${s.slice(s.length - n + 1)}`;
}

/** The text screen of one frame. */
export function renderTop(f: RatesFrame, counting: boolean, width: number): string {
  const lines: string[] = [];
  const when = new Date(f.at).toISOString().replace('T', ' ').slice(0, 19);
  lines.push(`tsiscsi top  ${when}  interval ${f.seconds.toFixed(1)}s${counting ? '' : '  (command counters are off)'}`);
  lines.push('');
  const tw = Math.max(16, Math.min(44, width - 78));
  lines.push(
    `${pad('TARGET', tw, true)} ${pad('LUN', 4)} ${pad('IOPS', 8)} ${pad('READ/s', 7)} ${pad('WRITE/s', 7)} ${pad('RD MB/s', 8)} ${pad('WR MB/s', 8)} ${pad('P50', 8)} ${pad('P99', 8)} ${pad('P99.9', 8)} ${pad('QD', 4)}`,
  );
  for (const l of f.luns) {
    lines.push(
      `${pad(shorten(l.target, tw), tw, true)} ${pad(String(l.lun), 4)} ${pad(fmtRate(l.iops), 8)} ${pad(fmtRate(l.readIops), 7)} ${pad(fmtRate(l.writeIops), 7)} ${pad(l.readMBps.toFixed(1), 8)} ${pad(l.writeMBps.toFixed(1), 8)} ${pad(fmtUs(l.latencyUs.p50), 8)} ${pad(fmtUs(l.latencyUs.p99), 8)} ${pad(fmtUs(l.latencyUs.p999), 8)} ${pad(String(l.inFlight), 4)}`,
    );
  }
  lines.push('');
  const iw = Math.max(16, Math.min(44, width - 70));
  lines.push(`${pad('SESSION', 7)} ${pad('INITIATOR', iw, true)} ${pad('PEER', 21, true)} ${pad('IOPS', 8)} ${pad('RD MB/s', 8)} ${pad('WR MB/s', 8)} ${pad('P50', 8)} ${pad('P99', 8)} ${pad('QD', 4)} ${pad('WIN', 4)}`);
  for (const s of f.sessions) {
    lines.push(
      `${pad(String(s.id), 7)} ${pad(shorten(s.initiatorName, iw), iw, true)} ${pad(shorten(s.peer, 21), 21, true)} ${pad(fmtRate(s.iops), 8)} ${pad(s.readMBps.toFixed(1), 8)} ${pad(s.writeMBps.toFixed(1), 8)} ${pad(fmtUs(s.latencyUs.p50), 8)} ${pad(fmtUs(s.latencyUs.p99), 8)} ${pad(String(s.inFlight), 4)} ${pad(String(s.cmdsnWindow), 4)}`,
    );
  }
  if (f.sessions.length === 0) lines.push('(no session)');
  return lines.join('\n');
}

async function snapshot(c: AdminClient): Promise<StatsSnapshot> {
  const a = await c.request({ cmd: 'stats' });
  if (!a.ok) throw new Error(a.error);
  return a.result as StatsSnapshot;
}

/** Runs `top` against the admin socket at `path` until interrupted (or `count` frames). */
export async function runTop(path: string, opts: TopOptions): Promise<void> {
  const client = await AdminClient.connect(path);
  const tty = process.stdout.isTTY === true && !opts.json;
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    let prev = await snapshot(client);
    for (let frames = 0; opts.count === undefined || frames < opts.count; frames++) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, opts.intervalMs);
        ac.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
      });
      if (ac.signal.aborted) break;
      const cur = await snapshot(client);
      const f = ratesBetween(prev, cur);
      prev = cur;
      if (opts.json) process.stdout.write(`${JSON.stringify(f)}\n`);
      else if (tty) process.stdout.write(`\x1b[H\x1b[2J${renderTop(f, cur.counting, process.stdout.columns ?? 120)}\n`);
      else process.stdout.write(`${renderTop(f, cur.counting, 140)}\n\n`);
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    client.close();
  }
}
