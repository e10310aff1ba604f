// A TCP proxy for tests: forwards one port to another and can cut every connection through it at once,
// the way a network failure would, while it keeps listening for the reconnection.

import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  port = 0;
  connections = 0;
  bytesUp = 0;
  /** While set, new connections are accepted and closed at once. */
  refuse = false;

  private constructor(targetPort: number, targetHost: string) {
    this.server = createServer((client) => {
      this.connections++;
      if (this.refuse) {
        client.destroy();
        return;
      }
      const upstream = connect({ host: targetHost, port: targetPort });
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        this.#pairs.delete(pair);
      };
      client.on('data', (d: Buffer) => {
        this.bytesUp += d.length;
      });
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('error', drop);
      upstream.on('error', drop);
      client.on('close', drop);
      upstream.on('close', drop);
    });
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort, targetHost);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', () => resolve()));
    p.port = (p.server.address() as { port: number }).port;
    return p;
  }

  /** Cuts every connection through the proxy, both sides. */
  cut(): number {
    const n = this.#pairs.size;
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
    return n;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
