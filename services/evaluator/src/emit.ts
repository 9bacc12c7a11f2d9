import { gateAuditEventId, signatureHeaders, signDecision, type ReceiptSigner } from '@stepgate/contracts/node';
import {
  actionDigest,
  refusalDecision,
  type ApprovalRequest,
  type GateRequest,
  type TopicName,
} from '@stepgate/contracts';
import { deadLetter, type IncomingMessage, type MessageSource } from '@stepgate/messaging';
import type { Logger } from 'pino';
import { summarize, type BatchMessages } from './batch-messages.js';
import { storedFollowUp, type FollowUp } from './follow-up.js';
import { MAX_DECISION_CHARS, refusalFor, type GateOutcome } from './gate.js';
import type { Intake } from './intake.js';
import type { EvaluatorMetrics } from './metrics.js';
import { endGateSpan, startGateSpan, traceHeaders } from './tracing.js';

function isSigned(stored: unknown): boolean {
  return typeof stored === 'object' && stored !== null && 'receipt' in stored;
}

export interface EmitStageDeps {
  topics: Record<TopicName, string>;
  /** Where a decision for a tenant (null: attributed to none) is published. */
  decisionTopic: (tenantId: string | null) => string;
  signer: ReceiptSigner;
  metrics: EvaluatorMetrics;
  log: Logger;
  /** Key fragments masked in inputs summaries. */
  redactKeys: readonly string[] | undefined;
  /** Which shadow divergences are audited (all up to a rate per tenant; counted regardless). */
  divergenceSampler: RateSampler;
}

/**
 * At most `perSecond` takes per key and second (a token bucket per key, with a burst of one second's
 * worth): past that rate divergences are only counted, so a shadow that differs everywhere cannot
 * flood the audit log.
 */
export class RateSampler {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perSecond: number) {}

  take(key: string, now = Date.now()): boolean {
    const b = this.buckets.get(key) ?? { tokens: this.perSecond, at: now };
    b.tokens = Math.min(this.perSecond, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

export interface GateEmission {
  messages: BatchMessages;
  message: IncomingMessage;
  intake: Intake<GateRequest>;
  outcome: GateOutcome | undefined;
  source: MessageSource;
  /** performance.now() when the batch's work began. */
  started: number;
}

/**
 * The emit stage: what a decided message publishes — the signed decision, its audit event and, when a
 * human must decide, the approval request — or its dead letter.
 */
export class EmitStage {
  constructor(private readonly deps: EmitStageDeps) {}

  deadLetter(messages: BatchMessages, message: IncomingMessage, source: MessageSource, reason: string, detail: string) {
    this.deps.metrics.dlq.inc({ reason });
    messages.push(deadLetter({ topic: this.deps.topics.dlq, original: message, source, reason, detail }));
    this.deps.log.warn({ reason, detail, ...source }, 'message sent to dlq');
  }

  /** Adds a gate's messages; returns what records its metrics and span once they are published. */
  gate(e: GateEmission): () => void {
    const { intake: got, outcome, messages } = e;
    if (got.kind === 'dlq' || !outcome) {
      if (got.kind === 'dlq') this.deadLetter(messages, e.message, e.source, got.reason, got.detail);
      return () => undefined;
    }
    let body = outcome.body;
    // Whatever is published carries a receipt: what was not signed yet (a refusal) is signed here.
    let json = isSigned(outcome.stored)
      ? (outcome.storedJson ?? JSON.stringify(outcome.stored))
      : JSON.stringify(signDecision(body, this.deps.signer));
    if (json.length > MAX_DECISION_CHARS) {
      // The decide stage refuses decisions too large before recording them (decisionCharsAtLeast); this
      // is the last guard for one that still is (its other fields): refused, bounded, not recorded so.
      this.deps.log.error({ request_id: body.request_id, chars: json.length }, 'decision too large; refused instead');
      body = refusalDecision({
        ...refusalFor(got.attribution, body.tenant_id, Date.parse(body.decided_at)),
        code: 'ENGINE_ERROR',
        message: `the decision would be ${json.length} characters, over the ${MAX_DECISION_CHARS} a record may carry; the tenant's bundle makes decisions too large`,
      });
      json = JSON.stringify(signDecision(body, this.deps.signer));
    }
    const span = startGateSpan(e.message.headers, e.source.topic, performance.timeOrigin + e.started);
    messages.push({
      topic: this.deps.decisionTopic(body.tenant_id),
      key: body.workflow_id ?? got.attribution.id,
      value: json,
      headers: traceHeaders(span),
    });

    // A decision published again (its request delivered again) publishes its audit event and approval
    // request again, as the first time carried them (stored with the decision): that time may have
    // been cut short between the decide transaction's commit and the publish. The audit event keeps
    // its id (the audit consumer stores it once) and the approvals service starts an approval once.
    // A decision an older evaluator stored has nothing stored with it: only the decision, as before.
    const first = outcome.redelivered ? storedFollowUp(outcome.followUp) : undefined;
    if (outcome.redelivered && outcome.followUp !== undefined && !first)
      this.deps.log.warn(
        { request_id: body.request_id, decision_id: body.decision_id },
        'the stored follow-up of a decision published again is unreadable: the decision is published alone',
      );
    if (!outcome.redelivered || first) {
      this.audit(e, outcome, first);
      if (outcome.shadow && !outcome.redelivered) this.shadowDivergence(e, outcome);
      const approval = first ? first.approval : outcome.approval;
      if (approval && got.kind === 'accepted') {
        // Signed with the receipt key: the approvals service starts approvals for the evaluators' requests only.
        const request = Buffer.from(
          JSON.stringify(this.approvalRequest(got, outcome, approval, first?.principal ?? got.credential.principal)),
        );
        messages.add('approvals', approval.approval_id, request, signatureHeaders(this.deps.signer, request));
      }
    }

    const requestedAt = Date.parse(String(got.attribution.echo.requested_at));
    const source = outcome.redelivered ? 'redelivered' : body.decision_source;
    return () => {
      endGateSpan(
        span,
        {
          'stepgate.tenant_id': body.tenant_id ?? undefined,
          'stepgate.workflow_id': body.workflow_id ?? undefined,
          'stepgate.step_id': body.step_id ?? undefined,
          'stepgate.request_id': body.request_id,
          'stepgate.decision': body.decision,
          'stepgate.decision_source': source,
          'stepgate.error_code': body.error?.code,
        },
        body.error?.code === 'ENGINE_ERROR',
      );
      const metrics = this.deps.metrics;
      metrics.decisions.inc({ decision: body.decision, source, error_code: body.error?.code ?? '' });
      metrics.evaluationSeconds.observe((performance.now() - e.started) / 1000);
      if (Number.isFinite(requestedAt)) metrics.endToEndSeconds.observe(Math.max(0, Date.now() - requestedAt) / 1000);
    };
  }

  /** `first`: for a decision published again, what its first publication carried. */
  private audit(e: GateEmission, outcome: GateOutcome, first?: FollowUp): void {
    const got = e.intake;
    if (got.kind === 'dlq') return;
    const body = outcome.body;
    const { echo, doc } = got.attribution;
    const action =
      got.kind === 'accepted'
        ? 'GateEvaluated'
        : got.code === 'UNAUTHENTICATED' || got.code === 'TENANT_MISMATCH'
          ? 'AuthenticationFailed'
          : 'InvalidRequest';
    e.messages.audit({
      // The same event each time this decision is published (see gate()).
      id: gateAuditEventId(body.decision_id),
      timestamp: body.decided_at,
      tenant_id: body.tenant_id,
      agent_id: echo.agent_id,
      session_id: echo.session_id,
      user_id: echo.user_id,
      workflow_id: body.workflow_id,
      step_id: body.step_id,
      action,
      outcome: body.decision,
      // A message refused before its checks passed is not summarized: its inputs may be any shape or size.
      inputs_summary: doc ? summarize(doc, this.deps.redactKeys) : '',
      elapsed_ms: performance.now() - e.started,
      decision_id: body.decision_id,
      decision: body.decision,
      policies_matched: body.policies_matched.map((p) => p.policy_id),
      error_code: body.error?.code ?? null,
      ...(body.policy_version ? { policy_version: body.policy_version } : {}),
      detail: {
        request_id: body.request_id,
        decision_source: body.decision_source,
        reason: body.reason,
        ...(got.kind === 'rejected'
          ? { principal: got.credential?.principal ?? null, claimed_tenant_id: echo.claimed_tenant_id }
          : {
              principal: first ? first.principal : got.credential.principal,
              execution_mode: got.body.execution_mode ?? 'interactive',
              tool_name: got.body.tool_context?.tool_name ?? null,
              tool_access: first ? first.tool_access : (outcome.tool_access ?? null),
            }),
      },
    });
  }

  /** Counts a shadow bundle's divergence; audits it as ShadowDivergence while under the sampling rate. */
  private shadowDivergence(e: GateEmission, outcome: GateOutcome): void {
    const body = outcome.body;
    const shadow = outcome.shadow!;
    this.deps.metrics.shadowDivergences.inc({ active: body.decision, shadow: shadow.decision });
    if (!body.tenant_id || !this.deps.divergenceSampler.take(body.tenant_id)) return;
    e.messages.audit({
      tenant_id: body.tenant_id,
      workflow_id: body.workflow_id,
      step_id: body.step_id,
      action: 'ShadowDivergence',
      outcome: `${body.decision} -> ${shadow.decision}`,
      decision_id: body.decision_id,
      decision: body.decision,
      policies_matched: body.policies_matched.map((p) => p.policy_id),
      ...(body.policy_version ? { policy_version: body.policy_version } : {}),
      detail: {
        request_id: body.request_id,
        shadow_sha256: shadow.sha256,
        shadow_decision: shadow.decision,
        shadow_policies_matched: shadow.policies_matched,
      },
    });
  }

  /** `principal`: who asked, the signer of the request first decided. */
  private approvalRequest(
    got: Extract<Intake<GateRequest>, { kind: 'accepted' }>,
    outcome: GateOutcome,
    approval: NonNullable<FollowUp['approval']>,
    principal: string,
  ): ApprovalRequest {
    const request = got.body;
    const body = outcome.body;
    return {
      type: 'approval.requested',
      approval_id: approval.approval_id,
      tenant_id: body.tenant_id!,
      workflow_id: request.workflow_id,
      step_id: request.step_id,
      step_name: request.step_name ?? null,
      step_type: request.step_type,
      request_id: request.request_id,
      decision_id: body.decision_id,
      requested_by: {
        principal,
        user_id: request.user_id ?? null,
        agent_id: request.agent_id ?? null,
      },
      reason: body.reason,
      severity: approval.severity,
      timeout_seconds: approval.timeout_seconds,
      policies_matched: body.policies_matched,
      inputs_summary: summarize(got.attribution.doc ?? {}, this.deps.redactKeys),
      reply_to: request.reply_to ?? null,
      requested_at: body.decided_at,
      usage_increments: approval.usage_increments,
      ...(approval.rule ? { approval_rule: { ...approval.rule } } : {}),
      ...(body.policy_version ? { policy_version: body.policy_version } : {}),
      // What the approver signs: this step of this request, as validated (input, tool context, model).
      action_digest: actionDigest({
        decision_id: body.decision_id,
        tenant_id: body.tenant_id!,
        workflow_id: request.workflow_id,
        step_id: request.step_id,
        step_type: request.step_type,
        step_name: request.step_name ?? null,
        policies_matched: body.policies_matched,
        request: {
          model: request.model ?? null,
          provider: request.provider ?? null,
          step_input: request.step_input ?? null,
          tool_context: request.tool_context ?? null,
        },
      }),
    };
  }
}
