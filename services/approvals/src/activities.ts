// Activities: every side effect of an approval (Postgres, Kafka, signalling orchestrators). Each is
// idempotent, because Temporal retries it: ids come from the workflow, writes converge to one state.
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { MessageProducer } from '@stepgate/messaging';
import type pg from 'pg';
import { newAuditEvent } from '@stepgate/contracts';
import type {
  ApprovalEscalated,
  ApprovalOutcomeSignal,
  ApprovalReminder,
  ApprovalRequest,
  AuditEvent,
  DecisionBody,
  GateDecision,
  GateErrorCode,
  TopicName,
  WorkflowAbortedEvent,
} from '@stepgate/contracts';
import type { SignedApprovalStatement } from '@stepgate/contracts';
import {
  publicKeyFromPem,
  signDecision,
  verifyApprovalStatement,
  type ReceiptSigner,
  type WebhookEvent,
} from '@stepgate/contracts/node';
import type {
  ApprovalEvidence,
  ApprovalResolution,
  ApprovalState,
  ApprovalVote,
} from '@stepgate/approvals-client/definitions';
import {
  CredentialsRepository,
  KillSwitchesRepository,
  killSwitchCovering,
  killSwitchMessage,
  StepLedgerRepository,
  WebhooksRepository,
  withTransaction,
  type AppliedApprovalOutcome,
  type Db,
} from '@stepgate/store';
import { postWebhook, slackMessage, webhookPayload, WebhookDeliveryError } from './webhooks.js';
import type { Unavailability } from './unavailable.js';

export interface ActivityDeps {
  pool: pg.Pool;
  producer: MessageProducer;
  topics: Record<TopicName, string>;
  /** Where a tenant's decisions are published (its own topic when decisions are per tenant). */
  decisionTopic: (tenantId: string) => string;
  signer: ReceiptSigner;
  /** A Temporal client for a namespace (orchestrators named in `reply_to` may live in another one). */
  temporalClient: (namespace: string) => Client;
  /** Where people open an approval (`<portal>/approvals/<id>` in webhooks); none: webhooks carry no link. */
  portalBaseUrl?: string | undefined;
  /** Development only: webhooks may be http to a loopback host. */
  allowLoopbackWebhooks?: boolean;
}

export type Resolution = ApprovalResolution;

/** The engaged kill switch that overrides an approved outcome (its decision becomes a block). */
export interface KillSwitchVerdict {
  switch_id: string;
  message: string;
}

/**
 * What `recordOutcome` answers: the outcome applied to its step, with the decision to publish and the
 * kill-switch verdict taken when it was applied (null: no switch covered it), which every later effect
 * uses; or not applied, because the step was decided again since the approval was asked for.
 */
export type OutcomeRecord =
  | { applied: true; decision: DecisionBody; kill_switch: KillSwitchVerdict | null }
  | { applied: false; superseded_by_decision_id: string | null };

/**
 * What `recordOutcome` answered before it took the kill-switch verdict: the decision, or null when
 * superseded. The histories of runs from then carry it; the workflow still reads it.
 */
export type LegacyOutcomeRecord = DecisionBody | null;

/**
 * The kill-switch verdict an effect of an outcome uses. Absent: the run's `recordOutcome` took none (it
 * ran before the verdict was taken there), so the effect checks the switches itself.
 */
export interface OutcomeVerdict {
  kill_switch?: KillSwitchVerdict | null;
}

/**
 * What a signed statement proves (the workflow turns it into a decision or a refusal): no credential
 * has the key id, the signature does not verify, or the signer's credential as stored now.
 */
export type ApproverProof =
  | { verdict: 'unknown_key' | 'bad_signature' }
  | {
      verdict: 'verified';
      key_id: string;
      tenant_id: string;
      principal: string;
      revoked: boolean;
      is_approver: boolean;
      /** Every role the principal holds (absent from proofs recorded before quorums and gateways). */
      roles?: string[];
    };

/** The credential lookup `proveApprover` needs (the store's repository, or a test's table). */
export interface ApproverKeys {
  byKeyId(
    keyId: string,
  ): Promise<{ tenantId: string; principal: string; publicKeyPem: string; revokedAt: Date | null } | undefined>;
  rolesOf(p: { tenantId: string; principal: string }): Promise<string[]>;
}

/** Verifies the statement's signature with its credential's public key and reports what the credential is. */
export async function proveApprover(keys: ApproverKeys, signed: SignedApprovalStatement): Promise<ApproverProof> {
  const keyId = signed.statement.key_id;
  const credential = await keys.byKeyId(keyId);
  if (!credential) return { verdict: 'unknown_key' };
  let valid: boolean;
  try {
    valid = verifyApprovalStatement(signed, publicKeyFromPem(credential.publicKeyPem));
  } catch {
    valid = false; // a statement without a canonical JSON form
  }
  if (!valid) return { verdict: 'bad_signature' };
  const roles = await keys.rolesOf({ tenantId: credential.tenantId, principal: credential.principal });
  return {
    verdict: 'verified',
    key_id: keyId,
    tenant_id: credential.tenantId,
    principal: credential.principal,
    revoked: credential.revokedAt !== null,
    is_approver: roles.includes('approver'),
    roles,
  };
}

export interface OutcomeInput {
  request: ApprovalRequest;
  status: Resolution;
  decided_by: string | null;
  decided_at: string;
  comment: string | null;
  /** The verified statement that decided (absent: expiry, or a name-only decision of an old workflow). */
  evidence?: ApprovalEvidence | null;
  /** Every approver of a quorum of more than one, with their evidence. */
  approvals?: ApprovalVote[];
  action_digest?: string | null;
  /** Generated by the workflow, so a retried activity publishes the same ids. */
  decision_id: string;
  audit_event_id: string;
  abort_event_id: string;
  abort_audit_event_id: string;
  /**
   * Set (with status `expired`) when the approval could not be started: the approvals service blocks
   * the step itself, under ids derived from the request (unavailable.ts). Workflows never set it.
   */
  unavailable?: Unavailability;
}

const AUDIT_ACTION: Record<Resolution, AuditEvent['action']> = {
  approved: 'ApprovalGranted',
  rejected: 'ApprovalRejected',
  expired: 'ApprovalExpired',
};

export function createActivities(deps: ActivityDeps) {
  const send = (messages: Array<{ topic: TopicName; key: string; value: unknown; tenant?: string }>) =>
    deps.producer.publish(
      messages.map((m) => ({
        topic: m.topic === 'gate.decisions' && m.tenant ? deps.decisionTopic(m.tenant) : deps.topics[m.topic],
        key: m.key,
        value: JSON.stringify(m.value),
      })),
    );

  /** The verdict an effect uses: the one `recordOutcome` took, or (runs from before it took one) the switches now. */
  const verdictOf = async (input: OutcomeVerdict & { outcome: OutcomeInput }): Promise<KillSwitchVerdict | null> =>
    input.kill_switch !== undefined ? input.kill_switch : approvalKilled(input.outcome, deps.pool);

  return {
    /** Audits that a human decision was asked for (once per approval workflow). */
    async announce(input: { request: ApprovalRequest; audit_event_id: string; expires_at: string }): Promise<void> {
      const r = input.request;
      await send([
        {
          topic: 'audit',
          key: r.tenant_id,
          value: auditEvent(r, input.audit_event_id, r.requested_at, 'ApprovalRequested', 'Pending', {
            expires_at: input.expires_at,
            reason: r.reason,
            severity: r.severity,
          }),
        },
      ]);
    },

    /** Reads the statement's credential and verifies its signature (a local activity of the workflow). */
    async proveApprover(input: { signed: SignedApprovalStatement }): Promise<ApproverProof> {
      return proveApprover(new CredentialsRepository(deps.pool), input.signed);
    },

    /** Whether the principal holds the `approver` role (name-only decisions of workflows started before signed approvals). */
    async isApprover(input: { tenant_id: string; principal: string }): Promise<boolean> {
      return new CredentialsRepository(deps.pool).hasRole({
        tenantId: input.tenant_id,
        principal: input.principal,
        role: 'approver',
      });
    },

    async remind(input: { request: ApprovalRequest; expires_at: string; reminded_at: string }): Promise<void> {
      const r = input.request;
      const reminder: ApprovalReminder = {
        type: 'approval.reminder',
        approval_id: r.approval_id,
        tenant_id: r.tenant_id,
        workflow_id: r.workflow_id,
        step_id: r.step_id,
        expires_at: input.expires_at,
        reminded_at: input.reminded_at,
      };
      await send([{ topic: 'approvals', key: r.approval_id, value: reminder }]);
    },

    /** Audits one approver's approval of a quorum that is not reached yet. */
    async recordVote(input: {
      request: ApprovalRequest;
      audit_event_id: string;
      principal: string;
      approved_at: string;
      approvals: number;
      approvals_required: number;
      evidence: ApprovalEvidence;
    }): Promise<void> {
      const r = input.request;
      await send([
        {
          topic: 'audit',
          key: r.tenant_id,
          value: auditEvent(r, input.audit_event_id, input.approved_at, 'ApprovalVoteRecorded', 'Pending', {
            approved_by: input.principal,
            approvals: input.approvals,
            approvals_required: input.approvals_required,
            evidence: input.evidence,
          }),
        },
      ]);
    },

    /** Publishes `approval.escalated` and audits it: principals of the escalation role may decide now. */
    async escalate(input: {
      request: ApprovalRequest;
      audit_event_id: string;
      escalated_to_role: string;
      eligible_roles: string[];
      expires_at: string;
      escalated_at: string;
    }): Promise<void> {
      const r = input.request;
      const escalated: ApprovalEscalated = {
        type: 'approval.escalated',
        approval_id: r.approval_id,
        tenant_id: r.tenant_id,
        workflow_id: r.workflow_id,
        step_id: r.step_id,
        escalated_to_role: input.escalated_to_role,
        eligible_roles: input.eligible_roles,
        expires_at: input.expires_at,
        escalated_at: input.escalated_at,
      };
      await send([
        { topic: 'approvals', key: r.approval_id, value: escalated },
        {
          topic: 'audit',
          key: r.tenant_id,
          value: auditEvent(r, input.audit_event_id, input.escalated_at, 'ApprovalEscalated', 'Escalated', {
            escalated_to_role: input.escalated_to_role,
            eligible_roles: input.eligible_roles,
            expires_at: input.expires_at,
          }),
        },
      ]);
    },

    /** The ids of the tenant's enabled webhooks (their URLs and secrets stay out of the history). */
    async webhookTargets(input: { tenant_id: string }): Promise<string[]> {
      return new WebhooksRepository(deps.pool).enabledIds({ tenantId: input.tenant_id });
    },

    /**
     * POSTs one event to one webhook, signed with its secret. Retried by the workflow's retry policy; a
     * refusal that retrying cannot fix (a URL pointing inside, a 4xx) fails at once. A webhook removed
     * or disabled meanwhile is skipped.
     */
    async deliverWebhook(input: {
      webhook_id: string;
      event: WebhookEvent;
      delivery_id: string;
      occurred_at: string;
      request: ApprovalRequest;
      state: ApprovalState;
    }): Promise<'delivered' | 'skipped'> {
      const target = await new WebhooksRepository(deps.pool).target({
        tenantId: input.request.tenant_id,
        webhookId: input.webhook_id,
      });
      if (!target) return 'skipped';
      const content = {
        event: input.event,
        delivery_id: input.delivery_id,
        occurred_at: input.occurred_at,
        request: input.request,
        state: input.state,
        approvalUrl: deps.portalBaseUrl
          ? `${deps.portalBaseUrl.replace(/\/$/, '')}/approvals/${input.request.approval_id}`
          : null,
      };
      const body = JSON.stringify(target.format === 'slack' ? slackMessage(content) : webhookPayload(content));
      try {
        await postWebhook({
          url: target.url,
          secret: target.secret,
          event: input.event,
          deliveryId: input.delivery_id,
          body,
          allowLoopbackHttp: deps.allowLoopbackWebhooks === true,
        });
      } catch (err) {
        if (err instanceof WebhookDeliveryError)
          throw ApplicationFailure.create({
            type: 'WEBHOOK_DELIVERY_FAILED',
            message: err.message,
            nonRetryable: !err.retryable,
          });
        throw err;
      }
      return 'delivered';
    },

    /** Audits a webhook delivery that failed for good (the approval goes on). */
    async auditWebhookFailure(input: {
      request: ApprovalRequest;
      audit_event_id: string;
      webhook_id: string;
      event: WebhookEvent;
      delivery_id: string;
      occurred_at: string;
      error: string;
    }): Promise<void> {
      const r = input.request;
      await send([
        {
          topic: 'audit',
          key: r.tenant_id,
          value: auditEvent(r, input.audit_event_id, new Date().toISOString(), 'WebhookDeliveryFailed', 'Failed', {
            webhook_id: input.webhook_id,
            event: input.event,
            delivery_id: input.delivery_id,
            error: input.error,
          }),
        },
      ]);
    },

    /**
     * Records the outcome in the step ledger (an idempotent retry of the gate then answers with it) and,
     * on reject or expiry, marks the governed workflow aborted. Answers the decision to publish with the
     * kill-switch verdict, both recorded under the outcome's decision id: a retry whose first attempt
     * committed answers the same, even if the step was decided again or a switch changed since. Not
     * applied when the step was decided again after this approval was asked for (re-evaluated): the
     * outcome then decides nothing and is only audited, with the decision that superseded it.
     *
     * An approved outcome a kill switch overrides is recorded as approved (usage counted): the gate
     * checks the switches before the ledger on every request, idempotent retries included, so the step
     * stays blocked while a switch covers it, and proceeds as approved once none does.
     */
    async recordOutcome(o: OutcomeInput): Promise<OutcomeRecord> {
      const r = o.request;
      const decided = o.decided_by ? { approved_by: o.decided_by, approved_at: o.decided_at } : {};
      const ref = { tenantId: r.tenant_id, workflowId: r.workflow_id, stepId: r.step_id, approvalId: r.approval_id };
      const recorded = await withTransaction(
        deps.pool,
        async (db): Promise<AppliedApprovalOutcome | { supersededBy: string | null }> => {
          const ledger = new StepLedgerRepository(db);
          const earlier = await ledger.appliedOutcome({ tenantId: r.tenant_id, decisionId: o.decision_id });
          if (earlier) return earlier;
          const result = await ledger.resolveApproval({ ...ref, decisionId: r.decision_id, status: o.status, decided });
          if (result.superseded) return { supersededBy: result.decisionBody?.decision_id ?? null };
          if (!result.transitioned) {
            // Resolved already. The block of an approval that could not be started applies only to a step
            // still waiting: it is new, so no attempt of it committed without the record read above.
            if (o.unavailable) return { supersededBy: null };
            // Resolved by an outcome recorded for this approval's request: another run's (one started
            // again for the same decision while an earlier run was closing, or that started after all when
            // its start's answer was lost), or the block of an approval that could not be started. This
            // outcome decides nothing.
            const other = await ledger.outcomeOfApprovalRequest({
              tenantId: r.tenant_id,
              approvalId: r.approval_id,
              requestId: r.request_id,
            });
            if (other) return { supersededBy: other };
            // None recorded: a worker from before outcomes were recorded resolved it. Only an attempt of
            // this very outcome (the ledger's status, decider and time are its own) continues.
            if (!sameResolution(o, result)) return { supersededBy: null };
          }
          // Not transitioned: an attempt of this outcome that committed before outcomes were recorded by
          // their id applied it: the usage is counted.
          if (result.transitioned && o.status === 'approved')
            await ledger.addUsage({ tenantId: r.tenant_id, increments: r.usage_increments });
          if (o.status !== 'approved')
            await ledger.abortWorkflow({ tenantId: r.tenant_id, workflowId: r.workflow_id, reason: abortReason(o) });
          const killed = await approvalKilled(o, db);
          return ledger.recordAppliedOutcome({
            ...ref,
            decisionId: o.decision_id,
            outcome: {
              decision: outcomeDecision(o, result.decisionBody),
              killSwitch: killed && { switchId: killed.switch_id, message: killed.message },
            },
          });
        },
      );
      if ('decision' in recorded) {
        const ks = recorded.killSwitch;
        return {
          applied: true,
          decision: recorded.decision,
          kill_switch: ks && { switch_id: ks.switchId, message: ks.message },
        };
      }
      await send([
        {
          topic: 'audit',
          key: r.tenant_id,
          value: auditEvent(
            r,
            o.audit_event_id,
            o.decided_at,
            AUDIT_ACTION[o.status],
            'Superseded',
            {
              decided_by: o.decided_by,
              comment: o.comment,
              superseded_by_decision_id: recorded.supersededBy,
              ...(o.unavailable ? { dlq_reason: o.unavailable.dlq_reason } : {}),
              ...(o.action_digest ? { action_digest: o.action_digest } : {}),
              ...(o.evidence ? { evidence: o.evidence } : {}),
            },
            undefined,
            o.unavailable ? 'APPROVAL_UNAVAILABLE' : undefined,
          ),
        },
      ]);
      return { applied: false, superseded_by_decision_id: recorded.supersededBy };
    },

    /**
     * Publishes the signed decision (a block when the verdict names a kill switch), the audit events
     * and, on reject or expiry, `workflow.aborted`.
     */
    async publishOutcome(input: OutcomeVerdict & { outcome: OutcomeInput; decision: DecisionBody }): Promise<void> {
      const killed = await verdictOf(input);
      const decision = killed ? killedDecision(input.decision, killed) : input.decision;
      await send(
        outcomeMessages(
          input.outcome,
          signDecision(decision, deps.signer),
          killed ? { kill_switch: killed.switch_id } : {},
        ),
      );
    },

    /**
     * Signals the Temporal workflow named in the gate request's `reply_to` with the outcome and, when
     * configured, asks it to cancel on reject or expiry. A workflow that no longer exists is not retried.
     */
    async notifyOrchestrator(
      input: OutcomeVerdict & { outcome: OutcomeInput; cancel: boolean },
    ): Promise<'signalled' | 'not_found'> {
      const { outcome: o } = input;
      const to = o.request.reply_to;
      if (!to) return 'not_found';
      const killed = await verdictOf(input);
      const signal: ApprovalOutcomeSignal = {
        approval_id: o.request.approval_id,
        workflow_id: o.request.workflow_id,
        step_id: o.request.step_id,
        decision: o.status === 'approved' && !killed ? 'allow' : 'block',
        approval_status: o.status,
        decided_by: o.decided_by,
        decided_at: o.decided_at,
        reason: killed ? killed.message : outcomeReason(o),
      };
      const handle = deps.temporalClient(to.temporal_namespace).workflow.getHandle(to.temporal_workflow_id);
      try {
        await handle.signal(to.signal_name, signal);
        if (input.cancel && o.status !== 'approved') await handle.cancel();
        return 'signalled';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return 'not_found';
        throw err;
      }
    },
  };
}

export type ApprovalActivities = ReturnType<typeof createActivities>;

/**
 * The engaged kill switch covering an approved outcome's step, if any: a switch engaged while the
 * approval was pending outranks the approvers, as it outranks a policy at the gate. The approval names
 * no tool, so a tool-scoped switch covers it (fail closed). A failed read throws: retried.
 */
async function approvalKilled(o: OutcomeInput, db: Db): Promise<KillSwitchVerdict | null> {
  if (o.status !== 'approved') return null;
  const r = o.request;
  const killed = killSwitchCovering(await new KillSwitchesRepository(db).engaged(r.tenant_id), {
    agentId: r.requested_by.agent_id,
    workflowId: r.workflow_id,
    toolName: { unknown: true },
  });
  return killed ? { switch_id: killed.switch_id, message: killSwitchMessage(killed) } : null;
}

/**
 * Whether the step's resolution, found in place, is this outcome's own: the status it records and, for a
 * human decision, who decided and when (both merged into the stored decision body when it was applied).
 */
function sameResolution(
  o: OutcomeInput,
  found: { approvalStatus: string | undefined; decisionBody: DecisionBody | undefined },
): boolean {
  if (found.approvalStatus !== o.status) return false;
  if (!o.decided_by) return true;
  return found.decisionBody?.approved_by === o.decided_by && found.decisionBody?.approved_at === o.decided_at;
}

/** An approved outcome a kill switch overrides: a block with KILL_SWITCH, the approval's fields kept. */
function killedDecision(d: DecisionBody, killed: KillSwitchVerdict): DecisionBody {
  return { ...d, decision: 'block', reason: killed.message, error: { code: 'KILL_SWITCH', message: killed.message } };
}

/** The decision an approval's outcome publishes: the gate's decision body, answered by a human (or the clock). */
function outcomeDecision(o: OutcomeInput, stored: DecisionBody | undefined): DecisionBody {
  const r = o.request;
  const decided = o.decided_by ? { approved_by: o.decided_by, approved_at: o.decided_at } : {};
  const unavailable = o.unavailable && { code: 'APPROVAL_UNAVAILABLE' as const, message: outcomeReason(o) };
  return {
    request_id: r.request_id,
    decision_id: o.decision_id,
    tenant_id: r.tenant_id,
    workflow_id: r.workflow_id,
    step_id: r.step_id,
    decision: o.status === 'approved' ? 'allow' : 'block',
    reason: outcomeReason(o),
    policies_evaluated: stored?.policies_evaluated ?? r.policies_matched,
    policies_matched: r.policies_matched,
    approval_id: r.approval_id,
    ...(stored?.approval_url ? { approval_url: stored.approval_url } : {}),
    approval_status: o.status,
    ...decided,
    retry_context: stored?.retry_context ?? null,
    decision_source: 'approval',
    ...(unavailable ? { error: unavailable } : {}),
    decided_at: o.decided_at,
    ...(r.policy_version ? { policy_version: r.policy_version } : {}),
  };
}

/** What an outcome publishes: the signed decision and its audit event; on reject or expiry, the abort and its audit event. */
function outcomeMessages(
  o: OutcomeInput,
  signed: GateDecision,
  extraDetail: Record<string, unknown> = {},
): Array<{ topic: TopicName; key: string; value: unknown; tenant?: string }> {
  const r = o.request;
  // An approval that could not be started: its events say so by the decision's error code and the dlq reason.
  const unavailable = o.unavailable && {
    error_code: 'APPROVAL_UNAVAILABLE' as const,
    detail: { dlq_reason: o.unavailable.dlq_reason },
  };
  const messages: Array<{ topic: TopicName; key: string; value: unknown; tenant?: string }> = [
    { topic: 'gate.decisions', key: r.workflow_id, value: signed, tenant: r.tenant_id },
    {
      topic: 'audit',
      key: r.tenant_id,
      value: auditEvent(
        r,
        o.audit_event_id,
        o.decided_at,
        AUDIT_ACTION[o.status],
        o.status === 'approved' ? 'Approved' : o.status === 'rejected' ? 'Rejected' : 'Expired',
        {
          decided_by: o.decided_by,
          comment: o.comment,
          decision_id: o.decision_id,
          // Who decided what with which key: the statement and signature, checkable with the public key.
          ...(o.action_digest ? { action_digest: o.action_digest } : {}),
          ...(o.evidence ? { evidence: o.evidence } : {}),
          ...(o.approvals ? { approvals: o.approvals } : {}),
          ...unavailable?.detail,
          ...extraDetail,
        },
        signed,
        unavailable?.error_code,
      ),
    },
  ];
  if (o.status !== 'approved') {
    const aborted: WorkflowAbortedEvent = {
      type: 'workflow.aborted',
      event_id: o.abort_event_id,
      tenant_id: r.tenant_id,
      workflow_id: r.workflow_id,
      step_id: r.step_id,
      approval_id: r.approval_id,
      // An approval that could not be started ended without a human decision, as an expired one does:
      // the cause stays `approval_expired` (consumers of the wire contract know no other), and the
      // reason says it could not be started.
      cause: o.status === 'rejected' ? 'approval_rejected' : 'approval_expired',
      reason: abortReason(o),
      aborted_at: o.decided_at,
    };
    messages.push({ topic: 'workflow.events', key: r.workflow_id, value: aborted });
    messages.push({
      topic: 'audit',
      key: r.tenant_id,
      value: auditEvent(
        r,
        o.abort_audit_event_id,
        o.decided_at,
        'WorkflowAborted',
        'Aborted',
        { cause: aborted.cause, reason: aborted.reason, ...unavailable?.detail },
        undefined,
        unavailable?.error_code,
      ),
    });
  }
  return messages;
}

function outcomeReason(o: OutcomeInput): string {
  if (o.unavailable)
    return `the approval could not be started (${o.unavailable.dlq_reason}): nobody can decide it, so the step is blocked: ${o.request.reason}`;
  if (o.status === 'approved') return `approved by ${o.decided_by}: ${o.comment}`;
  if (o.status === 'rejected') return `rejected by ${o.decided_by}: ${o.comment}`;
  return `approval expired at ${o.decided_at} without a decision: ${o.request.reason}`;
}

function abortReason(o: OutcomeInput): string {
  if (o.unavailable)
    return `approval of step "${o.request.step_id}" could not be started (${o.unavailable.dlq_reason})`;
  return o.status === 'rejected'
    ? `step "${o.request.step_id}" was rejected by ${o.decided_by}: ${o.comment}`
    : `approval of step "${o.request.step_id}" expired`;
}

function auditEvent(
  r: ApprovalRequest,
  id: string,
  timestamp: string,
  action: AuditEvent['action'],
  outcome: string,
  detail: Record<string, unknown>,
  decision?: GateDecision,
  /** The gate error code of the outcome (an approval that could not be started); absent: none. */
  errorCode?: GateErrorCode,
): AuditEvent {
  // The id and timestamp come from the workflow, so a retried activity publishes the same event.
  return newAuditEvent({
    id,
    timestamp,
    tenant_id: r.tenant_id,
    agent_id: r.requested_by.agent_id,
    user_id: r.requested_by.user_id,
    workflow_id: r.workflow_id,
    step_id: r.step_id,
    action,
    outcome,
    inputs_summary: r.inputs_summary,
    elapsed_ms: Math.max(0, Date.parse(timestamp) - Date.parse(r.requested_at)),
    decision_id: decision?.decision_id ?? r.decision_id,
    decision: decision?.decision ?? 'require_approval',
    policies_matched: r.policies_matched.map((p) => p.policy_id),
    // The bundle that asked for the approval (absent on requests of evaluators before it).
    ...(r.policy_version ? { policy_version: r.policy_version } : {}),
    detail: { approval_id: r.approval_id, request_id: r.request_id, principal: r.requested_by.principal, ...detail },
    ...(errorCode ? { error_code: errorCode } : {}),
  });
}
