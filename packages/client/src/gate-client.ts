import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import {
  KafkaConnection,
  type GroupConsumer,
  type KafkaSecurity,
  type MessageProducer,
  type OutgoingMessage,
} from '@stepgate/messaging';
import {
  DEFAULT_TOPIC_PREFIX,
  GateDecisionSchema,
  KEY_ID_PATTERN,
  clientGroupPrefix,
  tenantDecisionTopic,
  MAX_JSON_DEPTH,
  jsonTextDepth,
  topicsFor,
  type GateDecision,
  type GateRequestInput,
  type Receipt,
  type StepCompletion,
  type TopicName,
} from '@stepgate/contracts';
import { privateKeyFromPem, signatureHeaders } from '@stepgate/contracts/node';
import { COMPLETION_SIZE_HINT, localRefusal, sizeRefusal } from './local-refusal.js';
import { fetchReceiptKeys, receiptVerifier } from './receipts.js';
import { newRequestId } from './request-id.js';
import { sendable } from './send-slices.js';

export interface GateClientOptions {
  brokers: string[];
  /** TLS and SASL to the brokers (the orchestrator's own Kafka principal in a secure installation). */
  kafka?: KafkaSecurity;
  /**
   * This orchestrator's tenant, when the installation publishes decisions per tenant
   * (STEPGATE_TENANT_DECISION_TOPICS): the client then reads only `gate.decisions.<tenantId>`, the one
   * topic its Kafka principal may read, and a decision naming another tenant answers nothing. Without
   * it, the shared `gate.decisions`.
   */
  tenantId?: string;
  /** Which decisions topic to read when `tenantId` is given: the tenant's (default) or the shared one. */
  decisionTopic?: 'tenant' | 'shared';
  /** The credential this client signs with (`stepgate credentials create`). */
  keyId: string;
  privateKeyPem: string;
  /**
   * The receipt keys (`evaluatorPublicKeyPem` and/or `evaluatorPublicKeys` by key id): when any is
   * given, every decision's receipt is verified, and one that does not verify rejects its gate.
   */
  evaluatorPublicKeyPem?: string;
  evaluatorPublicKeys?: Record<string, string>;
  /**
   * Where the services publish their receipt keys (`https://evaluator:9464/receipt-keys`; plain http
   * only to a loopback address): fetched once at connect() and pinned, for clients not configured with
   * the keys themselves. No redirect is followed, and the body is capped (`ReceiptKeysUnavailableError`).
   */
  receiptKeysUrl?: string;
  /**
   * Accept decisions without checking their receipts. Only for tests and demos: anyone who can write
   * to the decisions topic could then answer this client's gates.
   */
  insecureSkipReceiptVerification?: boolean;
  topicPrefix?: string;
  clientId?: string;
  /** Default time to wait for a decision. */
  timeoutMs?: number;
}

/** The step fields an orchestrator supplies; request_id and requested_at are filled in. */
export type GateStepRequest = Omit<GateRequestInput, 'request_id' | 'requested_at'> & { request_id?: string };

export class GateTimeoutError extends Error {
  constructor(
    readonly requestId: string,
    readonly waitedMs: number,
    readonly waitingFor: 'decision' | 'approval',
  ) {
    super(`no ${waitingFor} for gate request ${requestId} within ${waitedMs} ms`);
    this.name = 'GateTimeoutError';
  }
}

export class ReceiptVerificationError extends Error {
  constructor(readonly decision: GateDecision) {
    super(
      `a decision arrived whose receipt (key_id ${decision.receipt.key_id}) does not verify with the configured receipt keys`,
    );
    this.name = 'ReceiptVerificationError';
  }
}

/** What a client saw on `gate.decisions` besides decisions. */
export interface GateClientStats {
  /**
   * Records that are not a decision: not JSON, nested too deep, or not the decision schema. Each is
   * skipped (a consumer never stops on one), and counted here.
   */
  undecodable: number;
  /** Decisions ignored because their receipt did not verify or they did not answer the request sent. */
  refused: number;
}

/** A decision nests a few levels (policy refs, error details): deeper than this is not one. */
const MAX_DECISION_DEPTH = MAX_JSON_DEPTH;

/** Neither receipt keys nor the explicit insecure opt-out were configured. */
export class ReceiptKeysRequiredError extends Error {
  constructor() {
    super(
      'GateClient needs receipt keys (evaluatorPublicKeyPem, evaluatorPublicKeys or receiptKeysUrl) to check decisions; insecureSkipReceiptVerification: true opts out',
    );
    this.name = 'ReceiptKeysRequiredError';
  }
}

/**
 * An option the client cannot work with. A key id the evaluator would not even look up (not of the
 * credentials' form) gets every request refused unattributed: each gate would only time out.
 */
export class ClientOptionsError extends Error {
  readonly code = 'INVALID_SETTINGS';

  constructor(
    readonly option: string,
    readonly expected: string,
  ) {
    super(`${option}: expected ${expected}`);
    this.name = 'ClientOptionsError';
  }
}

/** Decisions were seen for a gate, but none was for the request this client sent. */
export class DecisionMismatchError extends Error {
  constructor(
    readonly requestId: string,
    readonly seen: number,
  ) {
    super(
      `${seen} decision(s) for request ${requestId} arrived that did not answer the request this client sent (its hash, workflow or step differ)`,
    );
    this.name = 'DecisionMismatchError';
  }
}

/** A decision as the schema reads it, and the record as it was sent (what its receipt signs). */
interface Received {
  decision: GateDecision;
  sent: SignedRecord;
}
type SignedRecord = { receipt: Receipt } & Record<string, unknown>;

interface Waiter {
  /** Whether a decision answers what this waiter sent (hash of the bytes, tenant, workflow, step; or the step an approval is for). */
  answers?: (d: GateDecision) => boolean;
  resolve: (d: GateDecision) => void;
  reject: (e: Error) => void;
  /** Decisions seen for this id that were refused: the last receipt failure, and the count. */
  refused: { receipt?: GateDecision; mismatched: number };
}

/**
 * Publishes signed step-gate requests and resolves each with its decision, matched by request_id
 * on `gate.decisions` (and, when asked, by approval_id for the outcome of a human approval).
 */
export class GateClient {
  private readonly kafka: KafkaConnection;
  private readonly topics: Record<TopicName, string>;
  private readonly key: KeyObject;
  private receiptVerifies: ReturnType<typeof receiptVerifier>;
  private producer: MessageProducer | undefined;
  private consumer: GroupConsumer | undefined;
  private readonly byRequest = new Map<string, Waiter>();
  private readonly byApproval = new Map<string, Waiter>();
  private readonly approvalOutcomes = new Map<string, GateDecision>();
  private readonly queued: Array<{ message: OutgoingMessage; resolve: () => void; reject: (e: Error) => void }> = [];
  private flushing = false;
  private undecodable = 0;
  private refused = 0;

  constructor(private readonly options: GateClientOptions) {
    this.kafka = new KafkaConnection({
      clientId: options.clientId ?? `stepgate-client-${randomUUID().slice(0, 8)}`,
      brokers: options.brokers,
      ...options.kafka,
    });
    if (typeof options.keyId !== 'string' || !KEY_ID_PATTERN.test(options.keyId))
      throw new ClientOptionsError('keyId', `a credential's key id (${KEY_ID_PATTERN.source})`);
    this.topics = topicsFor(options.topicPrefix ?? DEFAULT_TOPIC_PREFIX);
    this.key = privateKeyFromPem(options.privateKeyPem);
    this.receiptVerifies = receiptVerifier(options);
    if (!this.receiptVerifies && !options.receiptKeysUrl && options.insecureSkipReceiptVerification !== true)
      throw new ReceiptKeysRequiredError();
  }

  /** Counts since this client was made. */
  get stats(): GateClientStats {
    return { undecodable: this.undecodable, refused: this.refused };
  }

  async connect(): Promise<void> {
    if (!this.receiptVerifies && this.options.receiptKeysUrl)
      this.receiptVerifies = await fetchReceiptKeys(this.options.receiptKeysUrl);
    this.producer = await this.kafka.producer();
    // Decisions from the present on: each partition starts at its end as of now.
    const ownTenant = this.options.decisionTopic === 'shared' ? undefined : this.options.tenantId;
    // A batch consumer: a message consumer's commit after every batch is awaited before the next
    // fetch, which held decisions up by ~7 ms at 1,000 gates/s over 12 partitions.
    this.consumer = this.kafka.batchConsumer({
      // Under the group prefix the orchestrator ACLs grant: its tenant's when it reads its tenant's topic.
      groupId: `${clientGroupPrefix(ownTenant)}${randomUUID()}`,
      topics: [
        ownTenant === undefined
          ? this.topics['gate.decisions']
          : tenantDecisionTopic(ownTenant, this.options.topicPrefix ?? DEFAULT_TOPIC_PREFIX),
      ],
      maxWaitTimeInMs: 20,
      fromNow: true,
      // Commits only save a rejoining member from rereading; decisions it missed meanwhile time out anyway.
      onCommitError: () => undefined,
      // Reading a decision does not fail (a malformed one is ignored): a failure here is fetched again.
      onHandlerError: () => undefined,
      handle: async (batch) => {
        for (const message of batch.messages) this.onDecision(message.value);
        batch.resolveOffset(batch.messages.at(-1)!.offset);
        batch.commit();
      },
    });
    await this.consumer.start();
  }

  async disconnect(): Promise<void> {
    for (const w of [...this.byRequest.values(), ...this.byApproval.values()])
      w.reject(new Error('GateClient disconnected'));
    await this.consumer?.stop();
    await this.producer?.disconnect();
  }

  /**
   * Gates a step. Resolves with the decision; with `waitForApproval`, a `require_approval` decision
   * is followed until the approval resolves to allow or block. A request the evaluator could not
   * answer to this client, or would refuse for its size, is not sent: `RefusedLocallyError` (code
   * `INVALID_REQUEST`).
   */
  async gate(
    step: GateStepRequest,
    opts: { timeoutMs?: number; waitForApproval?: boolean } = {},
  ): Promise<GateDecision> {
    const request = { ...step, request_id: step.request_id ?? newRequestId(), requested_at: new Date().toISOString() };
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs ?? 30_000;
    const bytes = Buffer.from(JSON.stringify(request));
    const refused = localRefusal(request, bytes);
    if (refused) throw refused;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const decided = this.wait(
      this.byRequest,
      request.request_id,
      timeoutMs,
      () => new GateTimeoutError(request.request_id, timeoutMs, 'decision'),
      (d) =>
        d.request_sha256 === sha256 &&
        this.ofOurTenant(d) &&
        d.workflow_id === request.workflow_id &&
        d.step_id === request.step_id,
    );
    try {
      await this.sendBytes('gate.requests', request.workflow_id, bytes);
    } catch (err) {
      // Not sent: nothing will answer. The wait ends now (its timer with it), with the send's error.
      decided.catch(() => undefined);
      this.byRequest.get(request.request_id)?.reject(err instanceof Error ? err : new Error(String(err)));
      this.byRequest.delete(request.request_id);
      throw err;
    }
    const decision = await decided;
    if (!opts.waitForApproval || decision.decision !== 'require_approval' || !decision.approval_id) return decision;
    // An outcome answers only for the step that asked for it (approval ids are per step, but the
    // check costs nothing and keeps a forged id from resolving another step's wait).
    const outcomeOf = (d: GateDecision) =>
      this.ofOurTenant(d) && d.workflow_id === decision.workflow_id && d.step_id === decision.step_id;
    // The outcome may have arrived between this decision and now.
    const known = this.approvalOutcomes.get(decision.approval_id);
    if (known && outcomeOf(known)) return known;
    return this.wait(
      this.byApproval,
      decision.approval_id,
      timeoutMs,
      () => new GateTimeoutError(request.request_id, timeoutMs, 'approval'),
      outcomeOf,
    );
  }

  /**
   * Reports a gated step finished (it feeds step.completion_count and prior_output_available). One
   * over 256 KiB (a large `output`) is not sent: `RefusedLocallyError`, since the evaluator would send
   * it to the dlq and nothing answers a completion.
   */
  async complete(step: Omit<StepCompletion, 'completion_id' | 'completed_at'>): Promise<void> {
    const bytes = Buffer.from(
      JSON.stringify({ ...step, completion_id: randomUUID(), completed_at: new Date().toISOString() }),
    );
    const refused = sizeRefusal(bytes, COMPLETION_SIZE_HINT);
    if (refused) throw refused;
    await this.sendBytes('step.completions', step.workflow_id, bytes);
  }

  /**
   * Signs the exact bytes it sends. Sends made in the same event-loop turn go out as one produce
   * request, and so do those made while a produce request is in flight (the idempotent producer has
   * one at a time: sent one by one, they would queue behind each other's acknowledgements). No added
   * latency when idle; under load kafkajs' per-request cost and the round trip are shared.
   */
  private send(topic: TopicName, key: string, body: unknown): Promise<void> {
    return this.sendBytes(topic, key, Buffer.from(JSON.stringify(body)));
  }

  private sendBytes(topic: TopicName, key: string, value: Buffer): Promise<void> {
    const message: OutgoingMessage = {
      topic: this.topics[topic],
      key,
      value,
      headers: signatureHeaders({ keyId: this.options.keyId, key: this.key }, value),
    };
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ message, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queued.length > 0) {
      const sending = this.queued.splice(0, sendable(this.queued));
      try {
        await this.producer!.publish(sending.map((q) => q.message));
        sending.forEach((q) => q.resolve());
      } catch (err) {
        sending.forEach((q) => q.reject(err instanceof Error ? err : new Error(String(err))));
      }
    }
    this.flushing = false;
  }

  /** A decision of another tenant than the configured one answers nothing (unknown tenant: not checked). */
  private ofOurTenant(d: GateDecision): boolean {
    return this.options.tenantId === undefined || d.tenant_id === this.options.tenantId;
  }

  private wait(
    map: Map<string, Waiter>,
    id: string,
    timeoutMs: number,
    timeout: () => Error,
    answers?: (d: GateDecision) => boolean,
  ): Promise<GateDecision> {
    return new Promise<GateDecision>((resolve, reject) => {
      const waiter: Waiter = {
        ...(answers ? { answers } : {}),
        resolve: (d) => (clearTimeout(timer), resolve(d)),
        reject: (e) => (clearTimeout(timer), reject(e)),
        refused: { mismatched: 0 },
      };
      // Decisions that failed the checks were ignored; at the deadline, the most precise reason wins.
      const timer = setTimeout(() => {
        map.delete(id);
        const { receipt, mismatched } = waiter.refused;
        reject(
          receipt
            ? new ReceiptVerificationError(receipt)
            : mismatched
              ? new DecisionMismatchError(id, mismatched)
              : timeout(),
        );
      }, timeoutMs);
      map.set(id, waiter);
    });
  }

  /** Recent approval outcomes (bounded), for waiters that register after the outcome arrived. */
  private rememberOutcome(r: Received): void {
    if (!this.verified(r)) return;
    const d = r.decision;
    this.approvalOutcomes.set(d.approval_id!, d);
    if (this.approvalOutcomes.size > 10_000) this.approvalOutcomes.delete(this.approvalOutcomes.keys().next().value!);
  }

  /**
   * The decision a record holds, and the record as sent: the receipt is checked over the latter, so a
   * field a newer evaluator adds (which the schema would drop) still verifies. Anything else is
   * counted and skipped.
   */
  private decode(value: Buffer | null): Received | undefined {
    if (value && jsonTextDepth(value, MAX_DECISION_DEPTH) <= MAX_DECISION_DEPTH) {
      let json: unknown;
      try {
        json = JSON.parse(value.toString('utf8'));
      } catch {
        json = undefined;
      }
      const parsed = GateDecisionSchema.safeParse(json);
      if (parsed.success) return { decision: parsed.data, sent: json as SignedRecord };
    }
    this.undecodable++;
    return undefined;
  }

  private verified(r: Received): boolean {
    return !this.receiptVerifies || this.receiptVerifies(r.sent);
  }

  private onDecision(value: Buffer | null): void {
    const received = this.decode(value);
    if (!received) return;
    const d = received.decision;
    if (d.decision_source === 'approval' && d.approval_id) this.rememberOutcome(received);
    const byRequest = this.byRequest.get(d.request_id);
    const byApproval =
      d.decision_source === 'approval' && d.approval_id ? this.byApproval.get(d.approval_id) : undefined;
    const waiter = byRequest ?? byApproval;
    if (!waiter) return;
    // A decision that fails a check is ignored (and counted), not fatal: whoever can write to the
    // decisions topic must not be able to fail another client's gate by answering first.
    if (!this.verified(received)) {
      this.refused++;
      waiter.refused.receipt = d;
      return;
    }
    if (waiter.answers && !waiter.answers(d)) {
      this.refused++;
      waiter.refused.mismatched++;
      return;
    }
    if (byRequest) {
      this.byRequest.delete(d.request_id);
      // An outcome seen before this require_approval belongs to an earlier round of the same approval
      // id (a step re-gated after a decision): only outcomes from now on answer this one.
      if (d.decision === 'require_approval' && d.approval_id) this.approvalOutcomes.delete(d.approval_id);
    } else this.byApproval.delete(d.approval_id!);
    waiter.resolve(d);
  }
}
