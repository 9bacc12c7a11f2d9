import type { Server } from 'node:http';
import type pg from 'pg';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { AuditEnvSchema, createPool, databaseAnswers, serveOps } from '@stepgate/runtime';
import { AlertsConsumer } from './alerts.js';
import type { AuditConfig } from './config.js';
import { AuditConsumer } from './consumer.js';
import { Housekeeping, housekeepingFromEnv } from './housekeeping.js';

/**
 * The audit service: the audit-log consumer, the alerts consumer and the housekeeping (outbox relay,
 * ledger retention), with one /metrics endpoint.
 */
export class AuditService {
  readonly registry = new Registry();
  readonly ingest: AuditConsumer;
  private readonly alerts: AlertsConsumer;
  private readonly alertPool: pg.Pool;
  private readonly housekeeping: Housekeeping;
  private metricsServer: Server | undefined;

  constructor(
    private readonly config: AuditConfig,
    logger?: Logger,
  ) {
    const log = logger ?? pino({ name: 'audit', base: { instance: config.instanceId } });
    collectDefaultMetrics({ register: this.registry });
    this.ingest = new AuditConsumer(config, this.registry, log);
    this.alertPool = createPool(config, 4, log);
    const raised = new Counter({
      name: 'stepgate_alerts_total',
      help: 'Alerts raised, by rule',
      labelNames: ['rule'],
      registers: [this.registry],
    });
    this.alerts = new AlertsConsumer(config, this.alertPool, log.child({ component: 'alerts' }), {
      raised,
      registry: this.registry,
    });
    this.housekeeping = new Housekeeping(
      this.alertPool,
      config,
      { ...housekeepingFromEnv(AuditEnvSchema.parse({})), ...config.housekeeping },
      (messages) => this.alerts.publish(messages),
      log.child({ component: 'housekeeping' }),
    );
  }

  /** Times a consumer of this service was recreated after a crash (0 in a healthy run). */
  get consumerRestarts(): number {
    return this.ingest.restarts + this.alerts.restarts;
  }

  async start(): Promise<void> {
    await Promise.all([this.ingest.start(), this.alerts.start()]);
    this.housekeeping.start();
    if (this.config.metricsPort !== undefined)
      this.metricsServer = serveOps({
        registry: this.registry,
        port: this.config.metricsPort,
        ...(this.config.metricsHost ? { host: this.config.metricsHost } : {}),
        readiness: {
          audit_consumer: () => this.ingest.ready,
          alerts_consumer: () => this.alerts.ready,
          postgres: () => databaseAnswers(this.alertPool),
        },
      });
  }

  async stop(): Promise<void> {
    await this.housekeeping.stop();
    await Promise.all([this.ingest.stop(), this.alerts.stop()]);
    await this.alertPool.end();
    this.metricsServer?.close();
  }
}
