import type pg from 'pg';
import type { Logger } from 'pino';
import { topicsFor } from '@stepgate/contracts';
import { OutboxRelay, storeOn, type PublishMessages } from '@stepgate/store';
import type { z } from 'zod';
import type { AuditEnvSchema } from '@stepgate/runtime';
import type { AuditConfig } from './config.js';

/** How long each kind of row is kept, and how often the outbox relay and the retention run. */
export interface HousekeepingSettings {
  /** How often the outbox relay looks for unsent rows. Default 1 s. */
  outboxRelayIntervalMs: number;
  /** How often the ledger and outbox retention runs. Default 1 h. */
  retentionIntervalMs: number;
  /** Rate-limit and budget counters are kept this long after their window ended. Default 1 h. */
  usageCounterGraceMs: number;
  /**
   * Stored decisions and applied completion ids are kept this long (default 24 h), and never less
   * than twice the evaluator's clock-skew limit (`maxClockSkewMs`), past which nothing reads them.
   */
  dedupRetentionMs: number;
  /** The evaluator's clock-skew limit (STEPGATE_MAX_CLOCK_SKEW_MS, default 300 000). */
  maxClockSkewMs: number;
  /** Sent outbox rows are kept this long. Default 7 days. */
  outboxRetentionMs: number;
}

export function housekeepingFromEnv(e: z.output<typeof AuditEnvSchema>): HousekeepingSettings {
  return {
    outboxRelayIntervalMs: e.STEPGATE_OUTBOX_RELAY_INTERVAL_MS,
    retentionIntervalMs: e.STEPGATE_LEDGER_RETENTION_INTERVAL_MS,
    usageCounterGraceMs: e.STEPGATE_USAGE_COUNTER_GRACE_MS,
    dedupRetentionMs: e.STEPGATE_DEDUP_RETENTION_MS,
    maxClockSkewMs: e.STEPGATE_MAX_CLOCK_SKEW_MS,
    outboxRetentionMs: e.STEPGATE_OUTBOX_RETENTION_MS,
  };
}

export interface RetentionCounts {
  usageCounters: number;
  gateDecisions: number;
  appliedCompletions: number;
  outbox: number;
}

/** The oldest row each table keeps at `now`. */
export function retentionBounds(s: HousekeepingSettings, now: Date) {
  const at = (ms: number) => new Date(now.getTime() - ms);
  const dedup = at(Math.max(s.dedupRetentionMs, 2 * s.maxClockSkewMs));
  return {
    windowsEndedBefore: at(s.usageCounterGraceMs),
    decidedBefore: dedup,
    appliedBefore: dedup,
    sentBefore: at(s.outboxRetentionMs),
  };
}

/** Deletes what nothing reads any more: ended usage windows, old decisions and completion ids, sent outbox rows. */
export async function applyLedgerRetention(
  pool: pg.Pool,
  settings: HousekeepingSettings,
  now = new Date(),
): Promise<RetentionCounts> {
  const b = retentionBounds(settings, now);
  const store = storeOn(pool);
  return {
    usageCounters: await store.ledger.pruneUsageCounters({ endedBefore: b.windowsEndedBefore }),
    gateDecisions: await store.ledger.pruneGateDecisions({ decidedBefore: b.decidedBefore }),
    appliedCompletions: await store.ledger.pruneAppliedCompletions({ appliedBefore: b.appliedBefore }),
    outbox: await store.outbox.pruneSent({ sentBefore: b.sentBefore }),
  };
}

/**
 * The audit service's periodic work on the shared tables: the outbox relay (publishes what the CLI
 * committed while Kafka was unreachable) and the retention above. Several instances may run it: the
 * relay claims rows with `skip locked`, and the deletes are idempotent.
 */
export class Housekeeping {
  private readonly relay: OutboxRelay;
  private retention: NodeJS.Timeout | undefined;
  private retaining: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pool: pg.Pool,
    config: AuditConfig,
    private readonly settings: HousekeepingSettings,
    publish: PublishMessages,
    private readonly log: Logger,
  ) {
    this.relay = new OutboxRelay({ pool, topics: topicsFor(config.topicPrefix), publish });
  }

  start(): void {
    this.relay.start(this.settings.outboxRelayIntervalMs, (err) =>
      this.log.warn({ error: String(err) }, 'outbox relay round failed; retrying'),
    );
    this.retention = setInterval(() => {
      this.retaining = applyLedgerRetention(this.pool, this.settings).then(
        (deleted) => this.log.info({ deleted }, 'ledger retention'),
        (err: unknown) => this.log.warn({ error: String(err) }, 'ledger retention failed; the next run tries again'),
      );
    }, this.settings.retentionIntervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.retention);
    await this.relay.stop();
    await this.retaining;
  }
}
