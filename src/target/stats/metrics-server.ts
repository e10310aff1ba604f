// The metrics endpoint: GET /metrics over HTTP, bound where told (127.0.0.1 unless an address is
// given), as hard to abuse as the iSCSI port: bounded headers and timeouts (a slow or silent client is
// cut off), a cap on connections (the longest idle one makes room for a new one, so idle sockets cannot
// lock scrapers out), and an optional bearer token compared in constant time.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Portal } from '../portal.js';

/** Limits of the metrics endpoint; see {@link startMetricsServer}. */
export const METRICS_LIMITS = {
  /** Bytes of request line and headers. */
  maxHeaderSize: 8192,
  /** A request's headers must arrive within this (ms). */
  headersTimeoutMs: 5000,
  /** A whole request must arrive within this (ms). */
  requestTimeoutMs: 10_000,
  /** A connection idle this long is closed (ms). */
  idleTimeoutMs: 15_000,
  /** Connections served at once by default. */
  maxConnections: 64,
} as const;

/** How the endpoint is started. */
export interface MetricsServerOptions {
  listen: Portal;
  /** Renders the body of GET /metrics. */
  render: () => Promise<string>;
  contentType: string;
  /** Scrapers must send `Authorization: Bearer TOKEN`. */
  token?: string;
  maxConnections?: number;
  log: Logger;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The address bound (port 0 picks one). */
  readonly address: Portal;
  close(): Promise<void>;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Starts the endpoint; resolves once it listens. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const cap = opts.maxConnections ?? METRICS_LIMITS.maxConnections;
  const want = opts.token === undefined ? undefined : digest(`Bearer ${opts.token}`);
  /** Open connections in arrival order, and whether each has a request under way. */
  const open = new Map<Socket, { busy: boolean }>();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const state = open.get(req.socket);
    if (state !== undefined) state.busy = true;
    res.once('close', () => {
      if (state !== undefined) state.busy = false;
    });
    const reply = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return reply(404, 'not found: the metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'only GET /metrics\n', { allow: 'GET, HEAD' });
    if (want !== undefined) {
      const got = digest(req.headers.authorization ?? '');
      // Equal-length digests, compared in constant time: the token leaks nothing through timing.
      if (!timingSafeEqual(got, want)) return reply(401, 'a bearer token is required\n', { 'www-authenticate': 'Bearer realm="tsiscsi"' });
    }
    opts.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': opts.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        opts.log.error({ err }, 'metrics: rendering failed');
        reply(500, 'metrics unavailable\n');
      },
    );
  };

  const server = createServer(
    {
      maxHeaderSize: METRICS_LIMITS.maxHeaderSize,
      headersTimeout: METRICS_LIMITS.headersTimeoutMs,
      requestTimeout: METRICS_LIMITS.requestTimeoutMs,
      keepAliveTimeout: 5000,
      connectionsCheckingInterval: 1000,
    },
    handle,
  );
  server.setTimeout(METRICS_LIMITS.idleTimeoutMs, (s: Socket) => s.destroy());
  server.on('connection', (s: Socket) => {
    open.set(s, { busy: false });
    s.once('close', () => open.delete(s));
    if (open.size <= cap) return;
    // Over the cap: the connection idle longest makes room (a Map iterates in arrival order).
    for (const [other, st] of open) {
      if (other !== s && !st.busy) {
        other.destroy();
        return;
      }
    }
    s.destroy();
  });
  server.on('clientError', (_err, s: Socket) => {
    // A malformed request, headers over the limit or too slow: answered 400/431/408 when the socket still can be.
    if (s.writable) s.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.log.error({ err }, 'metrics endpoint error'));
  const a = server.address() as AddressInfo;
  const address = { host: a.address, port: a.port };
  opts.log.info({ host: address.host, port: address.port, token: want !== undefined }, 'metrics listening');
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open.keys()) s.destroy();
      }),
  };
}
