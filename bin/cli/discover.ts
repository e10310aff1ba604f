// `tsiscsi discover HOST[:PORT]`: the targets a portal offers (SendTargets=All, RFC 7143 Appendix C).

import type { CommandModule } from 'yargs';
import { runCli, sessionOptionsFromArgs, urlFromArgs, withConnectionOptions, type ConnectionArgs } from './support.js';
import { discover } from '../../src/initiator/index.js';

interface DiscoverArgs extends ConnectionArgs {
  portal: string;
  json: boolean;
}

export const discoverCommand: CommandModule<object, DiscoverArgs> = {
  command: 'discover <portal>',
  describe: 'List the targets a portal offers (HOST[:PORT], default port 3260)',
  builder: (y) =>
    withConnectionOptions(
      y
        .positional('portal', { type: 'string', demandOption: true, describe: 'HOST[:PORT], [IPv6]:PORT, or iscsi://[user%secret@]host[:port]' })
        .option('json', { type: 'boolean', default: false, describe: 'print a JSON array' })
        .example('$0 discover 127.0.0.1', 'list the targets on the default port')
        .example('$0 discover iscsi://user%secret@10.0.0.5:3261', 'with discovery CHAP'),
    ) as never,
  handler: (args) =>
    runCli('discover', async () => {
      const text = /^iscsi:\/\//i.test(args.portal) ? args.portal : `iscsi://${args.portal.includes(':') && args.portal.indexOf(':') !== args.portal.lastIndexOf(':') && !args.portal.startsWith('[') ? `[${args.portal}]` : args.portal}`;
      const u = urlFromArgs(text);
      const so = sessionOptionsFromArgs(args, u);
      const targets = await discover(text, {
        ...(so.initiatorName !== undefined && { initiatorName: so.initiatorName }),
        ...(so.chap !== undefined && { chap: so.chap }),
        ...(args.timeout !== undefined && args.timeout > 0 && { timeout: args.timeout }),
      });
      if (args.json) {
        process.stdout.write(JSON.stringify(targets, null, 2) + '\n');
        return;
      }
      if (targets.length === 0) {
        process.stderr.write(`tsiscsi discover: ${u.host}:${u.port} offers no targets to this initiator\n`);
        return;
      }
      // iscsiadm's format: PORTAL,TPGT TARGET, one line per portal.
      for (const t of targets) {
        if (t.portals.length === 0) process.stdout.write(`${u.host}:${u.port} ${t.name}\n`);
        for (const p of t.portals) {
          const host = p.host.includes(':') ? `[${p.host}]` : p.host;
          process.stdout.write(`${host}:${p.port}${p.portalGroupTag !== undefined ? `,${p.portalGroupTag}` : ''} ${t.name}\n`);
        }
      }
    }),
};
