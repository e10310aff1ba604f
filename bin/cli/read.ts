// `tsiscsi read URL [URL...] --lba N --blocks N [-o FILE]`: blocks of a LUN to a file or stdout. Several
// URLs of the LUN (or --path URL) read through a multipath session.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { CommandModule } from 'yargs';
import { lunUrls, openLun, runCli, withConnectionOptions, withPathOptions, type ConnectionArgs, type PathArgs } from './support.js';

interface ReadArgs extends ConnectionArgs, PathArgs {
  lba: number;
  blocks: number;
  output: string | undefined;
}

/** Bytes per READ command, and how many are in flight. */
const CHUNK_BYTES = 1 << 20;
const IN_FLIGHT = 4;

export const readCommand: CommandModule<object, ReadArgs> = {
  command: 'read <url..>',
  describe: 'Read blocks of a LUN to stdout or a file',
  builder: (y) =>
    withConnectionOptions(
      withPathOptions(y)
        .option('lba', { type: 'number', demandOption: true, describe: 'first block' })
        .option('blocks', { type: 'number', demandOption: true, describe: 'number of blocks' })
        .option('output', { alias: 'o', type: 'string', describe: 'file to write (default: stdout)' })
        .example('$0 read iscsi://127.0.0.1/iqn.2003-01.org.example:disk/1 --lba 0 --blocks 8 | xxd | head', '')
        .example('$0 read iscsi://10.0.0.1/iqn.2003-01.org.example:disk/1 iscsi://10.0.0.2/iqn.2003-01.org.example:disk/1 --lba 0 --blocks 8 -o out.bin', 'through two paths'),
    ) as never,
  handler: (args) =>
    runCli('read', async () => {
      if (!Number.isSafeInteger(args.lba) || args.lba < 0) throw new RangeError(`--lba ${args.lba} is not a block number`);
      if (!Number.isSafeInteger(args.blocks) || args.blocks < 1) throw new RangeError(`--blocks ${args.blocks} must be a positive integer`);
      if (args.output === undefined && process.stdout.isTTY) throw new RangeError('refusing to write binary data to a terminal: use -o FILE or a pipe');
      const s = await openLun(lunUrls(args), args);
      let out: Writable | undefined;
      try {
        const cap = await s.readCapacity();
        if (args.lba + args.blocks > cap.blocks) {
          throw new RangeError(`blocks ${args.lba}..${args.lba + args.blocks - 1} go past the end of the LUN (last LBA ${cap.lastLba})`);
        }
        out = args.output === undefined ? process.stdout : createWriteStream(args.output);
        const per = Math.max(1, Math.floor(CHUNK_BYTES / cap.blockSize));
        const pending: Promise<Buffer>[] = [];
        let next = args.lba;
        const end = args.lba + args.blocks;
        const issue = (): void => {
          const n = Math.min(per, end - next);
          pending.push(s.read(next, n));
          next += n;
        };
        while (next < end && pending.length < IN_FLIGHT) issue();
        while (pending.length > 0) {
          const data = await pending.shift()!;
          if (next < end) issue();
          if (!out.write(data)) await once(out, 'drain');
        }
        if (out !== process.stdout) {
          await new Promise<void>((resolve, reject) => out!.end((e?: Error | null) => (e ? reject(e) : resolve())));
        }
        if (process.stderr.isTTY) process.stderr.write(`read ${args.blocks} blocks (${args.blocks * cap.blockSize} bytes) from LBA ${args.lba}\n`);
      } finally {
        await s.close();
      }
    }),
};
