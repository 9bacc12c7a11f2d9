import type { Server } from 'node:http';
import {
  KafkaConnection,
  type GroupConsumer,
  type IncomingBatch,
  type IncomingMessage,
  type MessageProducer,
  type MessageSource,
  deadLetter,
} from '@stepgate/messaging';
import type pg from 'pg';
import pino, { type Logger } from 'pino';
import type { z } from 'zod';
import {
  GateRequestSchema,
  RECEIPT_KEYS_PATH,
  StepCompletionSchema,
  topicsFor,
  type ApprovalRequest,
  type GateRequest,
  type StepCompletion,
  type TopicName,
} from '@stepgate/contracts';
import { ed25519, receiptKeySet } from '@stepgate/contracts/node';
import {
  KEYED_LOOKUP_PLANS,
  createPool,
  databaseAnswers,
  holdBatchWhileDatabaseDown,
  serveOps,
} from '@stepgate/runtime';
import { StepLedgerRepository } from '@stepgate/store';
import { BundleStore } from './bundles.js';
import type { EvaluatorConfig } from './config.js';
import { CredentialStore } from './credentials.js';
import { errorDecision, sign, type Signer } from './decisions.js';
import { intake, type Intake } from './intake.js';
import { endGateSpan, startGateSpan, traceHeaders } from './tracing.js';
import { BatchLedger, ConcurrentFirstGate } from './batch-ledger.js';
import { gate, type GateOutcome } from './ledger.js';
import { EvaluatorMetrics } from './metrics.js';
import { Outbox, summarize } from './outbox.js';
import { Publisher } from './publisher.js';

interface MessageKind<S> {
  schema: S;
  idField: string;
  timeField: string;
}
const GATE_REQUEST: MessageKind<typeof GateRequestSchema> = {
  schema: GateRequestSchema,
  idField: 'request_id',
  timeField: 'requested_at',
};
const STEP_COMPLETION: MessageKind<typeof StepCompletionSchema> = {
  schema: StepCompletionSchema,
  idField: 'completion_id',
  timeField: 'completed_at',
};

/**
 * A stateless evaluator worker: one member of the consumer group over `gate.requests` and
 * `step.completions`. Everything it knows lives in Postgres; offsets are committed only after the
 * ledger writes committed and the batch's decisions were published (at-least-once, idempotent effects).
 */
export class Evaluator {
  readonly metrics = new EvaluatorMetrics();
  private readonly log: Logger;
  private readonly pool: pg.Pool;
  private readonly kafka: KafkaConnection;
  private readonly topics: Record<TopicName, string>;
  private readonly credentials: CredentialStore;
  private readonly bundles: BundleStore;
  private readonly signer: Signer;
  private consumer: GroupConsumer | undefined;
  private policyConsumer: GroupConsumer | undefined;
  private producer: MessageProducer | undefined;
  private readonly publisher = new Publisher(() => this.producer!);
  private metricsServer: Server | undefined;

  constructor(
    private readonly config: EvaluatorConfig,
    logger?: Logger,
  ) {
    this.log = logger ?? pino({ name: 'evaluator', base: { instance: config.instanceId } });
    this.pool = createPool(config, config.partitionsConcurrently + 4, this.log, { settings: KEYED_LOOKUP_PLANS });
    this.kafka = new KafkaConnection({ clientId: config.instanceId, brokers: config.kafkaBrokers });
    this.topics = topicsFor(config.topicPrefix);
    this.credentials = new CredentialStore(this.pool, config.credentialCacheMs);
    this.bundles = new BundleStore(this.pool);
    this.signer = { keyId: config.signingKeyId, key: config.signingKey };
  }

  async start(): Promise<void> {
    this.producer = await this.kafka.producer();

    // Every instance must see every policy change, so this subscription is the instance's own.
    this.policyConsumer = this.kafka.messageConsumer({
      groupId: `${this.config.groupId}.policies.${this.config.instanceId}`,
      topics: [this.topics.policies],
      fromBeginning: false,
      handle: async (message) => {
        const tenant = message.key?.toString();
        if (tenant) {
          this.bundles.invalidate(tenant);
          this.log.info({ tenant }, 'policy bundle changed; reloading on next gate');
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
      onBatchEnd: ({ topic, partition, offsetLag }) =>
        this.metrics.consumerLag.set({ topic, partition: String(partition) }, offsetLag),
      onCommitError: (err) => this.log.warn({ error: String(err) }, 'offset commit failed; the next one covers it'),
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
    this.log.info({ group: this.config.groupId, ed25519: ed25519.name }, 'evaluator running');
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    await this.policyConsumer?.stop();
    await this.producer?.disconnect();
    this.metricsServer?.close();
    await this.pool.end();
  }

  /**
   * Processes a batch in order, publishes its messages at once, then commits its offsets. If the
   * database is unreachable it stops here until it answers, and the batch is redone from the last
   * committed offset (already-decided requests are republished, not gated again).
   */
  private handleBatch(batch: IncomingBatch): Promise<void> {
    return holdBatchWhileDatabaseDown(
      this.pool,
      () => batch.heartbeat(),
      this.log,
      () => this.processBatch(batch),
    );
  }

  private async processBatch(batch: IncomingBatch): Promise<void> {
    const outbox = new Outbox(this.topics);
    const published: Array<() => void> = [];
    const messages: IncomingMessage[] = [];
    for (const message of batch.messages) {
      if (!batch.isActive()) break;
      messages.push(message);
    }
    const last = messages.at(-1)?.offset;
    if (last === undefined) return;
    const sourceOf = (m: IncomingMessage) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset });
    if (batch.topic === this.topics['gate.requests']) {
      published.push(...(await this.handleGateRequests(messages, outbox, sourceOf, () => batch.heartbeat())));
    } else {
      for (const message of messages) {
        await this.handleCompletion(message, outbox, sourceOf(message));
        // Throttled by kafkajs to the heartbeat interval: keeps a long batch from costing the membership.
        await batch.heartbeat();
      }
    }
    await this.publisher.publish(outbox);
    published.forEach((done) => done());
    batch.resolveOffset(last);
    batch.commit();
    await batch.heartbeat();
  }

  private toDlq(outbox: Outbox, message: IncomingMessage, source: MessageSource, reason: string, detail: string): void {
    this.metrics.dlq.inc({ reason });
    outbox.push(deadLetter({ topic: this.topics.dlq, original: message, source, reason, detail }));
    this.log.warn({ reason, detail, ...source }, 'message sent to dlq');
  }

  private intake<S extends z.ZodType>(
    message: IncomingMessage,
    kind: MessageKind<S>,
    now: number,
  ): Promise<Intake<z.infer<S>>> {
    return intake(message.value, message.headers, {
      ...kind,
      credentials: this.credentials,
      now,
      maxClockSkewMs: this.config.maxClockSkewMs,
    });
  }

  /**
   * Decides a batch of gate requests in order, in one transaction over the batch's ledger state, and
   * fills the outbox. Returns callbacks that record metrics once the batch is published.
   */
  private async handleGateRequests(
    messages: IncomingMessage[],
    outbox: Outbox,
    sourceOf: (m: IncomingMessage) => MessageSource,
    heartbeat: () => Promise<void>,
  ): Promise<Array<() => void>> {
    const started = performance.now();
    const now = Date.now();
    const intakes: Array<Intake<GateRequest>> = [];
    for (const message of messages) intakes.push(await this.intake(message, GATE_REQUEST, now));
    const outcomes = await this.decideAllOrEach(intakes, now);
    await heartbeat();
    return messages.map((message, i) =>
      this.emitDecision(message, intakes[i]!, outcomes[i], outbox, sourceOf(message), started),
    );
  }

  /**
   * When the batch's transaction fails while Postgres answers, a request in it is at fault: the
   * requests are then decided one at a time, and one that still cannot be recorded is blocked
   * (ENGINE_ERROR, fail closed) instead of holding the partition for ever.
   */
  private async decideAllOrEach(
    intakes: Array<Intake<GateRequest>>,
    now: number,
  ): Promise<Array<GateOutcome | undefined>> {
    try {
      return await this.decideAll(intakes, now);
    } catch (err) {
      if (!(await databaseAnswers(this.pool))) throw err;
    }
    const outcomes: Array<GateOutcome | undefined> = [];
    for (const got of intakes) {
      try {
        outcomes.push(...(await this.decideAll([got], now)));
      } catch (err) {
        if (!(await databaseAnswers(this.pool)) || got.kind !== 'accepted') throw err;
        const reason = `the request could not be recorded: ${err instanceof Error ? err.message : String(err)}`;
        this.log.error(
          { request_id: got.attribution.id, error: reason },
          'request blocked: Postgres refused its ledger write',
        );
        outcomes.push({
          body: errorDecision(got.attribution, got.credential.tenantId, 'ENGINE_ERROR', reason, undefined, now),
          redelivered: false,
        });
      }
    }
    return outcomes;
  }

  /** The batch's ledger transaction; every new decision is signed and recorded in it. */
  private async decideAll(intakes: Array<Intake<GateRequest>>, now: number): Promise<Array<GateOutcome | undefined>> {
    const rejectedOutcome = (got: Intake<GateRequest>): GateOutcome | undefined =>
      got.kind === 'rejected'
        ? {
            body: errorDecision(got.attribution, got.tenantId, got.code, got.message, got.details, now),
            redelivered: false,
          }
        : undefined;
    const keys = intakes.flatMap((got) =>
      got.kind === 'accepted'
        ? [
            {
              tenantId: got.credential.tenantId,
              workflowId: got.body.workflow_id,
              stepId: got.body.step_id,
              userId: got.body.user_id,
              requestId: got.body.request_id,
            },
          ]
        : [],
    );
    if (keys.length === 0) return intakes.map(rejectedOutcome);

    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query('begin');
        const ledger = new BatchLedger(client);
        await ledger.load(keys);
        const outcomes: Array<GateOutcome | undefined> = [];
        for (const got of intakes) {
          if (got.kind !== 'accepted') {
            outcomes.push(rejectedOutcome(got));
            continue;
          }
          const tenantId = got.credential.tenantId;
          const outcome = await gate(ledger, {
            tenantId,
            request: got.body,
            attribution: got.attribution,
            now,
            bundles: this.bundles,
            portalBaseUrl: this.config.portalBaseUrl,
          });
          if (!outcome.redelivered) {
            outcome.stored = sign(outcome.body, this.signer);
            ledger.recordDecision(tenantId, got.body.request_id, outcome.stored);
          }
          outcomes.push(outcome);
        }
        await ledger.flush();
        await client.query('commit');
        return outcomes;
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        if (err instanceof ConcurrentFirstGate && attempt === 0) continue;
        throw err;
      } finally {
        client.release();
      }
    }
  }

  private emitDecision(
    message: IncomingMessage,
    got: Intake<GateRequest>,
    outcome: GateOutcome | undefined,
    outbox: Outbox,
    source: MessageSource,
    started: number,
  ): () => void {
    if (got.kind === 'dlq' || !outcome) {
      if (got.kind === 'dlq') this.toDlq(outbox, message, source, got.reason, got.detail);
      return () => undefined;
    }
    const signed = outcome.stored ?? sign(outcome.body, this.signer);
    const body = outcome.body;
    const span = startGateSpan(message.headers, source.topic, performance.timeOrigin + started);
    outbox.add('gate.decisions', body.workflow_id ?? got.attribution.id, signed, traceHeaders(span));

    const raw = got.attribution.raw;
    const str = (k: string) => (typeof raw[k] === 'string' ? raw[k] : null);
    if (!outcome.redelivered) {
      const action =
        got.kind === 'accepted'
          ? 'GateEvaluated'
          : got.code === 'UNAUTHENTICATED' || got.code === 'TENANT_MISMATCH'
            ? 'AuthenticationFailed'
            : 'InvalidRequest';
      outbox.audit({
        tenant_id: body.tenant_id,
        agent_id: str('agent_id'),
        session_id: str('session_id'),
        user_id: str('user_id'),
        workflow_id: body.workflow_id,
        step_id: body.step_id,
        action,
        outcome: body.decision,
        inputs_summary: summarize(raw, this.config.redactKeys),
        elapsed_ms: performance.now() - started,
        decision_id: body.decision_id,
        decision: body.decision,
        policies_matched: body.policies_matched.map((p) => p.policy_id),
        error_code: body.error?.code ?? null,
        detail: {
          request_id: body.request_id,
          decision_source: body.decision_source,
          reason: body.reason,
          ...(got.kind === 'rejected'
            ? { principal: got.credential?.principal ?? null, claimed_tenant_id: raw.tenant_id ?? null }
            : {
                principal: got.credential.principal,
                execution_mode: got.body.execution_mode ?? 'interactive',
                tool_name: got.body.tool_context?.tool_name ?? null,
                tool_access: outcome.tool_access ?? null,
              }),
        },
      });
      if (outcome.approval && got.kind === 'accepted')
        this.requestApproval(outbox, got.body, got.credential.principal, body, outcome.approval, raw);
    }

    const requestedAt = Date.parse(String(raw.requested_at));
    return () => {
      endGateSpan(
        span,
        {
          'stepgate.tenant_id': body.tenant_id ?? undefined,
          'stepgate.workflow_id': body.workflow_id ?? undefined,
          'stepgate.step_id': body.step_id ?? undefined,
          'stepgate.request_id': body.request_id,
          'stepgate.decision': body.decision,
          'stepgate.decision_source': outcome.redelivered ? 'redelivered' : body.decision_source,
          'stepgate.error_code': body.error?.code,
        },
        body.error?.code === 'ENGINE_ERROR',
      );
      this.metrics.decisions.inc({
        decision: body.decision,
        source: outcome.redelivered ? 'redelivered' : body.decision_source,
        error_code: body.error?.code ?? '',
      });
      this.metrics.evaluationSeconds.observe((performance.now() - started) / 1000);
      if (Number.isFinite(requestedAt))
        this.metrics.endToEndSeconds.observe(Math.max(0, Date.now() - requestedAt) / 1000);
    };
  }

  private requestApproval(
    outbox: Outbox,
    request: GateRequest,
    principal: string,
    body: GateOutcome['body'],
    approval: NonNullable<GateOutcome['approval']>,
    raw: Record<string, unknown>,
  ): void {
    const event: ApprovalRequest = {
      type: 'approval.requested',
      approval_id: approval.approval_id,
      tenant_id: body.tenant_id!,
      workflow_id: request.workflow_id,
      step_id: request.step_id,
      step_name: request.step_name ?? null,
      step_type: request.step_type,
      request_id: request.request_id,
      decision_id: body.decision_id,
      requested_by: { principal, user_id: request.user_id ?? null, agent_id: request.agent_id ?? null },
      reason: body.reason,
      severity: approval.severity,
      timeout_seconds: approval.timeout_seconds,
      policies_matched: body.policies_matched,
      inputs_summary: summarize(raw, this.config.redactKeys),
      reply_to: request.reply_to ?? null,
      requested_at: body.decided_at,
      usage_increments: approval.usage_increments,
    };
    outbox.add('approvals', approval.approval_id, event);
  }

  private async handleCompletion(message: IncomingMessage, outbox: Outbox, source: MessageSource): Promise<void> {
    const started = performance.now();
    const got: Intake<StepCompletion> = await this.intake(message, STEP_COMPLETION, Date.now());
    if (got.kind !== 'accepted') {
      this.toDlq(
        outbox,
        message,
        source,
        got.kind === 'dlq' ? got.reason : got.code,
        got.kind === 'dlq' ? got.detail : got.message,
      );
      return;
    }
    const c = got.body;
    const tenantId = got.credential.tenantId;
    // Counted once per completion_id: a redelivery is audited again but not counted again.
    const counted = await new StepLedgerRepository(this.pool).recordCompletion({
      tenantId,
      workflowId: c.workflow_id,
      stepId: c.step_id,
      completionId: c.completion_id,
      outputAvailable: c.output !== undefined,
    });
    const rowCount = counted !== 'unknown_step';
    outbox.audit({
      tenant_id: tenantId,
      agent_id: null,
      session_id: null,
      user_id: null,
      workflow_id: c.workflow_id,
      step_id: c.step_id,
      action: 'StepCompleted',
      outcome: rowCount ? 'Completed' : 'UnknownStep',
      inputs_summary: summarize({ step_input: c.output }, this.config.redactKeys),
      elapsed_ms: performance.now() - started,
      decision_id: null,
      decision: null,
      policies_matched: [],
      error_code: rowCount ? null : 'UNKNOWN_STEP',
      detail: {
        completion_id: c.completion_id,
        tokens_in: c.tokens_in ?? null,
        tokens_out: c.tokens_out ?? null,
        cost_usd: c.cost_usd ?? null,
      },
    });
  }
}
