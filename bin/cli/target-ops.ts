// The operations side of `tsiscsi target`: the running configuration (kept for `admin config show|save`
// and "persist": true), the admin socket and the metrics endpoint, started once the server listens and
// stopped before it closes.

import type { Logger } from 'pino';
import {
  ConfigError,
  TargetMetrics,
  metricsListenText,
  parsePortal,
  resolveSecret,
  startAdminSocket,
  startMetricsServer,
  type AdminContext,
  type AdminExecutor,
  type AdminSocket,
  type MetricsServer,
  type ServerConfig,
  type StatsSnapshot,
} from '../../src/target/index.js';

/**
 * What the admin socket and the metrics reach: one server (its admin context, with the running
 * configuration), or a target with workers (an executor that routes each request, the summed counters).
 */
export interface OpsSource {
  admin: AdminContext | AdminExecutor;
  stats(): StatsSnapshot | Promise<StatsSnapshot>;
}

/** What runs beside the server. */
export interface Ops {
  close(): Promise<void>;
}

/** Whether the server should keep command counters: someone can read them (metrics or the admin socket). */
export function wantsCounters(cfg: ServerConfig): boolean {
  return cfg.metrics !== undefined || cfg.adminSocket !== undefined;
}

/** The bearer token of the metrics endpoint, from its file or environment variable (never the command line). */
function metricsToken(cfg: ServerConfig): string | undefined {
  const m = cfg.metrics;
  if (m === undefined || (m.tokenFile === undefined && m.tokenEnv === undefined)) return undefined;
  if (m.tokenFile !== undefined && m.tokenEnv !== undefined) throw new ConfigError('metrics', 'give tokenFile or tokenEnv, not both');
  const token = resolveSecret({ ...(m.tokenFile !== undefined && { secretFile: m.tokenFile }), ...(m.tokenEnv !== undefined && { secretEnv: m.tokenEnv }) }, 'metrics.token');
  if (token.length < 16) throw new ConfigError('metrics.token', 'the bearer token must be at least 16 characters');
  return token;
}

/** Starts the admin socket and the metrics endpoint the config asks for. */
export async function startOps(source: OpsSource, cfg: ServerConfig, log: Logger): Promise<Ops> {
  let admin: AdminSocket | undefined;
  let metrics: MetricsServer | undefined;
  try {
    if (cfg.metrics !== undefined) {
      const token = metricsToken(cfg);
      const exporter = new TargetMetrics(() => source.stats());
      metrics = await startMetricsServer({
        listen: parsePortal(metricsListenText(cfg.metrics.listen), 'metrics.listen'),
        render: () => exporter.render(),
        contentType: exporter.contentType,
        ...(token !== undefined && { token }),
        ...(cfg.metrics.maxConnections !== undefined && { maxConnections: cfg.metrics.maxConnections }),
        log,
      });
    }
    if (cfg.adminSocket !== undefined) {
      admin = await startAdminSocket(source.admin, { path: cfg.adminSocket, ...(cfg.adminGroup !== undefined && { group: cfg.adminGroup }), log });
    }
  } catch (e) {
    await metrics?.close();
    await admin?.close();
    throw e;
  }
  return {
    async close() {
      await Promise.all([admin?.close(), metrics?.close()]);
    },
  };
}
