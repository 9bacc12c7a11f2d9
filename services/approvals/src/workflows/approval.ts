// Workflow code: deterministic, bundled apart from the activities and the worker. Every side effect
// happens in an activity; the workflow only waits, decides who wins, and sequences the effects.
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
} from '@temporalio/workflow';
import type { ApprovalErrorCode } from '@stepgate/contracts';
import {
  APPROVAL_SIGNATURE_MAX_SKEW_MS,
  approvalActionDigest,
  type ApprovalStatementDecision,
  type SignedApprovalStatement,
} from '@stepgate/contracts/approval-statement';
import type { ApprovalActivities, ApproverProof, OutcomeInput, Resolution } from '../activities.js';
import {
  approveUpdate,
  MIN_APPROVAL_COMMENT_LENGTH,
  rejectUpdate,
  STATUS_ATTRIBUTE,
  statusQuery,
  type ApprovalEvidence,
  type ApprovalInput,
  type ApprovalState,
  type NamedDecisionInput,
} from '@stepgate/approvals-client/definitions';

/** Approvals decide on signed statements from here on; histories without the marker replay the named path. */
const SIGNED_APPROVALS_PATCH = 'signed-approvals';

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
    action_digest: approvalActionDigest(r),
    evidence: null,
  };
  setHandler(statusQuery, () => state);

  const refuseIfClosed = () => {
    if (state.status === 'expired' || (state.status === 'pending' && Date.now() >= expiresAt))
      throw refuse('APPROVAL_EXPIRED', `approval ${r.approval_id} expired at ${input.expires_at}`);
    if (state.status !== 'pending')
      throw refuse(
        'APPROVAL_ALREADY_RESOLVED',
        `approval ${r.approval_id} was already ${state.status} by ${state.decided_by} at ${state.decided_at}`,
      );
  };

  // Synchronous checks of a signed statement, refused before anything is written to history. Validators
  // run only when an update arrives, never on replay: they always hold the current rules.
  const validate = (d: unknown, decision: ApprovalStatementDecision) => {
    refuseIfClosed();
    const signed = d as Partial<SignedApprovalStatement> | null | undefined;
    const st = signed?.statement as Record<string, unknown> | undefined;
    if (typeof signed !== 'object' || signed === null || typeof st !== 'object' || st === null)
      throw refuse(
        'UNAUTHENTICATED_APPROVER',
        'expected a statement signed by an approver key (stepgate approvals approve --key)',
      );
    if (typeof signed.signature !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(signed.signature))
      throw refuse('UNAUTHENTICATED_APPROVER', 'signature: expected the base64url Ed25519 signature of the statement');
    for (const field of ['approval_id', 'action_digest', 'decision', 'comment_or_reason', 'signed_at', 'key_id'])
      if (typeof st[field] !== 'string')
        throw refuse('INVALID_APPROVAL_INPUT', `statement.${field}: expected a string`);
    if (Object.keys(st).length !== 6)
      throw refuse(
        'INVALID_APPROVAL_INPUT',
        'statement: expected exactly approval_id, action_digest, decision, comment_or_reason, signed_at, key_id',
      );
    if (st.decision !== decision)
      throw refuse('INVALID_APPROVAL_INPUT', `statement.decision: expected "${decision}" for a ${decision} update`);
    if ((st.comment_or_reason as string).trim().length < MIN_APPROVAL_COMMENT_LENGTH)
      throw refuse(
        'INVALID_APPROVAL_INPUT',
        `${decision === 'approve' ? 'comment' : 'reason'}: expected at least ${MIN_APPROVAL_COMMENT_LENGTH} characters explaining the decision`,
      );
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(st.key_id as string))
      throw refuse('UNAUTHENTICATED_APPROVER', 'statement.key_id: not a key id');
    if (st.approval_id !== r.approval_id)
      throw refuse('DIGEST_MISMATCH', `the statement is for approval ${String(st.approval_id)}, not ${r.approval_id}`);
    if (st.action_digest !== state.action_digest)
      throw refuse('DIGEST_MISMATCH', `the statement's action digest is not this approval's (${state.action_digest})`);
    const signedAt = Date.parse(st.signed_at as string);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(st.signed_at as string) || Number.isNaN(signedAt))
      throw refuse('INVALID_APPROVAL_INPUT', 'statement.signed_at: expected an ISO 8601 instant');
    if (Math.abs(signedAt - Date.now()) > APPROVAL_SIGNATURE_MAX_SKEW_MS)
      throw refuse(
        'STALE_SIGNATURE',
        `statement.signed_at ${String(st.signed_at)} is more than ${APPROVAL_SIGNATURE_MAX_SKEW_MS / 60_000} minutes from ${new Date().toISOString()}`,
      );
  };

  const settle = (status: 'approved' | 'rejected', by: string, text: string, evidence: ApprovalEvidence | null) => {
    // Another decision (or the expiry) may have landed while the lookup ran: the first wins.
    refuseIfClosed();
    Object.assign(state, {
      status,
      decided_by: by,
      decided_at: new Date().toISOString(),
      comment: text.trim(),
      evidence,
    });
    return { ...state };
  };

  // The credential is read and the signature verified in a local activity (Postgres and Ed25519 are
  // outside the sandbox); the workflow decides on its typed answer.
  const decideSigned = async (
    status: 'approved' | 'rejected',
    signed: SignedApprovalStatement,
  ): Promise<ApprovalState> => {
    const proof = await lookups.proveApprover({ signed });
    const principal = provenApprover(proof, r.tenant_id);
    if (
      principal === r.requested_by.principal ||
      principal === r.requested_by.user_id ||
      principal === r.requested_by.agent_id
    )
      throw refuse('SELF_APPROVAL', `${principal} requested this step and cannot decide on it (separation of duties)`);
    if (!(proof.verdict === 'verified' && proof.is_approver))
      throw refuse('NOT_AN_APPROVER', `${principal} does not hold the approver role in tenant ${r.tenant_id}`);
    const { statement, signature } = signed;
    return settle(status, principal, statement.comment_or_reason, {
      statement,
      signature,
      alg: 'Ed25519',
      key_id: statement.key_id,
      principal,
    });
  };

  // Before signed approvals the update named its approver. Replaying such a history (no patch marker)
  // takes that path again; every update that arrives on this code takes the signed one.
  const decideNamed = async (status: 'approved' | 'rejected', d: NamedDecisionInput): Promise<ApprovalState> => {
    if (!(await lookups.isApprover({ tenant_id: r.tenant_id, principal: d.approver })))
      throw refuse('NOT_AN_APPROVER', `${d.approver} does not hold the approver role in tenant ${r.tenant_id}`);
    return settle(status, d.approver, (status === 'approved' ? d.comment : d.reason) ?? '', null);
  };

  const handle = (status: 'approved' | 'rejected') => (d: SignedApprovalStatement) =>
    patched(SIGNED_APPROVALS_PATCH) ? decideSigned(status, d) : decideNamed(status, d as unknown as NamedDecisionInput);
  setHandler(approveUpdate, handle('approved'), { validator: (d) => validate(d, 'approve') });
  setHandler(rejectUpdate, handle('rejected'), { validator: (d) => validate(d, 'reject') });

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
    evidence: state.evidence ?? null,
    action_digest: state.action_digest ?? null,
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

/** The principal a verified statement proves, or the refusal its proof earns. */
function provenApprover(proof: ApproverProof, tenantId: string): string {
  switch (proof.verdict) {
    case 'unknown_key':
      throw refuse('UNAUTHENTICATED_APPROVER', "no credential has the statement's key id");
    case 'bad_signature':
      throw refuse('UNAUTHENTICATED_APPROVER', "the signature does not verify with the credential's public key");
    case 'verified':
      if (proof.tenant_id !== tenantId)
        throw refuse('WRONG_TENANT', `key ${proof.key_id} belongs to another tenant than ${tenantId}`);
      if (proof.revoked) throw refuse('REVOKED_KEY', `key ${proof.key_id} is revoked`);
      return proof.principal;
  }
}
