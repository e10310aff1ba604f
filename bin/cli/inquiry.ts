// `tsiscsi inquiry URL`: the standard INQUIRY data of a LUN (SPC-4 §6.6), and its unit serial number.

import type { CommandModule } from 'yargs';
import { deviceTypeName, runCli, sessionOptionsFromArgs, urlFromArgs, withConnectionOptions, type ConnectionArgs } from './support.js';
import { Session } from '../../src/initiator/index.js';
import { parseVpdSerialNumber, parseVpdSupportedPages } from '../../src/scsi/index.js';

interface InquiryArgs extends ConnectionArgs {
  url: string;
  json: boolean;
}

export const inquiryCommand: CommandModule<object, InquiryArgs> = {
  command: 'inquiry <url>',
  describe: 'Show the INQUIRY data of a LUN',
  builder: (y) =>
    withConnectionOptions(
      y
        .positional('url', { type: 'string', demandOption: true, describe: 'iscsi://[user[%secret]@]host[:port]/target-iqn/lun' })
        .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
        .example('$0 inquiry iscsi://127.0.0.1/iqn.2003-01.org.example:disk/1', ''),
    ) as never,
  handler: (args) =>
    runCli('inquiry', async () => {
      const u = urlFromArgs(args.url);
      const s = await Session.connect(u, sessionOptionsFromArgs(args, u));
      try {
        const inq = await s.inquiry();
        let serial: string | undefined;
        try {
          const pages = parseVpdSupportedPages(await s.inquiryVpd(0x00));
          if (pages.includes(0x80)) serial = parseVpdSerialNumber(await s.inquiryVpd(0x80));
        } catch {
          // VPD pages are optional for some device types.
        }
        if (args.json) {
          process.stdout.write(JSON.stringify({ ...inq, deviceTypeName: deviceTypeName(inq.deviceType), serial }) + '\n');
          return;
        }
        const lines = [
          `Vendor:       ${inq.vendor}`,
          `Product:      ${inq.product}`,
          `Revision:     ${inq.revision}`,
          `Device type:  ${deviceTypeName(inq.deviceType)} (0x${inq.deviceType.toString(16).padStart(2, '0')})${inq.peripheralQualifier !== 0 ? `, qualifier ${inq.peripheralQualifier} (not connected)` : ''}`,
          `Version:      0x${inq.version.toString(16).padStart(2, '0')}`,
          `Removable:    ${inq.rmb ? 'yes' : 'no'}`,
          `Command queueing: ${inq.cmdque ? 'yes' : 'no'}`,
        ];
        if (serial !== undefined) lines.push(`Serial:       ${serial}`);
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        await s.close();
      }
    }),
};
