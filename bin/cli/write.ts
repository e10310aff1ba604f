// `tsiscsi write URL [URL...] [--lba N] [-i FILE]`: a file or stdin onto blocks of a LUN. Several URLs of
// the LUN (or --path URL) write through a multipath session.

import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { lunUrls, openLun, runCli, withConnectionOptions, withPathOptions, type ConnectionArgs, type PathArgs } from './support.js';

interface WriteArgs extends ConnectionArgs, PathArgs {
  lba: number;
  input: string | undefined;
  fua: boolean;
}

const CHUNK_BYTES = 1 << 20;
const IN_FLIGHT = 4;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const writeCommand: CommandModule<object, WriteArgs> = {
  command: 'write <url..>',
  describe: 'Write stdin or a file to blocks of a LUN (a whole number of blocks)',
  builder: (y) =>
    withConnectionOptions(
      withPathOptions(y)
        .option('lba', { type: 'number', default: 0, describe: 'first block' })
        .option('input', { alias: 'i', type: 'string', describe: 'file to write (default: stdin)' })
        .option('fua', { type: 'boolean', default: false, describe: 'Force Unit Access: durable before each command completes' })
        .example('$0 write iscsi://127.0.0.1/iqn.2003-01.org.example:disk/1 --lba 2048 -i image.bin', ''),
    ) as never,
  handler: (args) =>
    runCli('write', async () => {
      if (!Number.isSafeInteger(args.lba) || args.lba < 0) throw new RangeError(`--lba ${args.lba} is not a block number`);
      if (args.input === undefined && process.stdin.isTTY) throw new RangeError('nothing to write: give -i FILE or pipe data into stdin');
      const data = args.input === undefined ? await readStdin() : await readFile(args.input);
      if (data.length === 0) throw new RangeError('the input is empty: nothing to write');
      const s = await openLun(lunUrls(args), args);
      try {
        const cap = await s.readCapacity();
        const bs = cap.blockSize;
        if (data.length % bs !== 0) {
          throw new RangeError(`the input is ${data.length} bytes, not a whole number of ${bs}-byte blocks (pad it, e.g. truncate -s %${bs} FILE)`);
        }
        const blocks = data.length / bs;
        if (args.lba + blocks > cap.blocks) {
          throw new RangeError(`${blocks} blocks at LBA ${args.lba} go past the end of the LUN (last LBA ${cap.lastLba})`);
        }
        const per = Math.max(1, Math.floor(CHUNK_BYTES / bs));
        const inflight = new Set<Promise<void>>();
        let failure: unknown;
        for (let b = 0; b < blocks && failure === undefined; b += per) {
          const n = Math.min(per, blocks - b);
          const p: Promise<void> = s.write(args.lba + b, data.subarray(b * bs, (b + n) * bs), { fua: args.fua }).then(
            () => void inflight.delete(p),
            (e: unknown) => {
              inflight.delete(p);
              failure ??= e;
            },
          );
          inflight.add(p);
          if (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
        }
        await Promise.all(inflight);
        if (failure !== undefined) throw failure;
        if (process.stderr.isTTY) process.stderr.write(`wrote ${blocks} blocks (${data.length} bytes) at LBA ${args.lba}\n`);
      } finally {
        await s.close();
      }
    }),
};
