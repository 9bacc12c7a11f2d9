// Workflow code: deterministic, bundled apart from the activities and the worker. Every side effect
// happens in an activity; the workflow only waits, decides who wins, and sequences the effects.
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
} from '@temporalio/workflow';
import type { ApprovalErrorCode } from '@stepgate/contracts';
import type { ApprovalActivities, OutcomeInput, Resolution } from '../activities.js';
import {
  approveUpdate,
  MIN_APPROVAL_COMMENT_LENGTH,
  rejectUpdate,
  STATUS_ATTRIBUTE,
  statusQuery,
  type ApprovalInput,
  type ApprovalState,
  type ApproveInput,
  type RejectInput,
} from '@stepgate/approvals-client/definitions';

const effects = proxyActivities<ApprovalActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});
const lookups = proxyLocalActivities<ApprovalActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 5 },
});

const refuse = (type: ApprovalErrorCode, message: string) =>
  ApplicationFailure.create({ type, message, nonRetryable: true });

export async function approvalWorkflow(input: ApprovalInput): Promise<ApprovalState> {
  const r = input.request;
  const expiresAt = Date.parse(input.expires_at);
  const state: ApprovalState = {
    approval_id: r.approval_id,
    status: 'pending',
    tenant_id: r.tenant_id,
    workflow_id: r.workflow_id,
    step_id: r.step_id,
    requested_at: r.requested_at,
    expires_at: input.expires_at,
    decided_by: null,
    decided_at: null,
    comment: null,
  };
  setHandler(statusQuery, () => state);

  // Synchronous checks, refused before anything is written to history.
  const validate = (approver: unknown, text: unknown, field: 'comment' | 'reason') => {
    refuseIfClosed();
    if (typeof approver !== 'string' || approver.trim() === '')
      throw refuse('INVALID_APPROVAL_INPUT', "approver: expected the approving principal's name");
    if (typeof text !== 'string' || text.trim().length < MIN_APPROVAL_COMMENT_LENGTH)
      throw refuse(
        'INVALID_APPROVAL_INPUT',
        `${field}: expected at least ${MIN_APPROVAL_COMMENT_LENGTH} characters explaining the decision`,
      );
    if (
      approver === r.requested_by.principal ||
      approver === r.requested_by.user_id ||
      approver === r.requested_by.agent_id
    )
      throw refuse('SELF_APPROVAL', `${approver} requested this step and cannot decide on it (separation of duties)`);
  };
  const refuseIfClosed = () => {
    if (state.status === 'expired' || (state.status === 'pending' && Date.now() >= expiresAt))
      throw refuse('APPROVAL_EXPIRED', `approval ${r.approval_id} expired at ${input.expires_at}`);
    if (state.status !== 'pending')
      throw refuse(
        'APPROVAL_ALREADY_RESOLVED',
        `approval ${r.approval_id} was already ${state.status} by ${state.decided_by} at ${state.decided_at}`,
      );
  };
  const decide = async (status: 'approved' | 'rejected', approver: string, text: string): Promise<ApprovalState> => {
    if (!(await lookups.isApprover({ tenant_id: r.tenant_id, principal: approver })))
      throw refuse('NOT_AN_APPROVER', `${approver} does not hold the approver role in tenant ${r.tenant_id}`);
    // Another decision (or the expiry) may have landed while the role was looked up: the first wins.
    refuseIfClosed();
    Object.assign(state, { status, decided_by: approver, decided_at: new Date().toISOString(), comment: text.trim() });
    return { ...state };
  };
  setHandler(approveUpdate, (d: ApproveInput) => decide('approved', d.approver, d.comment), {
    validator: (d: ApproveInput | undefined) => validate(d?.approver, d?.comment, 'comment'),
  });
  setHandler(rejectUpdate, (d: RejectInput) => decide('rejected', d.approver, d.reason), {
    validator: (d: RejectInput | undefined) => validate(d?.approver, d?.reason, 'reason'),
  });

  await effects.announce({ request: r, audit_event_id: uuid4(), expires_at: input.expires_at });

  const resolved = () => state.status !== 'pending';
  if (input.reminder_fraction !== null) {
    const remindAt = Date.parse(r.requested_at) + (expiresAt - Date.parse(r.requested_at)) * input.reminder_fraction;
    if (remindAt > Date.now() && !(await condition(resolved, remindAt - Date.now())))
      await effects.remind({ request: r, expires_at: input.expires_at, reminded_at: new Date().toISOString() });
  }
  if (!(await condition(resolved, Math.max(1, expiresAt - Date.now())))) {
    Object.assign(state, { status: 'expired', decided_at: new Date().toISOString() });
  }
  upsertSearchAttributes([{ key: STATUS_ATTRIBUTE, value: state.status }]);
  await condition(allHandlersFinished);

  const outcome: OutcomeInput = {
    request: r,
    status: state.status as Resolution,
    decided_by: state.decided_by,
    decided_at: state.decided_at!,
    comment: state.comment,
    decision_id: uuid4(),
    audit_event_id: uuid4(),
    abort_event_id: uuid4(),
    abort_audit_event_id: uuid4(),
  };
  const decision = await effects.recordOutcome(outcome);
  await effects.publishOutcome({ outcome, decision });
  if (r.reply_to) await effects.notifyOrchestrator({ outcome, cancel: input.cancel_orchestrator_on_reject });
  return state;
}
