import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type pg from 'pg';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { Approvers } from '@stepgate/approvals-client';
import { createPool, databaseAnswers, serveOps } from '@stepgate/runtime';
import { CONCURRENT_EXPORTS, EXPORT_TIME_LIMIT_MS } from './api/export-limits.js';
import { storeOn } from '@stepgate/store';
import { buildApp, callbackUrl } from './app.js';
import { OidcProvider } from './auth/provider.js';
import { Sessions } from './auth/sessions.js';
import type { ControlPlaneConfig } from './config.js';
import { ApprovalGateway, loadGatewayCredentials } from './gateway.js';

const SESSION_PRUNE_INTERVAL_MS = 10 * 60_000;

/** The control plane process: the HTTP app, its Postgres pool and Temporal client, and the ops endpoint. */
export class ControlPlane {
  readonly registry = new Registry();
  private readonly log: Logger;
  private pool?: pg.Pool;
  private exportPool?: pg.Pool;
  private connection?: Connection;
  private app?: FastifyInstance;
  private ops?: Server;
  private pruner?: NodeJS.Timeout;

  constructor(
    private readonly config: ControlPlaneConfig,
    logger?: Logger,
  ) {
    this.log = logger ?? pino({ name: 'control-plane' });
  }

  /** Starts listening; resolves with the base URL it answers at. */
  async start(): Promise<string> {
    const c = this.config;
    collectDefaultMetrics({ register: this.registry });
    const requests = new Counter({
      name: 'stepgate_control_plane_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    const latency = new Histogram({
      name: 'stepgate_control_plane_request_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    const pool = (this.pool = createPool(c, 8, this.log));
    // A cursor's reads count against the pool's query timeout (pg starts its timer for them too): an
    // export's own connections wait as long as the export may run.
    const exportPool = (this.exportPool = createPool(c, CONCURRENT_EXPORTS, this.log, {
      queryTimeoutMs: EXPORT_TIME_LIMIT_MS + 60_000,
    }));
    const connection = (this.connection = await Connection.connect(c.temporal ?? { address: c.temporalAddress }));
    const approvers = new Approvers(new Client({ connection, namespace: c.temporalNamespace }), c.taskQueue);
    const store = storeOn(pool);
    const app = (this.app = await buildApp({
      config: c,
      pool,
      exportPool,
      store,
      gateway: new ApprovalGateway(approvers, await loadGatewayCredentials(c.gatewayKeyFiles)),
      portalBaseUrl: c.portalBaseUrl,
      allowLoopbackWebhooks: c.allowLoopbackWebhooks === true,
      provider: new OidcProvider(c.oidc, callbackUrl(c.portalBaseUrl)),
      sessions: new Sessions(store.sessions, {
        ttlSeconds: c.sessionTtlSeconds,
        rolesFromGroups: c.oidc.groupsClaim !== undefined ? { maxSeconds: c.oidc.groupsSessionMaxSeconds } : undefined,
      }),
      log: this.log,
    }));
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      requests.inc({ method: request.method, route, status: reply.statusCode });
      latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
    await app.listen({ host: c.host, port: c.port });
    this.pruner = setInterval(() => {
      store.sessions.pruneExpired().catch((err: unknown) => this.log.warn({ err }, 'pruning sessions failed'));
    }, SESSION_PRUNE_INTERVAL_MS).unref();
    if (c.metricsPort !== undefined)
      this.ops = serveOps({
        registry: this.registry,
        port: c.metricsPort,
        host: c.metricsHost,
        readiness: { database: () => databaseAnswers(pool) },
      });
    const { port } = app.server.address() as AddressInfo;
    const url = `http://${c.host}:${port}`;
    this.log.info({ url, portal: c.portalBaseUrl }, 'control plane listening');
    return url;
  }

  async stop(): Promise<void> {
    clearInterval(this.pruner);
    await this.app?.close();
    await new Promise<void>((resolve) => (this.ops ? this.ops.close(() => resolve()) : resolve()));
    await this.connection?.close();
    await this.pool?.end();
    await this.exportPool?.end();
  }
}
