// Target portals (RFC 7143 §4.4.1: an IP address and TCP port a target listens on) and listening on one,
// for the single-process server and the main process of a target with workers alike.

import { createServer, type Server, type Socket } from 'node:net';

/** A network portal: where the target listens. */
export interface Portal {
  host: string;
  port: number;
}

/**
 * Listens on one portal (port 0 picks one) with Nagle off, every accepted socket going to `onSocket`
 * (paused, with nothing read from the kernel, if `pauseOnConnect`: it may go to another process).
 * Resolves once listening, with the address actually bound; rejects if the portal cannot be bound.
 */
export async function listenOn(
  portal: Portal,
  onSocket: (socket: Socket) => void,
  opts: { pauseOnConnect?: boolean } = {},
): Promise<{ server: Server; bound: Portal }> {
  const server = createServer({ noDelay: true, pauseOnConnect: opts.pauseOnConnect === true }, onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(portal.port, portal.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as { address: string; port: number };
  return { server, bound: { host: a.address, port: a.port } };
}
