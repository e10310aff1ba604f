// The tsiscsi command line: a thin yargs front over the library. No protocol logic lives here.

import yargs from 'yargs';
import { dumpCommand } from './dump.js';
import { targetCommand } from './target.js';
import { discoverCommand } from './discover.js';
import { lsCommand } from './ls.js';
import { inquiryCommand } from './inquiry.js';
import { readcapCommand } from './readcap.js';
import { readCommand } from './read.js';
import { writeCommand } from './write.js';
import { benchCommand } from './bench.js';
import { adminCommand } from './admin.js';

/** Runs the CLI with the given arguments (without `node` and the script path). */
export async function run(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('tsiscsi')
    .usage('$0 <command> [options]\n\nA userspace iSCSI target and initiator in TypeScript.')
    .command(targetCommand)
    .command(adminCommand)
    .command(dumpCommand)
    .command(discoverCommand)
    .command(lsCommand)
    .command(inquiryCommand)
    .command(readcapCommand)
    .command(readCommand)
    .command(writeCommand)
    .command(benchCommand)
    .demandCommand(1, 'Name a command; see --help.')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`tsiscsi: ${msg}\nRun 'tsiscsi --help' for usage.\n`);
      process.exit(2);
    })
    .parseAsync();
}
