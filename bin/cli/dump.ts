// `tsiscsi dump [FILE|-] [--header-digest] [--data-digest]`

import { createReadStream } from 'node:fs';
import type { CommandModule } from 'yargs';
import { dumpStream } from '../../src/tools/index.js';

interface DumpArgs {
  file: string;
  'header-digest': boolean;
  'data-digest': boolean;
  direction: 'initiator' | 'target' | undefined;
  'digests-from-start': boolean;
}

export const dumpCommand: CommandModule<object, DumpArgs> = {
  command: 'dump [file]',
  describe: 'Decode the raw bytes of one direction of an iSCSI TCP connection: one JSON object per PDU',
  builder: (y) =>
    y
      .positional('file', { type: 'string', default: '-', describe: "file with the byte stream, or '-' for stdin" })
      .option('header-digest', { type: 'boolean', default: false, describe: 'PDUs after login carry a CRC32C header digest (from the first PDU when the stream starts after login)' })
      .option('data-digest', { type: 'boolean', default: false, describe: 'PDUs after login carry a CRC32C data digest (from the first PDU when the stream starts after login)' })
      .option('direction', {
        choices: ['initiator', 'target'] as const,
        describe: 'which side sent the bytes (default: guessed from the first PDU)',
      })
      .option('digests-from-start', {
        type: 'boolean',
        default: false,
        describe: 'apply digests from the first PDU even if it is a Login PDU (a stream that does not start with one needs no flag)',
      })
      .example('$0 dump capture.bin', 'decode a raw stream saved from a TCP connection')
      .example("tshark -r c.pcap -q -z follow,tcp,raw,0 | ... | $0 dump -", 'decode from stdin') as never,
  handler: async (args) => {
    const input = args.file === '-' ? process.stdin : createReadStream(args.file);
    let result;
    try {
      result = await dumpStream(input, process.stdout, {
        headerDigest: args['header-digest'],
        dataDigest: args['data-digest'],
        direction: args.direction,
        digestsAfterLogin: !args['digests-from-start'],
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      process.stderr.write(`tsiscsi dump: cannot read ${args.file}: ${err.code ?? ''} ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (result.errors > 0) {
      process.stderr.write(`tsiscsi dump: ${result.errors} of ${result.pdus} PDUs had errors\n`);
      process.exitCode = 1;
    }
  },
};
