// `tsiscsi ls URL`: the targets of a portal (or one target) with their LUNs, types and sizes.

import type { CommandModule } from 'yargs';
import { deviceTypeName, formatBytes, runCli, sessionOptionsFromArgs, urlFromArgs, withConnectionOptions, type ConnectionArgs } from './support.js';
import { Session, discover, formatIscsiUrl } from '../../src/initiator/index.js';
import { cdbInquiry, cdbReadCapacity10, cdbReadCapacity16, parseInquiry, parseReadCapacity10, parseReadCapacity16 } from '../../src/scsi/index.js';

interface LsArgs extends ConnectionArgs {
  url: string;
  json: boolean;
}

interface LunInfo {
  lun: number;
  type: string;
  vendor?: string;
  product?: string;
  blocks?: number;
  blockSize?: number;
  bytes?: number;
  error?: string;
}

export const lsCommand: CommandModule<object, LsArgs> = {
  command: 'ls <url>',
  describe: 'List targets and their LUNs (iscsi://host[:port] for all, .../target-iqn for one)',
  builder: (y) =>
    withConnectionOptions(
      y
        .positional('url', { type: 'string', demandOption: true, describe: 'iscsi://[user[%secret]@]host[:port][/target-iqn]' })
        .option('json', { type: 'boolean', default: false, describe: 'print a JSON array' })
        .example('$0 ls iscsi://127.0.0.1', 'every target of the portal, with LUNs and sizes'),
    ) as never,
  handler: (args) =>
    runCli('ls', async () => {
      const u = urlFromArgs(args.url);
      const so = sessionOptionsFromArgs(args, u);
      let names: { name: string; portal: string }[];
      if (u.target !== undefined) {
        names = [{ name: u.target, portal: `${u.host}:${u.port}` }];
      } else {
        const found = await discover(formatIscsiUrl({ ...u, target: undefined }), {
          ...(so.initiatorName !== undefined && { initiatorName: so.initiatorName }),
          ...(so.chap !== undefined && { chap: so.chap }),
        });
        names = found.map((t) => ({ name: t.name, portal: t.portals[0] !== undefined ? `${t.portals[0].host}:${t.portals[0].port}${t.portals[0].portalGroupTag !== undefined ? `,${t.portals[0].portalGroupTag}` : ''}` : `${u.host}:${u.port}` }));
      }
      const out: { target: string; portal: string; luns: LunInfo[]; error?: string }[] = [];
      for (const t of names) {
        const entry: (typeof out)[number] = { target: t.name, portal: t.portal, luns: [] };
        out.push(entry);
        let s: Session | undefined;
        try {
          // REPORT LUNS goes to LUN 0 (SPC-4 §6.33); the session is logged in to the target, not to one LU.
          s = await Session.connect({ ...u, target: t.name, lun: u.lun ?? 0 }, so);
          let luns: number[];
          try {
            luns = await s.reportLuns();
          } catch {
            luns = [u.lun ?? 0];
          }
          for (const lun of luns) entry.luns.push(await describeLun(s, lun));
        } catch (e) {
          entry.error = e instanceof Error ? e.message : String(e);
        } finally {
          await s?.close();
        }
      }
      if (args.json) {
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } else {
        for (const t of out) {
          process.stdout.write(`Target: ${t.target} Portal: ${t.portal}\n`);
          if (t.error !== undefined) process.stdout.write(`  (cannot log in: ${t.error})\n`);
          for (const l of t.luns) {
            let line = `  Lun:${l.lun} Type:${l.type}`;
            if (l.vendor !== undefined) line += ` (${l.vendor} ${l.product})`;
            if (l.bytes !== undefined) line += ` Size:${formatBytes(l.bytes)} (${l.blocks} x ${l.blockSize})`;
            if (l.error !== undefined) line += ` [${l.error}]`;
            process.stdout.write(line + '\n');
          }
        }
      }
      if (out.length > 0 && out.every((t) => t.error !== undefined)) process.exitCode = 3;
    }),
};

async function describeLun(s: Session, lun: number): Promise<LunInfo> {
  try {
    const inq = parseInquiry((await s.execute(cdbInquiry({ alloc: 96 }), { dataIn: 96, lun })).data);
    const info: LunInfo = { lun, type: deviceTypeName(inq.deviceType), vendor: inq.vendor, product: inq.product };
    if (inq.deviceType === 0x00 || inq.deviceType === 0x0e) {
      try {
        const c = parseReadCapacity16((await s.execute(cdbReadCapacity16({ alloc: 32 }), { dataIn: 32, lun })).data);
        Object.assign(info, { blocks: c.blocks, blockSize: c.blockLength, bytes: c.blocks * c.blockLength });
      } catch {
        const c = parseReadCapacity10((await s.execute(cdbReadCapacity10(), { dataIn: 8, lun })).data);
        const blocks = c.blocks ?? c.lastLba + 1;
        Object.assign(info, { blocks, blockSize: c.blockLength, bytes: blocks * c.blockLength });
      }
    }
    return info;
  } catch (e) {
    return { lun, type: 'UNKNOWN', error: e instanceof Error ? e.message : String(e) };
  }
}
