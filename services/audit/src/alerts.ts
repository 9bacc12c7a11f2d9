import { Kafka, Partitioners, logLevel, type Consumer, type EachBatchPayload, type Producer } from 'kafkajs';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { AuditEventSchema, newAuditEvent, topicsFor, type Alert, type AuditEvent, type TopicName } from '@stepgate/contracts';
import { OffsetCommitter } from '@stepgate/runtime';
import { AlertRules, DEFAULT_THRESHOLDS, type Threshold, type WindowedRule } from './alert-rules.js';
import type { AuditConfig } from './config.js';

/**
 * Reads the audit stream (its own consumer group), applies the alert rules and publishes each alert
 * on `alerts`, audited as `AlertRaised`. Thresholds per tenant come from `alert_thresholds`.
 */
export class AlertsConsumer {
  private readonly kafka: Kafka;
  private readonly topics: Record<TopicName, string>;
  private readonly rules: AlertRules;
  private overrides = new Map<string, Threshold>();
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private refresh: NodeJS.Timeout | undefined;
  /** The approval backlog as the ledger has it, read again at each (re)join of the group. */
  private pendingLoaded: Promise<void> = Promise.resolve();
  private readonly committer = new OffsetCommitter((err) => this.log.warn({ error: String(err) }, 'offset commit failed; the next one covers it'));

  constructor(
    private readonly config: AuditConfig,
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly raised: Counter,
  ) {
    this.kafka = new Kafka({ clientId: `${config.instanceId}-alerts`, brokers: config.kafkaBrokers, logLevel: logLevel.WARN });
    this.topics = topicsFor(config.topicPrefix);
    const defaults = { ...DEFAULT_THRESHOLDS, ...config.alertDefaults };
    this.rules = new AlertRules((tenant, rule) => this.overrides.get(`${tenant}:${rule}`) ?? defaults[rule]);
  }

  async start(): Promise<void> {
    await this.loadThresholds();
    this.refresh = setInterval(() => void this.loadThresholds().catch((err: unknown) => this.log.warn({ error: String(err) }, 'could not reload alert thresholds')), 30_000);
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
    this.consumer = this.kafka.consumer({ groupId: this.config.alertsGroupId, maxWaitTimeInMs: 50, sessionTimeout: this.config.sessionTimeoutMs, heartbeatInterval: Math.max(500, Math.floor(this.config.sessionTimeoutMs / 5)) });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topics.audit, fromBeginning: true });
    // Partitions (tenants) may have moved: this instance's view of their backlogs is stale.
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => this.reloadPendingApprovals());
    const joined = new Promise<void>((resolve) => this.consumer!.on(this.consumer!.events.GROUP_JOIN, () => resolve()));
    await this.consumer.run({ eachBatchAutoResolve: false, autoCommit: false, eachBatch: (p) => this.committer.run(() => this.handleBatch(p)) });
    await joined;
  }

  async stop(): Promise<void> {
    clearInterval(this.refresh);
    await this.committer.close();
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
  }

  private async loadThresholds(): Promise<void> {
    const { rows } = await this.pool.query<{ tenant_id: string; rule: WindowedRule; threshold: number; window_seconds: number }>('select tenant_id, rule, threshold, window_seconds from alert_thresholds');
    this.overrides = new Map(rows.map((r) => [`${r.tenant_id}:${r.rule}`, { threshold: r.threshold, window_seconds: r.window_seconds }]));
  }

  private reloadPendingApprovals(): void {
    this.pendingLoaded = this.loadPendingApprovals();
    this.pendingLoaded.catch((err: unknown) => this.log.warn({ error: String(err) }, 'could not read the approval backlog; the next batch tries again'));
  }

  private async loadPendingApprovals(): Promise<void> {
    const { rows } = await this.pool.query<{ tenant_id: string; approval_id: string }>(
      "select tenant_id, approval_id::text from step_ledger where approval_status = 'pending' and approval_id is not null",
    );
    this.rules.resetPendingApprovals(rows);
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    // A failed read (Postgres down) is tried again here; failing again, it fails the batch, which kafkajs redelivers.
    await this.pendingLoaded.catch(() => {
      this.reloadPendingApprovals();
      return this.pendingLoaded;
    });
    const alerts: Alert[] = [];
    for (const message of payload.batch.messages) {
      let json: unknown;
      try {
        json = JSON.parse(message.value?.toString('utf8') ?? '');
      } catch {
        continue; // the audit consumer sends it to the dlq; nothing to alert on
      }
      const parsed = AuditEventSchema.safeParse(json);
      if (parsed.success) alerts.push(...this.rules.observe(parsed.data));
    }
    if (alerts.length) {
      await this.producer!.sendBatch({
        acks: -1,
        topicMessages: [
          { topic: this.topics.alerts, messages: alerts.map((a) => ({ key: a.tenant_id, value: JSON.stringify(a) })) },
          { topic: this.topics.audit, messages: alerts.map((a) => ({ key: a.tenant_id, value: JSON.stringify(alertAudit(a)) })) },
        ],
      });
      for (const a of alerts) {
        this.raised.inc({ rule: a.rule });
        this.log.warn({ tenant: a.tenant_id, rule: a.rule, count: a.count }, a.message);
      }
    }
    const last = payload.batch.messages.at(-1)?.offset;
    if (last === undefined) return;
    payload.resolveOffset(last);
    this.committer.commit(payload);
  }
}

function alertAudit(a: Alert): AuditEvent {
  return newAuditEvent({
    tenant_id: a.tenant_id,
    agent_id: a.agent_id,
    action: 'AlertRaised',
    outcome: a.rule,
    detail: { alert_id: a.alert_id, rule: a.rule, severity: a.severity, message: a.message, count: a.count, threshold: a.threshold, window_seconds: a.window_seconds },
  });
}
