// A login redirector (RFC 7143 §11.13.5, status 0x0101 "target moved temporarily"), the alternative to
// handing sockets to workers that bench/login-cost.ts measures: it reads a connection's first Login
// Request, answers it with the TargetAddress of the portal that serves the target it names, and closes.
// A prototype for measurement, not part of the target.
//
//   node dist/bench/redirector.js PORT IQN=HOST:PORT [IQN=HOST:PORT ...]

import { createServer } from 'node:net';
import { encodePduToBuffer } from '../src/pdu/codec.js';
import { LoginStatus, Opcode } from '../src/pdu/constants.js';
import { encodeTextKeys } from '../src/pdu/text-keys.js';
import { routeFirstPdu } from '../src/target/workers/first-login.js';

const [port, ...routes] = process.argv.slice(2);
const to = new Map(routes.map((r) => r.split('=') as [string, string]));

const server = createServer({ noDelay: true }, (socket) => {
  let buf = Buffer.alloc(0);
  socket.on('error', () => {});
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    const route = routeFirstPdu(buf);
    if (route.kind === 'incomplete') return;
    const address = route.kind === 'target' ? to.get(route.name) : undefined;
    if (address === undefined) return void socket.destroy();
    const status = LoginStatus.TargetMovedTemporarily;
    socket.end(
      encodePduToBuffer({
        opcode: Opcode.LoginResponse,
        transit: false,
        continue: false,
        csg: (buf[1]! >> 2) & 3,
        nsg: 0,
        versionMax: 0,
        versionActive: 0,
        isid: buf.subarray(8, 14).toString('hex'),
        tsih: 0,
        itt: buf.readUInt32BE(16),
        statSN: 0,
        expCmdSN: buf.readUInt32BE(24),
        maxCmdSN: buf.readUInt32BE(24),
        statusClass: status >> 8,
        statusDetail: status & 0xff,
        // RFC 7143 §13.8: TargetAddress=domainname[:port][,portal-group-tag]
        data: encodeTextKeys([['TargetAddress', `${address},1`]]),
      }),
    );
  });
});
server.listen(Number(port), '127.0.0.1');
