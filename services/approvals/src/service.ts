import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import {
  KafkaConnection,
  deadLetter,
  header,
  kafkaUnreachable,
  MessageAbandoned,
  type GroupConsumer,
  type IncomingMessage,
  type MessageContext,
  type MessageProducer,
  type MessageSource,
} from '@stepgate/messaging';
import type pg from 'pg';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import {
  ApprovalEventSchema,
  approvalActionDigest,
  clip,
  HEADER_KEY_ID,
  HEADER_SIGNATURE,
  jsonTextDepth,
  MAX_JSON_DEPTH,
  RECEIPT_KEYS_PATH,
  decisionTopicFor,
  topicsFor,
  type ApprovalRequest,
  type DecisionBody,
  type TopicName,
} from '@stepgate/contracts';
import { receiptKeySet, verifyBytes } from '@stepgate/contracts/node';
import { consumerLag, consumerLogs, createPool, databaseAnswers, serveOps } from '@stepgate/runtime';
import { StepLedgerRepository } from '@stepgate/store';
import { createActivities, type ApprovalActivities, type OutcomeInput } from './activities.js';
import { classifyStartFailure, START_ATTEMPTS } from './start-failures.js';
import { APPROVAL_START_REFUSED, unavailableOutcome, unavailableOutcomeIds } from './unavailable.js';
import type { ApprovalsConfig } from './config.js';
import {
  approvalWorkflowId,
  GOVERNED_WORKFLOW_ATTRIBUTE,
  STATUS_ATTRIBUTE,
  statusQuery,
  TENANT_ATTRIBUTE,
  type ApprovalInput,
  type ApprovalMemo,
} from '@stepgate/approvals-client/definitions';
import { approvalWorkflow } from './workflows/approval.js';

/**
 * What became of one approval request taken from the topic: `started`, its workflow runs (new or not);
 * `replaced`, a run of an earlier decision of the step was ended and this one started.
 */
export type IntakeResult = 'started' | 'replaced' | 'already_resolved' | 'superseded' | 'unknown_step';

/**
 * What became of the step of a request whose approval could not be started: `blocked`, the block with
 * APPROVAL_UNAVAILABLE recorded and published; `republished`, a delivery of the request again published
 * that recorded block again; `not_waiting`, the step waited for this decision no more (nothing to do);
 * `failed`, the block could not be recorded or published (the step may be blocked unannounced, or still
 * wait: alert on it); `republish_failed`, a delivery again could not look its block up (the ordinary
 * case: there is none); `run_waiting`, a run waits for this very decision (its approvers decide: nothing
 * blocked).
 */
export type UnavailableResult =
  'blocked' | 'republished' | 'not_waiting' | 'failed' | 'republish_failed' | 'run_waiting';

/**
 * The approvals service: turns `approval.requested` events into approval workflows (one per approval
 * id, however often the event is delivered) and hosts the Temporal worker that runs them.
 */
export class ApprovalsService {
  readonly registry = new Registry();
  private readonly intakeCounter = new Counter({
    name: 'stepgate_approval_requests_total',
    help: 'Approval requests taken from the topic, by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private readonly unavailableCounter = new Counter({
    name: 'stepgate_approvals_unavailable_total',
    help: 'Authentic approval requests whose approval could not be started, by what became of their step (failed: it may still wait)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private readonly log: Logger;
  private readonly pool: pg.Pool;
  private readonly kafka: KafkaConnection;
  private readonly topics: Record<TopicName, string>;
  private producer: MessageProducer | undefined;
  /** The approval activities: the worker's, and the intake's when it blocks the step of an approval that could not be started. */
  private activities: ApprovalActivities | undefined;
  private consumer: GroupConsumer | undefined;
  private connection: Connection | undefined;
  private workerConnection: NativeConnection | undefined;
  private worker: Worker | undefined;
  private workerRun: Promise<void> | undefined;
  private readonly clients = new Map<string, Client>();
  /** Whose signed approval requests start approvals: the evaluators' receipt keys, this service's own included. */
  private readonly requestKeys: ReadonlyMap<string, KeyObject>;
  private metricsServer: Server | undefined;

  constructor(
    private readonly config: ApprovalsConfig,
    logger?: Logger,
  ) {
    this.log = logger ?? pino({ name: 'approvals', base: { instance: config.instanceId } });
    this.pool = createPool(config, 8, this.log);
    this.kafka = new KafkaConnection({
      clientId: config.instanceId,
      brokers: config.kafkaBrokers,
      ...config.kafkaSecurity,
    });
    this.topics = topicsFor(config.topicPrefix);
    this.requestKeys = new Map([
      [config.signingKeyId, createPublicKey(config.signingKey)],
      ...(config.evaluatorKeys ?? []),
    ]);
    collectDefaultMetrics({ register: this.registry });
  }

  /** A client of the service's namespace, or of the namespace a `reply_to` names. */
  client(namespace = this.config.temporalNamespace): Client {
    let c = this.clients.get(namespace);
    if (!c) {
      c = new Client({ connection: this.connection!, namespace });
      this.clients.set(namespace, c);
    }
    return c;
  }

  /** Times the intake consumer was recreated after a crash (0 in a healthy run). */
  get consumerRestarts(): number {
    return this.consumer?.restartCount ?? 0;
  }

  async start(): Promise<void> {
    this.producer = await this.kafka.producer();
    const temporal = this.config.temporal ?? { address: this.config.temporalAddress };
    this.connection = await Connection.connect(temporal);
    this.workerConnection = await NativeConnection.connect(temporal);

    this.activities = createActivities({
      pool: this.pool,
      producer: this.producer,
      topics: this.topics,
      decisionTopic: (tenantId) =>
        decisionTopicFor(tenantId, {
          prefix: this.config.topicPrefix,
          perTenant: this.config.tenantDecisionTopics === true,
        }),
      signer: { keyId: this.config.signingKeyId, key: this.config.signingKey },
      temporalClient: (ns) => this.client(ns),
      portalBaseUrl: this.config.portalBaseUrl,
      allowLoopbackWebhooks: this.config.allowLoopbackWebhooks === true,
    });
    const ext = path.extname(fileURLToPath(import.meta.url));
    this.worker = await Worker.create({
      connection: this.workerConnection,
      namespace: this.config.temporalNamespace,
      taskQueue: this.config.taskQueue,
      workflowsPath: fileURLToPath(new URL(`./workflows/index${ext}`, import.meta.url)),
      // From TypeScript sources (tests, dev) the workflow bundle takes workspace packages from theirs too.
      ...(ext === '.ts'
        ? {
            bundlerOptions: {
              webpackConfigHook: (config) => ({
                ...config,
                resolve: { ...config.resolve, conditionNames: ['source', '...'] },
              }),
            },
          }
        : {}),
      activities: this.activities,
    });
    this.workerRun = this.worker.run();
    this.workerRun.catch((err: unknown) =>
      this.log.fatal({ error: err instanceof Error ? err.message : String(err) }, 'temporal worker failed'),
    );

    this.consumer = this.kafka.messageConsumer({
      groupId: this.config.groupId,
      topics: [this.topics.approvals],
      maxWaitTimeInMs: 50,
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      ...consumerLag(this.registry, this.config.groupId),
      ...consumerLogs(this.log, { consumer: 'approvals', unit: 'message' }),
      handle: (message, context) => this.handleMessage(message, context),
    });
    await this.consumer.start();
    if (this.config.metricsPort !== undefined)
      this.metricsServer = serveOps({
        registry: this.registry,
        port: this.config.metricsPort,
        ...(this.config.metricsHost ? { host: this.config.metricsHost } : {}),
        documents: { [RECEIPT_KEYS_PATH]: receiptKeySet(this.config.signingKeyId, this.config.signingKey) },
        readiness: {
          approvals_consumer: () => this.consumer?.ready ?? false,
          temporal_worker: () => this.worker?.getState() === 'RUNNING',
          temporal: () => this.temporalAnswers(),
          postgres: () => databaseAnswers(this.pool),
        },
      });
    this.log.info({ group: this.config.groupId, taskQueue: this.config.taskQueue }, 'approvals service running');
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    if (this.worker && this.worker.getState() === 'RUNNING') this.worker.shutdown();
    await this.workerRun?.catch(() => undefined);
    await this.workerConnection?.close();
    await this.connection?.close();
    await this.producer?.disconnect();
    this.metricsServer?.close();
    await this.pool.end();
  }

  private async handleMessage(message: IncomingMessage, context: MessageContext): Promise<void> {
    const source: MessageSource = { topic: context.topic, partition: context.partition, offset: message.offset };
    // Bounded before anything recursive sees the bytes (an approval event carries a request's summary).
    const size = message.value?.length ?? 0;
    if (size > MAX_APPROVAL_EVENT_BYTES)
      return this.toDlq(
        message,
        source,
        'OVERSIZE',
        `value is ${size} bytes; the limit is ${MAX_APPROVAL_EVENT_BYTES}`,
      );
    if (message.value && jsonTextDepth(message.value, MAX_APPROVAL_EVENT_DEPTH) > MAX_APPROVAL_EVENT_DEPTH)
      return this.toDlq(message, source, 'TOO_DEEP', `value nests more than ${MAX_APPROVAL_EVENT_DEPTH} levels`);
    let value: unknown;
    try {
      value = JSON.parse(message.value?.toString('utf8') ?? '');
    } catch {
      return this.toDlq(message, source, 'NOT_UTF8_JSON', 'the value is not JSON');
    }
    const parsed = ApprovalEventSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.toDlq(
        message,
        source,
        'INVALID_APPROVAL_EVENT',
        clip(`${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`),
      );
    }
    if (parsed.data.type !== 'approval.requested') return;
    // Only an evaluator's request starts an approval: whoever else can write to the topic cannot ask
    // for one, nor change what approvers are shown, whom the outcome is signalled to or who may decide.
    const keyId = header(message.headers, HEADER_KEY_ID);
    const signature = header(message.headers, HEADER_SIGNATURE);
    const key = keyId === undefined ? undefined : this.requestKeys.get(keyId);
    if (!key || signature === undefined || !verifyBytes(key, message.value!, signature))
      return this.toDlq(
        message,
        source,
        'UNAUTHENTICATED',
        key
          ? "the signature is not the named evaluator key's signature of the value"
          : `expected ${HEADER_KEY_ID} naming an evaluator key and ${HEADER_SIGNATURE}`,
      );
    const request = parsed.data;
    const heartbeat = () => context.heartbeat();
    // Temporal or Postgres being down is not the message's fault: wait for them, keep the partition's
    // order. A start that fails while both answer is classified by its error (start-failures.ts).
    const failures = { transient: 0, unknown: 0 };
    let result: IntakeResult;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        result = await this.startApproval(request, heartbeat);
        break;
      } catch (err) {
        if (err instanceof MessageAbandoned) throw err;
        const error = describeError(err);
        // A request Temporal or Postgres refuses as such goes at once; a failure of the moment, or one of
        // no known kind while both answer, is retried a bounded number of times (a momentary fault must
        // not leave the step pending without an approval, nor one bad request hold the partition).
        const kind = classifyStartFailure(err);
        if (kind === 'refused') return this.startRefused(message, source, request, error, heartbeat);
        // Only failures while both answer count: an outage is waited out, however long.
        const servicesAnswer = (await databaseAnswers(this.pool)) && (await this.temporalAnswers());
        if (servicesAnswer && ++failures[kind] >= START_ATTEMPTS[kind])
          return this.startRefused(message, source, request, error, heartbeat);
        this.log.error(
          { approval_id: request.approval_id, error, retry_in_ms: delay },
          'could not start the approval; retrying',
        );
        await pause(delay, heartbeat);
      }
    }
    this.intakeCounter.inc({ result });
    this.log.info({ approval_id: request.approval_id, tenant: request.tenant_id, result }, 'approval request taken');
    // Delivered again after its step was blocked as unavailable (before the decision was published, or
    // before the offset was committed): that same decision is published again.
    if (result === 'already_resolved') await this.failClosed(request, 'republish', heartbeat);
  }

  /**
   * An authentic request whose approval cannot be started: nobody could ever decide it, so its step, if
   * it still waits for this very decision, is blocked at once (fail closed, and answered: whoever waits
   * for the approval gets a signed block with APPROVAL_UNAVAILABLE), then the request goes to the dlq.
   * Only requests whose signature verified come here: nobody else can have a step blocked this way. A
   * run already waiting for this very decision (a start that did happen though its call failed, or a
   * delivery again while Temporal refuses calls it once took) is left to decide: nothing is blocked,
   * and the request goes to the dlq as before. When Temporal cannot say (asked a few times), the step is
   * blocked: a run that waits after all then decides nothing (its outcome is superseded by the block),
   * which fails closed and answers, where leaving the step would leave it pending with nobody told.
   */
  private async startRefused(
    message: IncomingMessage,
    source: MessageSource,
    request: ApprovalRequest,
    error: string,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    const running = await this.runOfDecisionWaits(request, heartbeat);
    let result: UnavailableResult | undefined;
    try {
      result = running ? 'run_waiting' : await this.failClosed(request, 'block', heartbeat);
    } catch (err) {
      // Given up, the block perhaps recorded: a delivery again that finds the step resolved publishes the
      // block again and takes no such path, so the refused request goes to the dlq now (once more, if
      // nothing was recorded and a delivery again comes this way). A failed dlq write must not hide
      // the abandonment (kafkajs is to be told of a lost membership).
      if (err instanceof MessageAbandoned)
        await this.toDlq(message, source, APPROVAL_START_REFUSED, error, 'start_refused').catch((dlqErr: unknown) =>
          this.log.warn(
            { approval_id: request.approval_id, error: clip(describeError(dlqErr), 1_000) },
            'could not send a refused approval request to the dlq while giving it up',
          ),
        );
      throw err;
    }
    if (result === 'run_waiting') this.unavailableCounter.inc({ result });
    this.log.error(
      {
        approval_id: request.approval_id,
        tenant: clip(request.tenant_id),
        reason: APPROVAL_START_REFUSED,
        error: clip(error, 1_000),
        step: result,
      },
      'the approval could not be started',
    );
    await this.toDlq(message, source, APPROVAL_START_REFUSED, error, 'start_refused');
  }

  /**
   * Whether a run of the request's approval waits for this very decision. Temporal is asked up to
   * RUN_QUERY_ATTEMPTS times; if it never answers, false (the caller blocks: see startRefused).
   */
  private async runOfDecisionWaits(request: ApprovalRequest, heartbeat: () => Promise<void>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        const d = await this.client().workflow.getHandle(approvalWorkflowId(request.approval_id)).describe();
        return d.status.name === 'RUNNING' && memoNamesDecision(d.memo?.approval ?? {}, request);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError || attempt >= RUN_QUERY_ATTEMPTS) return false;
        await pause(1_000, heartbeat);
      }
    }
  }

  /**
   * Blocks the step of a request whose approval could not be started (`block`), through the activities'
   * own path (recordOutcome, publishOutcome, notifyOrchestrator): the ledger, the recorded outcome, the
   * abort, the signed decision, the audit events and `workflow.aborted`, under ids derived from the
   * request. Only a step that still waits for this very decision is blocked; one blocked so already (a
   * delivery again, `republish` too) has that same decision published again. The orchestrator's signal
   * is best effort. Undefined: `republish` found no block to publish again (the ordinary case).
   */
  private async failClosed(
    request: ApprovalRequest,
    mode: 'block' | 'republish',
    heartbeat: () => Promise<void>,
  ): Promise<UnavailableResult | undefined> {
    const decidedAt = new Date().toISOString();
    const found = await this.bounded(
      request,
      'record',
      () => this.recordUnavailable(request, mode, decidedAt),
      heartbeat,
    );
    if (found === null && mode === 'republish') return undefined;
    // A delivery again of an ordinary request whose lookup failed: nothing known to be unpublished.
    if (found === GAVE_UP && mode === 'republish') {
      this.unavailableCounter.inc({ result: 'republish_failed' });
      return 'republish_failed';
    }
    const result: UnavailableResult =
      found === GAVE_UP
        ? 'failed'
        : found === null
          ? 'not_waiting'
          : await this.publishUnavailable(request, found, mode, heartbeat);
    this.unavailableCounter.inc({ result });
    if (result === 'failed')
      this.log.error(
        { approval_id: request.approval_id, tenant: clip(request.tenant_id), reason: APPROVAL_START_REFUSED },
        'the step of an approval that could not be started could not be blocked, or its block not published',
      );
    return result;
  }

  /** Publishes the recorded block (the decision, audit, abort) and signals the orchestrator, if any. */
  private async publishUnavailable(
    request: ApprovalRequest,
    { outcome, decision }: { outcome: OutcomeInput; decision: DecisionBody },
    mode: 'block' | 'republish',
    heartbeat: () => Promise<void>,
  ): Promise<UnavailableResult> {
    const acts = this.activities!;
    const publish = () => acts.publishOutcome({ outcome, decision, kill_switch: null });
    if ((await this.bounded(request, 'publish', publish, heartbeat)) === GAVE_UP) return 'failed';
    if (request.reply_to) await this.notifyBestEffort(outcome, heartbeat);
    return mode === 'block' ? 'blocked' : 'republished';
  }

  /**
   * The block of the request's step as recorded (before: published again as it was), or recorded now if
   * the step still waits for this very decision (`block` only); null: nothing to publish.
   */
  private async recordUnavailable(
    request: ApprovalRequest,
    mode: 'block' | 'republish',
    decidedAt: string,
  ): Promise<{ outcome: OutcomeInput; decision: DecisionBody } | null> {
    const { decision_id } = unavailableOutcomeIds(request);
    const earlier = await new StepLedgerRepository(this.pool).appliedOutcome({
      tenantId: request.tenant_id,
      decisionId: decision_id,
    });
    if (earlier)
      return { outcome: unavailableOutcome(request, earlier.decision.decided_at), decision: earlier.decision };
    if (mode === 'republish') return null;
    const row = await this.stepOf(request);
    if (row?.approvalStatus !== 'pending' || row.decisionId !== request.decision_id) return null;
    const outcome = unavailableOutcome(request, decidedAt);
    const recorded = await this.activities!.recordOutcome(outcome);
    return recorded.applied ? { outcome, decision: recorded.decision } : null;
  }

  /**
   * Signals the orchestrator named in `reply_to`, beating `heartbeat` while it waits; a failure, or no
   * answer within NOTIFY_TIMEOUT_MS, is logged, never thrown (the decision is published already).
   */
  private async notifyBestEffort(outcome: OutcomeInput, heartbeat: () => Promise<void>): Promise<void> {
    const log = (error: string) =>
      this.log.warn(
        { approval_id: outcome.request.approval_id, error },
        'could not signal the orchestrator that its approval could not be started (the decision is published)',
      );
    const signal = this.activities!.notifyOrchestrator({
      outcome,
      cancel: this.config.cancelOrchestratorOnReject,
      kill_switch: null,
    }).catch((err: unknown) => log(clip(describeError(err), 1_000)));
    try {
      if (!(await closesWithin({ result: () => signal }, NOTIFY_TIMEOUT_MS, heartbeat)))
        log(`no answer within ${NOTIFY_TIMEOUT_MS} ms`);
    } catch (err) {
      // The signal is sent: a consumer that stops meanwhile need not wait for its answer.
      if (!(err instanceof MessageAbandoned)) throw err;
    }
  }

  /**
   * Runs `effect` until it succeeds. Postgres down is waited out, however long (as for a start);
   * failures while it answers count, and the UNAVAILABLE_ATTEMPTS-th gives up (GAVE_UP): whatever the
   * request holds, it does not hold the partition.
   */
  private async bounded<T>(
    request: ApprovalRequest,
    what: 'record' | 'publish',
    effect: () => Promise<T>,
    heartbeat: () => Promise<void>,
  ): Promise<T | typeof GAVE_UP> {
    let failures = 0;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await beatingWhile(effect(), heartbeat);
      } catch (err) {
        if (err instanceof MessageAbandoned) throw err;
        const error = clip(describeError(err), 1_000);
        // An outage of the service the effect needs is waited out: Postgres for the record, the broker
        // (a connection that fails, a request that times out) for the publication.
        const outage = what === 'record' ? !(await databaseAnswers(this.pool)) : kafkaUnreachable(err);
        const givesUp = !outage && ++failures >= UNAVAILABLE_ATTEMPTS;
        this.log.warn(
          { approval_id: request.approval_id, what, error, ...(givesUp ? {} : { retry_in_ms: delay }) },
          `blocking the step of an approval that could not be started failed${givesUp ? '' : '; retrying'}`,
        );
        if (givesUp) return GAVE_UP;
        await pause(delay, heartbeat);
      }
    }
  }

  private async temporalAnswers(): Promise<boolean> {
    try {
      await this.connection!.workflowService.getSystemInfo({});
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Starts the approval's workflow unless this request was already handled: the ledger says whether
   * the step still waits for this very decision; Temporal dedups a running workflow by its id.
   */
  async startApproval(
    request: ApprovalRequest,
    heartbeat: () => Promise<void> = async () => undefined,
  ): Promise<IntakeResult> {
    const row = await this.stepOf(request);
    if (!row) return 'unknown_step';
    if (row.approvalStatus !== 'pending') return 'already_resolved';
    if (row.decisionId !== request.decision_id) return 'superseded';

    const timeoutSeconds =
      request.timeout_seconds ?? row.tenantApprovalTimeoutSeconds ?? this.config.defaultTimeoutSeconds;
    const expiresAt = new Date(Date.parse(request.requested_at) + timeoutSeconds * 1000).toISOString();
    const input: ApprovalInput = {
      request,
      expires_at: expiresAt,
      reminder_fraction: this.config.reminderFraction,
      cancel_orchestrator_on_reject: this.config.cancelOrchestratorOnReject,
    };
    const earlier = await this.endRunOfEarlierDecision(request, heartbeat);
    if (earlier === 'stale') return 'superseded';
    const memo: ApprovalMemo = {
      decision_id: request.decision_id,
      workflow_id: request.workflow_id,
      step_id: request.step_id,
      step_name: request.step_name,
      step_type: request.step_type,
      reason: request.reason,
      severity: request.severity,
      requested_by: request.requested_by,
      policies_matched: request.policies_matched.map((p) => p.policy_id),
      inputs_summary: request.inputs_summary,
      requested_at: request.requested_at,
      expires_at: expiresAt,
      action_digest: approvalActionDigest(request),
    };
    await this.client().workflow.start(approvalWorkflow, {
      taskQueue: this.config.taskQueue,
      workflowId: approvalWorkflowId(request.approval_id),
      args: [input],
      // A running approval is reused; a closed one may be restarted only because the ledger above
      // says this step waits for a new decision (a re-evaluated step asks again).
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [
        { key: TENANT_ATTRIBUTE, value: request.tenant_id },
        { key: STATUS_ATTRIBUTE, value: 'pending' },
        { key: GOVERNED_WORKFLOW_ATTRIBUTE, value: request.workflow_id },
      ],
      memo: { approval: memo },
    });
    return earlier === 'ended' ? 'replaced' : 'started';
  }

  /**
   * A step re-evaluated while its approval waits asks again under the same approval id: the run still
   * waiting for the earlier decision shows approvers what that decision asked, so it is ended (its
   * outcome could decide nothing: the ledger binds outcomes to their decision) and this one starts.
   * Runs from before the memo named their decision are told apart by when their request was made.
   * `stale`: this request is not the step's current decision any more (read again after the run was
   * found: during a rebalance an earlier request may be taken late), so it must end nothing.
   */
  private async endRunOfEarlierDecision(
    request: ApprovalRequest,
    heartbeat: () => Promise<void>,
  ): Promise<'none' | 'ended' | 'stale'> {
    const id = approvalWorkflowId(request.approval_id);
    let running: { runId: string; memo: Partial<ApprovalMemo> } | undefined;
    try {
      const d = await this.client().workflow.getHandle(id).describe();
      if (d.status.name === 'RUNNING') running = { runId: d.runId, memo: d.memo?.approval ?? {} };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'none';
      throw err;
    }
    if (!running) return 'none';
    if (memoNamesDecision(running.memo, request)) return 'none';
    const row = await this.stepOf(request);
    if (row?.decisionId !== request.decision_id) return 'stale';
    const run = this.client().workflow.getHandle(id, running.runId);
    // A run already decided is publishing its outcome (recorded, or superseded and audited): it is let
    // finish rather than cut short between recording and publishing.
    const state = await run.query(statusQuery).catch(() => undefined);
    if (state && state.status !== 'pending' && (await closesWithin(run, RUN_CLOSE_WAIT_MS, heartbeat))) return 'ended';
    try {
      await run.terminate(`superseded: the step was decided again (decision ${request.decision_id})`);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err; // it closed meanwhile
    }
    this.log.info(
      { approval_id: request.approval_id, run_id: running.runId, decision_id: request.decision_id },
      'approval run of an earlier decision of the step ended: the step was decided again',
    );
    return 'ended';
  }

  /** The request's step as the ledger has it now (undefined: no such step with that approval). */
  private stepOf(request: ApprovalRequest) {
    return new StepLedgerRepository(this.pool).approvalState({
      tenantId: request.tenant_id,
      workflowId: request.workflow_id,
      stepId: request.step_id,
      approvalId: request.approval_id,
    });
  }

  private async toDlq(
    message: IncomingMessage,
    source: MessageSource,
    reason: string,
    detail: string,
    result: 'dlq' | 'start_refused' = 'dlq',
  ): Promise<void> {
    this.intakeCounter.inc({ result });
    this.log.warn({ reason, detail, ...source }, 'approval event sent to dlq');
    await this.producer!.publish([deadLetter({ topic: this.topics.dlq, original: message, source, reason, detail })]);
  }
}

/** The largest approval event read (the broker's default message limit). */
const MAX_APPROVAL_EVENT_BYTES = 1024 * 1024;
/** Deepest approval event read: its policies and summary nest a few levels below a request's limit. */
const MAX_APPROVAL_EVENT_DEPTH = MAX_JSON_DEPTH + 8;

/** Failures (while Postgres answers) of recording or publishing the block of an unavailable approval before it is given up. */
const UNAVAILABLE_ATTEMPTS = 4;
/** Times Temporal is asked whether a run waits for a request's decision before the step is blocked. */
const RUN_QUERY_ATTEMPTS = 3;

/**
 * Whether a run's memo names the request's decision; runs from before the memo named it are told by
 * when their request was made.
 */
function memoNamesDecision(memo: Partial<ApprovalMemo>, request: ApprovalRequest): boolean {
  return memo.decision_id !== undefined
    ? memo.decision_id === request.decision_id
    : memo.requested_at === request.requested_at;
}
/** What `bounded` answers when it gave up. */
const GAVE_UP = Symbol('gave up');
/** How long the orchestrator's signal that its approval could not be started may take. */
const NOTIFY_TIMEOUT_MS = 10_000;

/** The message and its causes (Temporal's ServiceError says little until its gRPC cause). */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = e.cause) parts.push(e.message);
  return parts.length ? parts.join(': ') : String(err);
}

/** How long a run of an earlier decision that is already decided may take to publish and close. */
const RUN_CLOSE_WAIT_MS = 30_000;

/**
 * Awaits `effect`, beating `heartbeat` every second until it settles: a statement or a send may take
 * longer than the group's session (Postgres' query timeout is 15 s), and a missed session only
 * redelivers the request (repeating its dlq entry and signals).
 */
async function beatingWhile<T>(effect: Promise<T>, heartbeat: () => Promise<void>): Promise<T> {
  const beat = setInterval(() => void heartbeat().catch(() => undefined), 1_000);
  try {
    return await effect;
  } finally {
    clearInterval(beat);
  }
}

/**
 * A beat's failure is left to the next beat, except MessageAbandoned: the consumer stops or lost the
 * partition, and the wait ends there (the message is fetched again by whoever has it).
 */
function unlessAbandoned(err: unknown): void {
  if (err instanceof MessageAbandoned) throw err;
}

/** Waits `ms` between attempts, beating `heartbeat` every second meanwhile and once after (MessageAbandoned ends it). */
async function pause(ms: number, heartbeat: () => Promise<void>): Promise<void> {
  const until = performance.now() + ms;
  for (let left = ms; left > 0; left = until - performance.now()) {
    await new Promise<void>((r) => setTimeout(r, Math.min(1_000, left)));
    await heartbeat().catch(unlessAbandoned);
  }
}

/** Whether the run closes (however) within `ms`, beating `heartbeat` every second meanwhile (the group's session). */
async function closesWithin(
  run: { result(): Promise<unknown> },
  ms: number,
  heartbeat: () => Promise<void>,
): Promise<boolean> {
  let closed = false;
  const ended = run.result().then(
    () => (closed = true),
    () => (closed = true),
  );
  for (let waited = 0; !closed && waited < ms; waited += 1_000) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
    await heartbeat().catch(unlessAbandoned);
  }
  return closed;
}
