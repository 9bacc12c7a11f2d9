// Workflow code: deterministic, bundled apart from the activities and the worker. Every side effect
// happens in an activity; the workflow only waits, decides who wins, and sequences the effects.
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
} from '@temporalio/workflow';
import type { ApprovalErrorCode, ApprovalRequest, ApprovalRule, DecisionBody } from '@stepgate/contracts';
import {
  APPROVAL_GATEWAY_ROLE,
  APPROVAL_SIGNATURE_MAX_SKEW_MS,
  approvalActionDigest,
  attestedUserProblem,
  sliceWellFormed,
  statementTextProblem,
  type ApprovalStatement,
  type ApprovalStatementDecision,
  type AttestedUser,
  type SignedApprovalStatement,
} from '@stepgate/contracts/approval-statement';
import type { WebhookEvent } from '@stepgate/contracts/node';
import type {
  ApprovalActivities,
  ApproverProof,
  KillSwitchVerdict,
  LegacyOutcomeRecord,
  OutcomeInput,
  OutcomeRecord,
  Resolution,
} from '../activities.js';
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
/**
 * Approvals started from here on ignore cancellation requests (a `reply_to` cancel must not end one)
 * and notify the tenant's webhooks; histories without the marker replay without either.
 */
const NOTIFY_AND_SURVIVE_CANCEL_PATCH = 'webhooks-and-cancel-proof';
/** Separation of duties compares the requesting user case-insensitively with principal and subject. */
const SOD_CASE_INSENSITIVE_PATCH = 'sod-case-insensitive';
/** A superseded outcome sets the status search attribute to `superseded`; histories without the marker did not. */
const SUPERSEDED_STATUS_PATCH = 'superseded-status';

/** What an approval asks for when its event names no rule (events of evaluators before quorums). */
const DEFAULT_RULE: ApprovalRule = { approvals_required: 1, approver_role: 'approver', escalate_to_role: null };

const effects = proxyActivities<ApprovalActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});
const lookups = proxyLocalActivities<ApprovalActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 5 },
});

// A webhook is retried for about an hour (1 s doubling to 5 min), then the failure is audited.
const deliveries = proxyActivities<ApprovalActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '5 minutes', backoffCoefficient: 2, maximumAttempts: 16 },
});

const refuse = (type: ApprovalErrorCode, message: string) =>
  ApplicationFailure.create({ type, message, nonRetryable: true });

export async function approvalWorkflow(input: ApprovalInput): Promise<ApprovalState> {
  // Decided once, at the start: a cancellation request is then a no-op for the whole approval.
  if (patched(NOTIFY_AND_SURVIVE_CANCEL_PATCH))
    return CancellationScope.nonCancellable(() => runApproval(input, { current: true }));
  return runApproval(input, { current: false });
}

async function runApproval(input: ApprovalInput, version: { current: boolean }): Promise<ApprovalState> {
  const r = input.request;
  const rule = r.approval_rule ?? DEFAULT_RULE;
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
    ...(version.current
      ? {
          approvals_required: rule.approvals_required,
          eligible_roles: [rule.approver_role],
          approvals: [],
          escalated: null,
        }
      : {}),
  };
  const eligibleRoles = () => state.eligible_roles ?? [rule.approver_role];
  setHandler(statusQuery, () => state);

  // Webhook deliveries run beside the approval (their retries must not hold it up); awaited at the end.
  const notifications: Array<Promise<void>> = [];
  const notify = (event: WebhookEvent) => {
    if (version.current) notifications.push(notifyWebhooks({ event, request: r, state: { ...state } }));
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
    const attested = 'attested_user' in st;
    if (Object.keys(st).length !== (attested ? 7 : 6))
      throw refuse(
        'INVALID_APPROVAL_INPUT',
        'statement: expected exactly approval_id, action_digest, decision, comment_or_reason, signed_at, key_id (and attested_user from an approval gateway)',
      );
    const attestedProblem = attested ? attestedUserProblem(st.attested_user) : undefined;
    if (attestedProblem) throw refuse('INVALID_APPROVAL_INPUT', attestedProblem);
    const textProblem = statementTextProblem(st);
    if (textProblem) throw refuse('INVALID_APPROVAL_INPUT', textProblem);
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
    const who = provenIdentity(proof, signed.statement, r.tenant_id);
    if (selfApproval(who, r.requested_by, { caseInsensitiveUser: patched(SOD_CASE_INSENSITIVE_PATCH) }))
      throw refuse(
        'SELF_APPROVAL',
        `${who.principal} requested this step and cannot decide on it (separation of duties)`,
      );
    const roles = eligibleRoles();
    if (!who.roles.some((role) => roles.includes(role)))
      throw refuse(
        'NOT_AN_APPROVER',
        `${who.principal} does not hold ${roles.map((role) => `"${role}"`).join(' or ')} in tenant ${r.tenant_id}`,
      );
    const { statement, signature } = signed;
    const evidence: ApprovalEvidence = {
      statement,
      signature,
      alg: 'Ed25519',
      key_id: statement.key_id,
      principal: who.principal,
      ...(who.attested ? { attested_user: who.attested, gateway_principal: who.signer } : {}),
    };
    if (status === 'rejected' || !state.approvals)
      return settle(status, who.principal, statement.comment_or_reason, evidence);
    // A quorum counts distinct people: one principal, or one person of one identity provider, once.
    refuseIfClosed();
    const again = state.approvals.find(
      (v) =>
        v.principal === who.principal ||
        (who.attested &&
          v.evidence.attested_user?.issuer === who.attested.issuer &&
          v.evidence.attested_user.subject === who.attested.subject),
    );
    if (again)
      throw refuse(
        'DUPLICATE_APPROVER',
        `${who.principal} already approved at ${again.approved_at}; another approver must`,
      );
    const approvedAt = new Date().toISOString();
    state.approvals.push({ principal: who.principal, approved_at: approvedAt, evidence });
    if (state.approvals.length >= (state.approvals_required ?? 1))
      return settle('approved', who.principal, statement.comment_or_reason, evidence);
    await effects.recordVote({
      request: r,
      audit_event_id: uuid4(),
      principal: who.principal,
      approved_at: approvedAt,
      approvals: state.approvals.length,
      approvals_required: state.approvals_required ?? 1,
      evidence,
    });
    return { ...state };
  };

  // Before signed approvals the update named its approver. Replaying such a history (no patch marker)
  // takes that path again; every update that arrives on this code takes the signed one.
  const decideNamed = async (status: 'approved' | 'rejected', d: NamedDecisionInput): Promise<ApprovalState> => {
    if (!(await lookups.isApprover({ tenant_id: r.tenant_id, principal: d.approver })))
      throw refuse('NOT_AN_APPROVER', `${d.approver} does not hold the approver role in tenant ${r.tenant_id}`);
    return settle(status, d.approver, (status === 'approved' ? d.comment : d.reason) ?? '', null);
  };

  const decide = (status: 'approved' | 'rejected', d: SignedApprovalStatement) =>
    patched(SIGNED_APPROVALS_PATCH) ? decideSigned(status, d) : decideNamed(status, d as unknown as NamedDecisionInput);
  // Handlers run in the workflow's root scope: after a cancellation request, their lookups must still run.
  const handle = (status: 'approved' | 'rejected') => (d: SignedApprovalStatement) =>
    version.current ? CancellationScope.nonCancellable(() => decide(status, d)) : decide(status, d);
  setHandler(approveUpdate, handle('approved'), { validator: (d) => validate(d, 'approve') });
  setHandler(rejectUpdate, handle('rejected'), { validator: (d) => validate(d, 'reject') });

  await effects.announce({ request: r, audit_event_id: uuid4(), expires_at: input.expires_at });
  notify('approval.requested');

  const resolved = () => state.status !== 'pending';
  if (input.reminder_fraction !== null) {
    const remindAt = Date.parse(r.requested_at) + (expiresAt - Date.parse(r.requested_at)) * input.reminder_fraction;
    if (remindAt > Date.now() && !(await condition(resolved, remindAt - Date.now()))) {
      await effects.remind({ request: r, expires_at: input.expires_at, reminded_at: new Date().toISOString() });
      notify('approval.reminded');
      if (version.current && rule.escalate_to_role && !resolved()) {
        const at = new Date().toISOString();
        state.escalated = { to_role: rule.escalate_to_role, at };
        state.eligible_roles = [...new Set([...eligibleRoles(), rule.escalate_to_role])];
        await effects.escalate({
          request: r,
          audit_event_id: uuid4(),
          escalated_to_role: rule.escalate_to_role,
          eligible_roles: state.eligible_roles,
          expires_at: input.expires_at,
          escalated_at: at,
        });
        notify('approval.escalated');
      }
    }
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
    ...(state.approvals && state.approvals.length > 1 ? { approvals: state.approvals } : {}),
    action_digest: state.action_digest ?? null,
    decision_id: uuid4(),
    audit_event_id: uuid4(),
    abort_event_id: uuid4(),
    abort_audit_event_id: uuid4(),
  };
  const recorded = outcomeRecord(await effects.recordOutcome(outcome));
  if (recorded.applied) {
    // The kill-switch verdict recordOutcome took (in the history: retries and replays get the same),
    // so the published decision and the orchestrator's signal agree.
    const verdict = recorded.kill_switch === undefined ? {} : { kill_switch: recorded.kill_switch };
    await effects.publishOutcome({ outcome, decision: recorded.decision, ...verdict });
    if (r.reply_to)
      await effects.notifyOrchestrator({ outcome, cancel: input.cancel_orchestrator_on_reject, ...verdict });
    notify('approval.decided');
  } else {
    // The step was decided again since this approval was asked for: the outcome decides nothing (it is
    // audited as superseded), so nothing is published or signalled.
    Object.assign(state, {
      status: 'superseded',
      superseded: { resolution: outcome.status, by_decision_id: recorded.superseded_by_decision_id },
    });
    if (patched(SUPERSEDED_STATUS_PATCH)) upsertSearchAttributes([{ key: STATUS_ATTRIBUTE, value: 'superseded' }]);
  }
  await Promise.all(notifications);
  return state;
}

/**
 * recordOutcome's answer, read from what runs of any version recorded: a decision (before the kill-switch
 * verdict was taken there: `kill_switch` absent) or null (superseded) from older ones.
 */
function outcomeRecord(
  answer: OutcomeRecord | LegacyOutcomeRecord,
):
  | { applied: true; decision: DecisionBody; kill_switch?: KillSwitchVerdict | null }
  | { applied: false; superseded_by_decision_id: string | null } {
  if (answer === null) return { applied: false, superseded_by_decision_id: null };
  return 'applied' in answer ? answer : { applied: true, decision: answer };
}

/**
 * POSTs one event to each of the tenant's enabled webhooks (ids only pass through the history; the
 * activity reads URL and secret). A delivery that exhausts its retries is audited, never fatal.
 */
async function notifyWebhooks(p: { event: WebhookEvent; request: ApprovalRequest; state: ApprovalState }) {
  const occurredAt = new Date().toISOString();
  // A local activity: one Postgres read, recorded as a marker (no task round trip when there are none).
  const ids = await lookups.webhookTargets({ tenant_id: p.request.tenant_id });
  await Promise.all(
    ids.map(async (webhookId) => {
      const delivery = { webhook_id: webhookId, event: p.event, delivery_id: uuid4(), occurred_at: occurredAt };
      try {
        await deliveries.deliverWebhook({ ...delivery, request: p.request, state: p.state });
      } catch (err) {
        await effects.auditWebhookFailure({
          ...delivery,
          request: p.request,
          audit_event_id: uuid4(),
          error: failureMessage(err),
        });
      }
    }),
  );
}

/** The innermost message of an activity failure (its cause says what the receiver did). */
function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return sliceWellFormed(e instanceof Error ? e.message : String(e), 500);
}

/** Who a verified statement proves decided: the credential's principal, or the person a gateway attests. */
export interface ProvenIdentity {
  principal: string;
  roles: string[];
  /** The gateway credential's principal, when a gateway signed. */
  signer: string;
  attested: AttestedUser | undefined;
}

function provenIdentity(proof: ApproverProof, statement: ApprovalStatement, tenantId: string): ProvenIdentity {
  const signer = provenApprover(proof, tenantId);
  if (proof.verdict !== 'verified') throw refuse('UNAUTHENTICATED_APPROVER', 'unverified statement');
  // Proofs recorded before quorums carry only whether the principal was an approver.
  const roles = proof.roles ?? (proof.is_approver ? ['approver'] : []);
  const gateway = roles.includes(APPROVAL_GATEWAY_ROLE);
  const attested = statement.attested_user;
  if (attested && !gateway)
    throw refuse(
      'NOT_A_GATEWAY',
      `${signer} does not hold "${APPROVAL_GATEWAY_ROLE}": it cannot attest another person`,
    );
  if (!attested && gateway)
    throw refuse('GATEWAY_MUST_ATTEST', `${signer} is an approval gateway: its statements must name the attested user`);
  return attested
    ? { principal: attested.principal, roles: attested.roles, signer, attested }
    : { principal: signer, roles, signer, attested: undefined };
}

/**
 * Separation of duties: the proven approver is neither the requesting principal, nor its user, nor its
 * agent. The user id is the orchestrator's free text (`Alice` for principal `alice`): compared without case.
 */
export function selfApproval(
  who: Pick<ProvenIdentity, 'principal' | 'attested'>,
  requester: ApprovalRequest['requested_by'],
  options: { caseInsensitiveUser: boolean },
): boolean {
  const requesters = [requester.principal, requester.user_id, requester.agent_id].filter((x) => x !== null);
  const names = [who.principal, ...(who.attested ? [who.attested.subject] : [])];
  if (names.some((name) => requesters.includes(name))) return true;
  const user = requester.user_id?.toLowerCase();
  return options.caseInsensitiveUser && user !== undefined && names.some((name) => name.toLowerCase() === user);
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
