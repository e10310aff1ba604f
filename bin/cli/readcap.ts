// `tsiscsi readcap URL`: the size of a LUN (READ CAPACITY(16), or (10) where that is all there is).

import type { CommandModule } from 'yargs';
import { formatBytes, runCli, sessionOptionsFromArgs, urlFromArgs, withConnectionOptions, type ConnectionArgs } from './support.js';
import { Session } from '../../src/initiator/index.js';

interface ReadcapArgs extends ConnectionArgs {
  url: string;
  json: boolean;
}

export const readcapCommand: CommandModule<object, ReadcapArgs> = {
  command: 'readcap <url>',
  describe: 'Show the capacity and block size of a LUN',
  builder: (y) =>
    withConnectionOptions(
      y
        .positional('url', { type: 'string', demandOption: true, describe: 'iscsi://[user[%secret]@]host[:port]/target-iqn/lun' })
        .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
    ) as never,
  handler: (args) =>
    runCli('readcap', async () => {
      const u = urlFromArgs(args.url);
      const s = await Session.connect(u, sessionOptionsFromArgs(args, u));
      try {
        const c = await s.readCapacity();
        if (args.json) {
          process.stdout.write(JSON.stringify(c) + '\n');
          return;
        }
        const lines = [
          `Blocks:      ${c.blocks}`,
          `Block size:  ${c.blockSize}`,
          `Last LBA:    ${c.lastLba}`,
          `Size:        ${formatBytes(c.bytes)} (${c.bytes} bytes)`,
        ];
        if (c.thinProvisioning !== undefined) lines.push(`Thin provisioning: ${c.thinProvisioning ? 'yes' : 'no'}`);
        if (c.logicalPerPhysicalExponent > 0) lines.push(`Physical block: ${c.blockSize << c.logicalPerPhysicalExponent}`);
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        await s.close();
      }
    }),
};
