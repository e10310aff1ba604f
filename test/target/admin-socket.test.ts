// The admin socket as a local attacker or a careless client meets it: created owner-only whatever the
// umask, refused in a directory anyone could replace it in, bounded against garbage, endless lines,
// nesting and idle connections while the target keeps serving; changes logged with the peer's identity.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/initiator/session.js';
import { AdminClient, AdminSocketError, ADMIN_LIMITS, ExportPolicy, RunningConfig, adminRequest, startAdminSocket, type AdminSocket } from '../../src/target/index.js';
import { startTarget, type RunningTarget } from '../interop/tsiscsi.js';

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything a socket receives until it closes. */
function collect(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', () => {});
    s.once('close', () => resolve(out));
  });
}

describe('admin socket', () => {
  let t: RunningTarget;
  let dir: string;
  let logged: Record<string, unknown>[];
  const open: AdminSocket[] = [];

  beforeAll(async () => {
    t = await startTarget({ luns: ['mem:4M'] });
  });
  afterAll(() => t?.stop());

  async function start(opts: { group?: string; allowedPaths?: string[]; sub?: string } = {}): Promise<string> {
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-admin-'));
    const path = join(dir, 'admin.sock');
    logged = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
    const ctx = { server: t.server, config: new RunningConfig({ targets: [{ iqn: t.iqn, luns: ['mem:4M'] }] }), exports: new ExportPolicy(opts.allowedPaths), stats: () => t.server.stats(), log };
    open.push(await startAdminSocket(ctx, { path, ...(opts.group !== undefined && { group: opts.group }), log }));
    return path;
  }

  afterEach(async () => {
    for (const a of open.splice(0)) await a.close();
  });

  it('creates the socket 0600 under umask 000', async () => {
    const old = process.umask(0o000);
    try {
      const path = await start();
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it('creates it 0660 with the admin group under umask 000', async () => {
    const gid = process.getgid!();
    const old = process.umask(0o000);
    try {
      const path = await start({ group: String(gid) });
      const st = statSync(path);
      expect(st.mode & 0o777).toBe(0o660);
      expect(st.gid).toBe(gid);
    } finally {
      process.umask(old);
    }
  });

  it('resolves a group by name', async () => {
    const name = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
    const path = await start({ group: name });
    expect(statSync(path).gid).toBe(process.getgid!());
  });

  it('refuses a world-writable directory without the sticky bit, with one line', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tsiscsi-ww-'));
    chmodSync(d, 0o777);
    const log = pino({ level: 'silent' });
    const ctx = { server: t.server, config: undefined, exports: new ExportPolicy(undefined), stats: () => t.server.stats(), log };
    await expect(startAdminSocket(ctx, { path: join(d, 's.sock'), log })).rejects.toThrow(/world-writable without the sticky bit/);
    chmodSync(d, 0o1777);
    const a = await startAdminSocket(ctx, { path: join(d, 's.sock'), log });
    await a.close();
    rmSync(d, { recursive: true, force: true });
  });

  it('refuses to replace something at its path that is not a socket', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tsiscsi-nosock-'));
    writeFileSync(join(d, 's.sock'), 'precious');
    const log = pino({ level: 'silent' });
    const ctx = { server: t.server, config: undefined, exports: new ExportPolicy(undefined), stats: () => t.server.stats(), log };
    await expect(startAdminSocket(ctx, { path: join(d, 's.sock'), log })).rejects.toBeInstanceOf(AdminSocketError);
    rmSync(d, { recursive: true, force: true });
  });

  it('answers garbage with an error per line and keeps answering', async () => {
    const path = await start();
    const s = await connect(path);
    const got = collect(s);
    // 100,000 bytes of garbage, with a newline every 1,000 so that each line is judged.
    const garbage = Buffer.alloc(100_000, 0x41);
    for (let i = 999; i < garbage.length; i += 1000) garbage[i] = 0x0a;
    s.write(garbage);
    s.end(`${JSON.stringify({ cmd: 'lun-list' })}\n`);
    const lines = (await got).trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; error?: string });
    expect(lines).toHaveLength(101);
    expect(lines.slice(0, 100).every((l) => !l.ok && /not JSON/.test(l.error!))).toBe(true);
    expect(lines[100]!.ok).toBe(true);
  });

  it('cuts an endless line with an error, and still serves the target and other clients', async () => {
    const path = await start();
    const s = await connect(path);
    const got = collect(s);
    const chunk = Buffer.alloc(16 * 1024, 0x7b);
    for (let i = 0; i < 16 && !s.destroyed; i++) s.write(chunk);
    const text = await got;
    expect(JSON.parse(text.trim().split('\n')[0]!)).toEqual({ ok: false, error: `request line longer than ${ADMIN_LIMITS.maxLineBytes} bytes` });
    expect((await adminRequest(path, { cmd: 'lun-list' })).ok).toBe(true);
    const session = await Session.connect(t.url(0));
    expect((await session.read(0, 8)).length).toBe(4096);
    await session.close();
  });

  it('refuses a request nested deeper than the limit', async () => {
    const path = await start();
    const deep = `${'['.repeat(1000)}${']'.repeat(1000)}`;
    const c = await AdminClient.connect(path);
    const s = (c as unknown as { request(r: unknown): Promise<{ ok: boolean; error?: string }> }).request(JSON.parse(deep) as never);
    expect(await s).toEqual({ ok: false, error: `request nested deeper than ${ADMIN_LIMITS.maxDepth} levels` });
    c.close();
  });

  it('answers with 200 idle connections open and a read on the target meanwhile', async () => {
    const path = await start();
    const idle: Socket[] = [];
    let closed = 0;
    let enough!: () => void;
    // All but the cap are closed by the server to make room (the longest idle first).
    const evicted = new Promise<void>((r) => (enough = r));
    for (let i = 0; i < 200; i++) {
      const s = await connect(path);
      s.on('error', () => {});
      s.resume();
      s.once('close', () => ++closed === 200 - ADMIN_LIMITS.maxConnections && enough());
      idle.push(s);
    }
    const session = await Session.connect(t.url(0));
    const [answer, data] = await Promise.all([adminRequest(path, { cmd: 'session-list' }), session.read(0, 8)]);
    expect(answer.ok).toBe(true);
    expect(data.length).toBe(4096);
    await evicted;
    expect(closed).toBeGreaterThanOrEqual(200 - ADMIN_LIMITS.maxConnections);
    for (const s of idle) s.destroy();
    await session.close();
  });

  it('names unknown commands and bad fields', async () => {
    const path = await start();
    expect(await adminRequest(path, { cmd: 'lun-explode' } as never)).toEqual({ ok: false, error: expect.stringMatching(/^unknown admin command lun-explode \(known: lun-list, /) });
    expect(await adminRequest(path, { cmd: 'lun-add', lun: -1, spec: 'mem:1M' })).toEqual({ ok: false, error: expect.stringMatching(/^lun-add: lun: /) });
    expect(await adminRequest(path, { cmd: 'lun-add', lun: 1, spec: 'mem:1M', evil: 1 } as never)).toEqual({ ok: false, error: 'lun-add: unknown field evil' });
  });

  it('logs a change with the peer uid and pid', async () => {
    const path = await start();
    const a = await adminRequest(path, { cmd: 'lun-add', lun: 3, spec: 'mem:1M' });
    expect(a.ok).toBe(true);
    const entry = logged.find((l) => l.admin === 'lun-add')!;
    expect(entry.msg).toBe('admin change');
    // The client is this process: sock_diag (ss) finds it when it can; otherwise the log says why not.
    if ('peerPid' in entry) {
      expect(entry.peerPid).toBe(process.pid);
      expect(entry.peerUid).toBe(process.getuid!());
    } else expect(entry.peer).toMatch(/^unknown \(/);
    expect((await adminRequest(path, { cmd: 'lun-remove', lun: 3 })).ok).toBe(true);
  });
});

describe('allowedPaths', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tsiscsi-allowed-'));
    mkdirSync(join(root, 'srv'));
    writeFileSync(join(root, 'srv', 'ok.img'), Buffer.alloc(1 << 20));
    writeFileSync(join(root, 'secret.img'), Buffer.alloc(1 << 20));
    symlinkSync(join(root, 'secret.img'), join(root, 'srv', 'link.img'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('allows a file under an allowed directory, by its real path', async () => {
    const p = new ExportPolicy([join(root, 'srv')]);
    expect(await p.check(`${join(root, 'srv', 'ok.img')},ro`)).toBe(`${join(root, 'srv', 'ok.img')},ro`);
    expect(await p.check(`${join(root, 'srv', 'new', 'b.img')},size=1M`)).toBe(`${join(root, 'srv', 'new', 'b.img')},size=1M`);
  });

  it('refuses a path outside, a symlink or .. that leads outside, and says why', async () => {
    const p = new ExportPolicy([join(root, 'srv')]);
    await expect(p.check(join(root, 'secret.img'))).rejects.toThrow(/is not under allowedPaths/);
    await expect(p.check(join(root, 'srv', 'link.img'))).rejects.toThrow(/really .*secret\.img\) is not under allowedPaths/);
    await expect(p.check(`${join(root, 'srv')}/../secret.img`)).rejects.toThrow(/is not under allowedPaths/);
    await expect(p.check('/etc/passwd')).rejects.toThrow(/is not under allowedPaths/);
    await expect(p.check('relative.img')).rejects.toThrow(/not an absolute path/);
  });

  it('allows a device node only when listed itself, memory always, other schemes when listed', async () => {
    await expect(new ExportPolicy(['/dev']).check('/dev/null,size=1M')).rejects.toThrow(/device node/);
    expect(await new ExportPolicy(['/dev/null']).check('/dev/null,size=1M')).toBe('/dev/null,size=1M');
    expect(await new ExportPolicy([]).check('mem:1M')).toBe('mem:1M');
    await expect(new ExportPolicy([]).check('nbd:localhost:10809')).rejects.toThrow(/list "nbd:" in allowedPaths/);
    expect(await new ExportPolicy(['nbd:']).check('nbd:localhost:10809')).toBe('nbd:localhost:10809');
  });

  it('refuses lun add outside allowedPaths through the admin socket', async () => {
    const t = await startTarget({ luns: ['mem:4M'] });
    const d = mkdtempSync(join(tmpdir(), 'tsiscsi-admin-'));
    const log = pino({ level: 'silent' });
    const a = await startAdminSocket(
      { server: t.server, config: undefined, exports: new ExportPolicy([join(root, 'srv')]), stats: () => t.server.stats(), log },
      { path: join(d, 's.sock'), log },
    );
    try {
      const r = await adminRequest(join(d, 's.sock'), { cmd: 'lun-add', lun: 1, spec: join(root, 'secret.img') });
      expect(r).toEqual({ ok: false, error: expect.stringMatching(/secret\.img is not under allowedPaths/) });
      expect(t.server.target(t.iqn)!.device.get(1)).toBeUndefined();
      const ok = await adminRequest(join(d, 's.sock'), { cmd: 'lun-add', lun: 1, spec: join(root, 'srv', 'ok.img') });
      expect(ok.ok).toBe(true);
    } finally {
      await a.close();
      await t.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
