import type { Server } from 'node:http';
import { availableParallelism } from 'node:os';
import {
  groupMembershipLost,
  KafkaConnection,
  type GroupConsumer,
  type IncomingBatch,
  type IncomingMessage,
  type MessageProducer,
} from '@stepgate/messaging';
import type pg from 'pg';
import pino, { type Logger } from 'pino';
import type { z } from 'zod';
import { RECEIPT_KEYS_PATH, decisionTopicFor, topicsFor, type GateRequest, type TopicName } from '@stepgate/contracts';
import {
  ed25519,
  ed25519Threads,
  receiptKeySet,
  verifyBytesOn,
  type Ed25519Threads,
  type ReceiptSigner,
} from '@stepgate/contracts/node';
import {
  KEYED_LOOKUP_PLANS,
  consumerLag,
  consumerLogs,
  createPool,
  databaseAnswers,
  holdBatchWhileDatabaseDown,
  serveOps,
} from '@stepgate/runtime';
import { BatchMessages } from './batch-messages.js';
import { BundleStore } from './bundles.js';
import { CompletionStage } from './completions.js';
import type { EvaluatorConfig } from './config.js';
import { CredentialStore } from './credentials.js';
import { ReplyToAllowances } from './reply-to.js';
import { DecideStage } from './decide.js';
import { EmitStage, RateSampler } from './emit.js';
import { GroupCommit } from './group-commit.js';
import { KillSwitchStore } from './kill-switches.js';
import { InputRedactor } from './recorded-input.js';
import { GATE_REQUEST, intake, STEP_COMPLETION, type Intake, type MessageKind } from './intake.js';
import type { GateOutcome } from './gate.js';
import { EvaluatorMetrics } from './metrics.js';
import { Publisher } from './publisher.js';

/** Threads for Ed25519 by default: the cores beside the event loop's, up to 4 (one gate's signatures take ~150 µs). */
function defaultSignatureThreads(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

/** Shadow divergences audited per tenant and second by one evaluator; past it they are only counted. */
const SHADOW_AUDITS_PER_SECOND = 5;

/**
 * A stateless evaluator worker: one member of the consumer group over `gate.requests` and
 * `step.completions`. Each batch goes intake (authenticate, validate) → decide (ledger + engine, one
 * transaction) → emit (decisions, approvals, audit), is published, and only then are its offsets
 * committed (at-least-once, idempotent effects). Everything it knows lives in Postgres.
 */
export class Evaluator {
  readonly metrics = new EvaluatorMetrics();
  private readonly log: Logger;
  private readonly pool: pg.Pool;
  /** Completions' own: their updates wait on ledger rows a decide transaction holds, which may need a connection. */
  private readonly completionsPool: pg.Pool;
  private readonly decisionsPool: pg.Pool;
  private readonly kafka: KafkaConnection;
  private readonly topics: Record<TopicName, string>;
  private readonly credentials: CredentialStore;
  private readonly replyToAllowances: ReplyToAllowances;
  private readonly bundles: BundleStore;
  private readonly killSwitches: KillSwitchStore;
  private readonly signer: ReceiptSigner;
  /** Where requests are verified and decisions signed: off the event loop when there are threads. */
  private readonly signatures: Ed25519Threads;
  private readonly decideStage: DecideStage;
  /** The decide stage's transactions, shared by the partitions processed concurrently. */
  private readonly decisions: GroupCommit<Intake<GateRequest>, GateOutcome | undefined>;
  private readonly emitStage: EmitStage;
  private readonly completions: CompletionStage;
  private consumer: GroupConsumer | undefined;
  private policyConsumer: GroupConsumer | undefined;
  private producer: MessageProducer | undefined;
  private readonly publisher = new Publisher(() => this.producer!);
  private readonly stageSeconds = {
    intake: this.metrics.batchStageSeconds.labels('intake'),
    decide: this.metrics.batchStageSeconds.labels('decide'),
    publish: this.metrics.batchStageSeconds.labels('publish'),
  };
  private metricsServer: Server | undefined;

  constructor(
    private readonly config: EvaluatorConfig,
    logger?: Logger,
  ) {
    this.log = logger ?? pino({ name: 'evaluator', base: { instance: config.instanceId } });
    // Decisions take one connection at a time (group commit) from a pipelined pool of their own, whose
    // second connection answers whether Postgres is up when a transaction fails. Lookups (credentials,
    // bundles, kill switches, some of them read inside the decide transaction) use the main pool.
    // Completions have a pool of their own: with many partitions at once, their updates, blocked on
    // rows a decide transaction has locked, could otherwise take every connection those lookups wait for.
    this.pool = createPool(config, 6, this.log, { settings: KEYED_LOOKUP_PLANS });
    this.decisionsPool = createPool(config, 2, this.log, {
      // A slow statement fails in Postgres (its COMMIT, already sent, then rolls back) before the
      // client's 15 s query timeout drops the connection with the outcome unknown; a transaction left
      // idle (a stalled evaluator) does not hold its rows' locks for longer than 30 s.
      settings: { ...KEYED_LOOKUP_PLANS, statement_timeout: '10s', idle_in_transaction_session_timeout: '30s' },
      pipeline: true,
    });
    this.completionsPool = createPool(config, 4, this.log, { settings: KEYED_LOOKUP_PLANS });
    this.kafka = new KafkaConnection({
      clientId: config.instanceId,
      brokers: config.kafkaBrokers,
      ...config.kafkaSecurity,
    });
    this.topics = topicsFor(config.topicPrefix);
    this.credentials = new CredentialStore(this.pool, config.credentialCacheMs);
    this.replyToAllowances = new ReplyToAllowances(this.pool, config.credentialCacheMs);
    this.bundles = new BundleStore(this.pool, config.bundleMaxAgeMs);
    this.killSwitches = new KillSwitchStore(this.pool);
    this.signer = { keyId: config.signingKeyId, key: config.signingKey };
    this.signatures = ed25519Threads(config.signatureThreads ?? defaultSignatureThreads());
    this.decideStage = new DecideStage({
      pool: this.decisionsPool,
      bundles: this.bundles,
      killSwitches: this.killSwitches,
      redactor: new InputRedactor({ redactKeys: config.redactKeys, signingKey: config.signingKey }),
      signer: this.signer,
      signatures: this.signatures,
      portalBaseUrl: config.portalBaseUrl,
      log: this.log,
      redoUnwritableForMs: config.redoUnwritableForMs,
    });
    this.decisions = new GroupCommit((intakes, now, context) => this.decideStage.decide(intakes, now, context), {
      maxItems: config.gatesPerTransaction,
      membershipLost: groupMembershipLost,
    });
    this.emitStage = new EmitStage({
      topics: this.topics,
      decisionTopic: (tenantId) =>
        decisionTopicFor(tenantId, { prefix: config.topicPrefix, perTenant: config.tenantDecisionTopics === true }),
      signer: this.signer,
      metrics: this.metrics,
      log: this.log,
      redactKeys: config.redactKeys,
      divergenceSampler: new RateSampler(SHADOW_AUDITS_PER_SECOND),
    });
    this.completions = new CompletionStage({
      pool: this.completionsPool,
      emit: this.emitStage,
      redactKeys: config.redactKeys,
    });
  }

  /** Times a consumer of this instance was recreated after a crash (0 in a healthy run). */
  get consumerRestarts(): number {
    return (this.consumer?.restartCount ?? 0) + (this.policyConsumer?.restartCount ?? 0);
  }

  async start(): Promise<void> {
    if (this.stopped) throw new Error('the evaluator was stopped: start a new instance');
    this.producer = await this.kafka.producer();

    // Every instance must see every policy change, so this subscription is the instance's own.
    this.policyConsumer = this.kafka.messageConsumer({
      groupId: `${this.config.groupId}.policies.${this.config.instanceId}`,
      topics: [this.topics.policies],
      fromBeginning: false,
      // One group per instance: labelled without the instance, which the scrape target names.
      ...consumerLag(this.metrics.registry, `${this.config.groupId}.policies`),
      ...consumerLogs(this.log, { consumer: 'tenant notices', unit: 'message' }),
      // Any notice for a tenant drops what this instance holds of it: its bundle, shadow, kill switches and credentials.
      handle: async (message) => {
        const tenant = message.key?.toString();
        if (tenant) {
          this.bundles.invalidate(tenant);
          this.killSwitches.invalidate(tenant);
          this.credentials.evictTenant(tenant);
          this.replyToAllowances.evictTenant(tenant);
          this.log.info({ tenant }, 'tenant notice: bundle, kill switches and credentials reload on next gate');
        }
      },
    });
    await this.policyConsumer.start();

    this.consumer = this.kafka.batchConsumer({
      groupId: this.config.groupId,
      topics: [this.topics['gate.requests'], this.topics['step.completions']],
      maxWaitTimeInMs: 20,
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      partitionsConcurrently: this.config.partitionsConcurrently,
      ...consumerLag(this.metrics.registry, this.config.groupId),
      ...consumerLogs(this.log, { consumer: 'gate', unit: 'batch' }),
      handle: (batch) => this.handleBatch(batch),
    });
    await this.consumer.start();
    if (this.config.metricsPort !== undefined)
      this.metricsServer = serveOps({
        registry: this.metrics.registry,
        port: this.config.metricsPort,
        ...(this.config.metricsHost ? { host: this.config.metricsHost } : {}),
        documents: { [RECEIPT_KEYS_PATH]: receiptKeySet(this.signer.keyId, this.signer.key) },
        readiness: {
          gate_consumer: () => this.consumer?.ready ?? false,
          policy_consumer: () => this.policyConsumer?.ready ?? false,
          postgres: () => databaseAnswers(this.pool),
        },
      });
    this.log.info(
      { group: this.config.groupId, ed25519: ed25519.name, signature_threads: this.signatures.threads },
      'evaluator running',
    );
  }

  /**
   * Stops the instance; a later call answers as the first did (a failed stop is not run again: its
   * steps ran, and a pool ends only once).
   */
  stop(): Promise<void> {
    return (this.stopped ??= this.stopOnce());
  }

  private stopped: Promise<void> | undefined;

  /** Every step is taken even when an earlier one fails; the failures are thrown together at the end. */
  private async stopOnce(): Promise<void> {
    const failures: unknown[] = [];
    const step = async (end: () => unknown) => {
      try {
        await end();
      } catch (err) {
        failures.push(err);
      }
    };
    await step(() => this.consumer?.stop());
    await step(() => this.policyConsumer?.stop());
    await step(() => this.producer?.disconnect());
    await step(() => this.metricsServer?.close());
    await step(() => this.signatures.close());
    await Promise.all([this.pool, this.completionsPool, this.decisionsPool].map((pool) => step(() => pool.end())));
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, 'the evaluator stopped with failures');
  }

  /**
   * Processes a batch in order, publishes its messages at once, then commits its offsets. If the
   * database is unreachable it stops here until it answers, and the batch is fetched again from the
   * last resolved offset (already-decided requests are republished, not gated again).
   */
  private handleBatch(batch: IncomingBatch): Promise<void> {
    return holdBatchWhileDatabaseDown({ pool: this.pool, batch, log: this.log }, () => this.processBatch(batch));
  }

  private async processBatch(batch: IncomingBatch): Promise<void> {
    const messages: IncomingMessage[] = [];
    for (const message of batch.messages) {
      if (!batch.isActive()) break;
      messages.push(message);
    }
    const last = messages.at(-1)?.offset;
    if (last === undefined) return;
    const outgoing = new BatchMessages(this.topics);
    const sourceOf = (m: IncomingMessage) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset });
    let published: Array<() => void> = [];
    if (batch.topic === this.topics['gate.requests']) {
      const started = performance.now();
      const now = Date.now();
      // Together, so their signatures are checked in one hand-off to the signature threads.
      const intakes = await Promise.all(messages.map((message) => this.intake(message, GATE_REQUEST, now)));
      const decideStarted = performance.now();
      this.stageSeconds.intake.observe((decideStarted - started) / 1000);
      const outcomes = await this.decisions.submit(intakes, now, () => batch.heartbeat());
      this.stageSeconds.decide.observe((performance.now() - decideStarted) / 1000);
      await batch.heartbeat();
      published = messages.map((message, i) =>
        this.emitStage.gate({
          messages: outgoing,
          message,
          intake: intakes[i]!,
          outcome: outcomes[i],
          source: sourceOf(message),
          started,
        }),
      );
    } else {
      for (const message of messages) {
        const got = await this.intake(message, STEP_COMPLETION, Date.now());
        await this.completions.record(message, got, outgoing, sourceOf(message));
        // Throttled by kafkajs to the heartbeat interval: keeps a long batch from costing the membership.
        await batch.heartbeat();
      }
    }
    const publishStarted = performance.now();
    await this.publisher.publish(outgoing);
    if (published.length) this.stageSeconds.publish.observe((performance.now() - publishStarted) / 1000);
    published.forEach((done) => done());
    this.metrics.signatureThreadsDegraded.set(this.signatures.degraded ? 1 : 0);
    batch.resolveOffset(last);
    batch.commit();
    await batch.heartbeat();
  }

  private intake<S extends z.ZodType>(
    message: IncomingMessage,
    kind: MessageKind<S>,
    now: number,
  ): Promise<Intake<z.infer<S>>> {
    return intake(message.value, message.headers, {
      ...kind,
      credentials: this.credentials,
      verify: (check) => verifyBytesOn(this.signatures, check),
      ...(kind.repliesTo ? { replyToAllowance: (t: string) => this.replyToAllowances.get(t) } : {}),
      now,
      maxClockSkewMs: this.config.maxClockSkewMs,
    });
  }
}
