// `tsiscsi admin --socket PATH lun add N SPEC | lun remove N | lun list | session list | session drop ID`

import type { CommandModule } from 'yargs';
import { adminRequest, type AdminAnswer, type AdminRequest } from '../../src/target/index.js';

interface AdminArgs {
  socket: string;
  what: string;
  verb: string;
  args: string[];
  target: string | undefined;
  json: boolean;
  grace: number | undefined;
}

function toRequest(a: AdminArgs): AdminRequest {
  const num = (v: string | undefined, what: string): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer`);
    return n;
  };
  const target = a.target === undefined ? {} : { target: a.target };
  if (a.what === 'lun' && a.verb === 'list') return { cmd: 'lun-list', ...target };
  if (a.what === 'lun' && a.verb === 'add') {
    if (a.args[1] === undefined) throw new Error('usage: lun add N SPEC');
    return { cmd: 'lun-add', lun: num(a.args[0], 'N'), spec: a.args[1], ...target };
  }
  if (a.what === 'lun' && a.verb === 'remove') return { cmd: 'lun-remove', lun: num(a.args[0], 'N'), ...target };
  if (a.what === 'lun' && a.verb === 'resize') {
    if (a.args[1] === undefined) throw new Error('usage: lun resize N SIZE');
    return { cmd: 'lun-resize', lun: num(a.args[0], 'N'), size: a.args[1], ...target };
  }
  if (a.what === 'session' && a.verb === 'list') return { cmd: 'session-list' };
  if (a.what === 'session' && a.verb === 'drop') {
    return { cmd: 'session-drop', id: num(a.args[0], 'ID'), ...(a.grace !== undefined && { graceMs: num(String(a.grace), '--grace') }) };
  }
  throw new Error(`unknown admin command "${a.what} ${a.verb}" (lun list|add|remove|resize, session list|drop)`);
}

export const adminCommand: CommandModule<object, AdminArgs> = {
  command: 'admin <what> <verb> [args..]',
  describe: 'Manage a running target through its admin socket: lun add N SPEC | lun remove N | lun resize N SIZE | lun list | session list | session drop ID',
  builder: (y) =>
    y
      .positional('what', { choices: ['lun', 'session'] as const, describe: 'what to act on' })
      .positional('verb', { type: 'string', describe: 'list, add, remove, drop' })
      .positional('args', { type: 'string', array: true, default: [] as string[] })
      .option('socket', { type: 'string', demandOption: true, describe: 'the target\'s --admin-socket PATH' })
      .option('target', { type: 'string', describe: 'target IQN (when the server has several)' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('grace', {
        type: 'number',
        describe: 'session drop: ms the initiator has to log out (its commands in flight are answered) before the connection is closed [default: 2000]',
      }) as never,
  handler: async (a) => {
    let answer: AdminAnswer;
    try {
      answer = await adminRequest(a.socket, toRequest(a));
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
    if (a.json) {
      process.stdout.write(JSON.stringify(answer.result) + '\n');
      return;
    }
    const r = answer.result;
    if (Array.isArray(r)) {
      for (const row of r as Record<string, unknown>[]) {
        process.stdout.write(Object.entries(row).map(([k, v]) => `${k}=${String(v)}`).join(' ') + '\n');
      }
    } else {
      process.stdout.write(Object.entries(r as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`).join(' ') + '\n');
    }
  },
};
