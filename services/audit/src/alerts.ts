import type pg from 'pg';
import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import {
  ALERT_RULES,
  newAuditEvent,
  topicsFor,
  type Alert,
  type AlertRule,
  type AuditEvent,
  type TopicName,
} from '@stepgate/contracts';
import { KafkaConnection, type GroupConsumer, type IncomingBatch, type MessageProducer } from '@stepgate/messaging';
import {
  AlertThresholdsRepository,
  AuditReadsRepository,
  StepLedgerRepository,
  type RelayedMessage,
} from '@stepgate/store';
import {
  AlertRules,
  DEFAULT_THRESHOLDS,
  type Threshold,
  type WindowedEvent,
  type WindowedRule,
} from './alert-rules.js';
import { consumerLag, consumerLogs } from '@stepgate/runtime';
import type { AuditConfig } from './config.js';
import { readAuditEvent } from './intake.js';

/**
 * Reads the audit stream (its own consumer group), applies the alert rules and publishes each alert
 * on `alerts`, audited as `AlertRaised`. Thresholds per tenant come from `alert_thresholds`.
 */
export class AlertsConsumer {
  private readonly kafka: KafkaConnection;
  private readonly topics: Record<TopicName, string>;
  private readonly rules: AlertRules;
  private readonly defaults: Record<WindowedRule, Threshold>;
  private overrides = new Map<string, Threshold>();
  private consumer: GroupConsumer | undefined;
  private producer: MessageProducer | undefined;
  private refresh: NodeJS.Timeout | undefined;
  /** The rules' state as the ledger and `audit_log` have it, read again at each (re)join of the group. */
  private stateLoaded: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: AuditConfig,
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly metrics: { raised: Counter; registry: Registry },
  ) {
    this.kafka = new KafkaConnection({
      clientId: `${config.instanceId}-alerts`,
      brokers: config.kafkaBrokers,
      ...config.kafkaSecurity,
    });
    this.topics = topicsFor(config.topicPrefix);
    this.defaults = { ...DEFAULT_THRESHOLDS, ...config.alertDefaults };
    this.rules = new AlertRules((tenant, rule) => this.overrides.get(`${tenant}:${rule}`) ?? this.defaults[rule]);
  }

  /** Running and in its group. */
  get ready(): boolean {
    return this.consumer?.ready ?? false;
  }

  /** Times the consumer was recreated after a crash. */
  get restarts(): number {
    return this.consumer?.restartCount ?? 0;
  }

  async start(): Promise<void> {
    await this.loadThresholds();
    this.refresh = setInterval(
      () =>
        void this.loadThresholds().catch((err: unknown) =>
          this.log.warn({ error: String(err) }, 'could not reload alert thresholds'),
        ),
      30_000,
    );
    this.producer = await this.kafka.producer();
    const lag = consumerLag(this.metrics.registry, this.config.alertsGroupId);
    this.consumer = this.kafka.batchConsumer({
      groupId: this.config.alertsGroupId,
      topics: [this.topics.audit],
      maxWaitTimeInMs: 50,
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      // Partitions (tenants) may have moved, or this instance restarted: its view of their windows and backlogs is stale.
      onGroupJoin: () => {
        lag.onGroupJoin();
        this.reloadState();
      },
      onBatchEnd: lag.onBatchEnd,
      ...consumerLogs(this.log, { consumer: 'alerts', unit: 'batch' }),
      handle: (batch) => this.handleBatch(batch),
    });
    await this.consumer.start();
  }

  async stop(): Promise<void> {
    clearInterval(this.refresh);
    await this.consumer?.stop();
    await this.producer?.disconnect();
  }

  /**
   * Publishes with this consumer's producer (idempotent, one request in flight: order kept per
   * partition), acknowledged by all in-sync replicas. The outbox relay's publish function.
   */
  async publish(messages: RelayedMessage[]): Promise<void> {
    if (!this.producer) throw new Error('the alerts producer is not connected');
    await this.producer.publish(messages);
  }

  private async loadThresholds(): Promise<void> {
    const rows = await new AlertThresholdsRepository(this.pool).list();
    this.overrides = new Map(
      rows.map((r) => [`${r.tenant_id}:${r.rule}`, { threshold: r.threshold, window_seconds: r.window_seconds }]),
    );
  }

  private reloadState(): void {
    this.stateLoaded = this.loadState();
    this.stateLoaded.catch((err: unknown) =>
      this.log.warn({ error: String(err) }, "could not read the alert rules' state; the next batch tries again"),
    );
  }

  private async loadState(): Promise<void> {
    this.rules.resetPendingApprovals(await new StepLedgerRepository(this.pool).pendingApprovals());
    const { recent, raised } = await this.recentFromAuditLog();
    this.rules.restoreWindows(recent, raised);
  }

  /**
   * The windowed rules' events and the alerts raised within the longest window, from `audit_log`
   * (what the audit consumer has stored; events it has not yet stored come again from the stream).
   */
  private async recentFromAuditLog(): Promise<{
    recent: WindowedEvent[];
    raised: Array<Pick<Alert, 'tenant_id' | 'rule' | 'agent_id' | 'raised_at' | 'window_seconds'>>;
  }> {
    const longest = Math.max(
      ...[...Object.values(this.defaults), ...this.overrides.values()].map((t) => t.window_seconds),
    );
    const rows = await new AuditReadsRepository(this.pool).recentAlertEvents({ withinSeconds: longest });
    const recent: WindowedEvent[] = [];
    const raised: Array<Pick<Alert, 'tenant_id' | 'rule' | 'agent_id' | 'raised_at' | 'window_seconds'>> = [];
    for (const row of rows) {
      const timestamp = row.timestamp.toISOString();
      if (row.action === 'GateEvaluated') recent.push({ ...row, timestamp });
      const { rule, window_seconds, raised_at } = row.detail;
      if (row.action === 'AlertRaised' && ALERT_RULES.includes(rule as AlertRule) && typeof window_seconds === 'number')
        raised.push({
          tenant_id: row.tenant_id,
          rule: rule as AlertRule,
          agent_id: row.agent_id,
          window_seconds,
          raised_at: typeof raised_at === 'string' ? raised_at : timestamp,
        });
    }
    return { recent, raised };
  }

  private async handleBatch(batch: IncomingBatch): Promise<void> {
    // A failed read (Postgres down) is tried again here; failing again, it fails the batch, which is fetched again.
    await this.stateLoaded.catch(() => {
      this.reloadState();
      return this.stateLoaded;
    });
    // A failed batch is fetched again (messaging pauses its partition a moment) and observed again from
    // the rules' state before it: an alert it raised and could not publish is raised again, and its
    // events are not counted twice. Batches of this consumer run one at a time (its default
    // partitionsConcurrently, 1), and a rejoin's reload waits for the running batch.
    this.rules.checkpoint();
    try {
      await this.observeAndPublish(batch);
      this.rules.commit();
    } catch (err) {
      this.rules.rollback();
      throw err;
    }
    const last = batch.messages.at(-1)?.offset;
    if (last === undefined) return;
    batch.resolveOffset(last);
    batch.commit();
  }

  private async observeAndPublish(batch: IncomingBatch): Promise<void> {
    const alerts: Alert[] = [];
    const now = Date.now();
    for (const message of batch.messages) {
      // What the audit consumer refuses (to the dlq), whatever its bytes, is nothing to alert on.
      const read = readAuditEvent(message.value, now);
      if (read.ok) alerts.push(...this.rules.observe(read.event));
    }
    if (alerts.length) {
      await this.producer!.publish([
        ...alerts.map((a) => ({ topic: this.topics.alerts, key: a.tenant_id, value: JSON.stringify(a) })),
        ...alerts.map((a) => ({ topic: this.topics.audit, key: a.tenant_id, value: JSON.stringify(alertAudit(a)) })),
      ]);
      for (const a of alerts) {
        this.metrics.raised.inc({ rule: a.rule });
        this.log.warn({ tenant: a.tenant_id, rule: a.rule, count: a.count }, a.message);
      }
    }
  }
}

function alertAudit(a: Alert): AuditEvent {
  return newAuditEvent({
    tenant_id: a.tenant_id,
    agent_id: a.agent_id,
    action: 'AlertRaised',
    outcome: a.rule,
    detail: {
      alert_id: a.alert_id,
      rule: a.rule,
      severity: a.severity,
      message: a.message,
      count: a.count,
      threshold: a.threshold,
      window_seconds: a.window_seconds,
      raised_at: a.raised_at,
    },
  });
}
