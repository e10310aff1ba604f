// `tsiscsi admin --socket PATH WHAT VERB ...`: changes and questions for a running target, through its
// admin socket: LUNs, targets, ACLs, CHAP accounts, sessions, the running configuration, counters, and
// `top`, the live view.

import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { adminRequest, type AdminAnswer, type AdminRequest } from '../../src/target/index.js';
import { runTop } from './admin-top.js';

interface AdminArgs {
  socket: string;
  what: string;
  verb: string | undefined;
  args: string[];
  target: string | undefined;
  json: boolean;
  grace: number | undefined;
  alias: string | undefined;
  mutual: boolean;
  interval: number;
  count: number | undefined;
}

const USAGE =
  'lun list|add N SPEC|remove N|resize N SIZE, target list|add IQN [SPEC...]|remove IQN, acl list|add IQN|remove IQN, ' +
  'chap list|set USER @FILE|env:NAME|-|remove [USER], session list|drop ID, config show|save, stats, top';

/** A file LUN's relative path means the client's directory, not the target's: made absolute here. */
function absoluteSpec(spec: string): string {
  const head = spec.split(',')[0]!;
  if (/^[a-z][a-z0-9+.-]*:/i.test(head) || head.startsWith('/')) return spec;
  return resolve(head) + spec.slice(head.length);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** The secret argument of `chap set`: a reference, or `-` for stdin; never the secret itself on argv. */
async function secretOf(arg: string | undefined): Promise<{ secretFile: string } | { secretEnv: string } | { secret: string }> {
  if (arg === undefined) throw new Error('usage: chap set USER @FILE|env:NAME|- (the secret from a file the target reads, its environment, or stdin)');
  if (arg.startsWith('@')) return { secretFile: resolve(arg.slice(1)) };
  if (arg.startsWith('env:')) return { secretEnv: arg.slice(4) };
  if (arg === '-') return { secret: await readStdin() };
  throw new Error('give the secret as @FILE, env:NAME (the target\'s environment) or - (stdin): a secret on the command line is visible in ps');
}

async function toRequest(a: AdminArgs): Promise<AdminRequest> {
  const num = (v: string | undefined, what: string): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer`);
    return n;
  };
  const need = (v: string | undefined, usage: string): string => {
    if (v === undefined) throw new Error(`usage: ${usage}`);
    return v;
  };
  const target = a.target === undefined ? {} : { target: a.target };
  const grace = a.grace === undefined ? {} : { graceMs: num(String(a.grace), '--grace') };
  const [x, y] = a.args;
  switch (`${a.what} ${a.verb ?? ''}`.trim()) {
    case 'lun list':
      return { cmd: 'lun-list', ...target };
    case 'lun add':
      return { cmd: 'lun-add', lun: num(x, 'N'), spec: absoluteSpec(need(y, 'lun add N SPEC')), ...target };
    case 'lun remove':
      return { cmd: 'lun-remove', lun: num(x, 'N'), ...target };
    case 'lun resize':
      return { cmd: 'lun-resize', lun: num(x, 'N'), size: need(y, 'lun resize N SIZE'), ...target };
    case 'target list':
      return { cmd: 'target-list' };
    case 'target add':
      return { cmd: 'target-add', iqn: need(x, 'target add IQN [SPEC...]'), luns: a.args.slice(1).map(absoluteSpec), ...(a.alias !== undefined && { alias: a.alias }) };
    case 'target remove':
      return { cmd: 'target-remove', iqn: need(x, 'target remove IQN'), ...grace };
    case 'acl list':
      return { cmd: 'acl-list', ...target };
    case 'acl add':
      return { cmd: 'acl-add', initiator: need(x, 'acl add INITIATOR-IQN'), ...target };
    case 'acl remove':
      return { cmd: 'acl-remove', initiator: need(x, 'acl remove INITIATOR-IQN'), ...target };
    case 'chap list':
      return { cmd: 'chap-list', ...target };
    case 'chap set':
      return { cmd: 'chap-set', user: need(x, 'chap set USER @FILE|env:NAME|-'), ...(await secretOf(y)), ...(a.mutual && { mutual: true }), ...target };
    case 'chap remove':
      return { cmd: 'chap-remove', ...(x !== undefined && { user: x }), ...(a.mutual && { mutual: true }), ...target };
    case 'session list':
      return { cmd: 'session-list' };
    case 'session drop':
      return { cmd: 'session-drop', id: num(x, 'ID'), ...grace };
    case 'config show':
      return { cmd: 'config-show' };
    case 'config save':
      return { cmd: 'config-save' };
    case 'stats':
      return { cmd: 'stats' };
    default:
      throw new Error(`unknown admin command "${`${a.what} ${a.verb ?? ''}`.trim()}" (${USAGE})`);
  }
}

function printResult(r: unknown): void {
  const line = (row: Record<string, unknown>) =>
    Object.entries(row)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
      .join(' ');
  if (Array.isArray(r)) for (const row of r as Record<string, unknown>[]) process.stdout.write(`${line(row)}\n`);
  else process.stdout.write(`${line(r as Record<string, unknown>)}\n`);
}

export const adminCommand: CommandModule<object, AdminArgs> = {
  command: 'admin <what> [verb] [args..]',
  describe: `Manage a running target through its admin socket: ${USAGE}`,
  builder: (y) =>
    y
      .positional('what', { choices: ['lun', 'target', 'acl', 'chap', 'session', 'config', 'stats', 'top'] as const, describe: 'what to act on' })
      .positional('verb', { type: 'string', describe: 'list, add, remove, resize, set, drop, show, save' })
      .positional('args', { type: 'string', array: true, default: [] as string[] })
      .option('socket', { type: 'string', demandOption: true, describe: "the target's --admin-socket PATH" })
      .option('target', { type: 'string', describe: 'target IQN (when the server has several)' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON (top: one JSON line per interval)' })
      .option('grace', {
        type: 'number',
        describe: 'session drop, target remove: ms the initiators have to log out (their commands in flight are answered) before their connections are closed [default: 2000]',
      })
      .option('alias', { type: 'string', describe: 'target add: the TargetAlias' })
      .option('mutual', { type: 'boolean', default: false, describe: "chap set/remove: the target's own account for mutual CHAP" })
      .option('interval', { type: 'number', default: 1, describe: 'top: seconds between refreshes' })
      .option('count', { type: 'number', describe: 'top: stop after this many refreshes' })
      .example('$0 admin --socket /run/tsiscsi.sock lun add 1 /srv/iscsi/b.img,size=10G', 'a new LUN, at once')
      .example('$0 admin --socket /run/tsiscsi.sock acl add iqn.1993-08.org.debian:01:abc --target iqn.2026-11.com.example:db', '')
      .example('$0 admin --socket /run/tsiscsi.sock config save', 'write the running configuration to the --config file')
      .example('$0 admin --socket /run/tsiscsi.sock top', 'IOPS, MB/s and latency per LUN and session, every second') as never,
  handler: async (a) => {
    if (a.what === 'top') {
      try {
        await runTop(a.socket, { json: a.json, intervalMs: Math.max(0.1, a.interval) * 1000, ...(a.count !== undefined && { count: a.count }) });
      } catch (e) {
        process.stderr.write(`tsiscsi admin: ${(e as Error).message}\n`);
        process.exitCode = 2;
      }
      return;
    }
    let answer: AdminAnswer;
    try {
      answer = await adminRequest(a.socket, await toRequest(a));
    } catch (e) {
      process.stderr.write(`tsiscsi admin: ${(e as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    if (!answer.ok) {
      process.stderr.write(`tsiscsi admin: ${answer.error}\n`);
      process.exitCode = 1;
      return;
    }
    if (a.json || a.what === 'config' || a.what === 'stats') process.stdout.write(`${JSON.stringify(answer.result, null, a.json ? undefined : 2)}\n`);
    else printResult(answer.result);
    if (answer.warning !== undefined) {
      process.stderr.write(`tsiscsi admin: warning: ${answer.warning}\n`);
      // A change that could not be written back is not a success to a script.
      if (answer.warning.includes('not saved')) process.exitCode = 1;
    }
  },
};
