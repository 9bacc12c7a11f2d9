// Shared by the workflow, the worker's client and approvers: names, shapes and search attributes of
// the approval workflow. Imports nothing that cannot run in the workflow sandbox.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { ApprovalErrorCode, ApprovalRequest } from '@stepgate/contracts';
import type { ApprovalStatement, AttestedUser, SignedApprovalStatement } from '@stepgate/contracts/approval-statement';

export const APPROVAL_WORKFLOW_TYPE = 'approvalWorkflow';
export const DEFAULT_APPROVALS_TASK_QUEUE = 'stepgate-approvals';

/** Approvers explain themselves: comments and rejection reasons are at least this long (reference rule). */
export const MIN_APPROVAL_COMMENT_LENGTH = 10;

export const approvalWorkflowId = (approvalId: string): string => `approval-${approvalId}`;

/** Registered on the dev server by infra/local/temporal.sh; listing approvals filters on them. */
export const TENANT_ATTRIBUTE = defineSearchAttributeKey('StepgateTenant', SearchAttributeType.KEYWORD);
export const STATUS_ATTRIBUTE = defineSearchAttributeKey('StepgateApprovalStatus', SearchAttributeType.KEYWORD);
export const GOVERNED_WORKFLOW_ATTRIBUTE = defineSearchAttributeKey(
  'StepgateGovernedWorkflow',
  SearchAttributeType.KEYWORD,
);

/**
 * What an approval run shows (the contract's APPROVAL_STATUSES, which decisions carry, plus `superseded`).
 * `superseded`: resolved, but the step was decided again since the approval was asked for, so the
 * outcome decided nothing (`ApprovalState.superseded` says how it had resolved).
 */
export const APPROVAL_RUN_STATUSES = ['pending', 'approved', 'rejected', 'expired', 'superseded'] as const;
export type ApprovalStatus = (typeof APPROVAL_RUN_STATUSES)[number];
/** How an approval ended: decided by approvers, or by the clock. */
export type ApprovalResolution = Exclude<ApprovalStatus, 'pending' | 'superseded'>;

export interface ApprovalInput {
  request: ApprovalRequest;
  /** When the approval expires (requested_at + the policy's, tenant's or service's timeout). */
  expires_at: string;
  /** Emit an `approval.reminder` at this fraction of the wait (null: none). */
  reminder_fraction: number | null;
  /** On reject or expiry, also ask a `reply_to` Temporal workflow to cancel. */
  cancel_orchestrator_on_reject: boolean;
}

export interface ApprovalState {
  approval_id: string;
  status: ApprovalStatus;
  tenant_id: string;
  workflow_id: string;
  step_id: string;
  requested_at: string;
  expires_at: string;
  decided_by: string | null;
  decided_at: string | null;
  /** The approver's comment, or the rejection reason. */
  comment: string | null;
  /** What approvers sign (absent only from the state of workflows that ran before signed approvals). */
  action_digest?: string;
  /** The verified statement that decided the approval (null until then, and for name-only decisions of old workflows). */
  evidence?: ApprovalEvidence | null;
  /** Distinct proven approvers needed (absent from workflows started before quorums: 1). */
  approvals_required?: number;
  /** Roles whose principals may decide now (the policy's approver role; plus the escalation role once escalated). */
  eligible_roles?: string[];
  /** Who has approved so far, with their evidence (a quorum is reached when there are approvals_required). */
  approvals?: ApprovalVote[];
  /** Set when the reminder fired without a decision and the approval escalated. */
  escalated?: { to_role: string; at: string } | null;
  /**
   * Set with status `superseded`: how the approval had resolved, and the step's decision that
   * superseded it (null when unknown: runs from before it was reported).
   */
  superseded?: { resolution: ApprovalResolution; by_decision_id: string | null };
}

/** One proven approver's approval. */
export interface ApprovalVote {
  principal: string;
  approved_at: string;
  evidence: ApprovalEvidence;
}

/** Who approved or rejected what with which key: checkable later by anyone with the public key. */
export interface ApprovalEvidence {
  statement: ApprovalStatement;
  signature: string;
  alg: 'Ed25519';
  key_id: string;
  /**
   * The proven approver, also in `decided_by`: the credential's principal, or the principal an approval
   * gateway attests (`statement.attested_user`, with the person's issuer and subject).
   */
  principal: string;
  /** Present when an approval gateway signed: the person it attests. */
  attested_user?: AttestedUser;
  /** Present when an approval gateway signed: the gateway credential's principal. */
  gateway_principal?: string;
}

/** Shown to approvers when listing (kept in the workflow's memo, so listing reads no history). */
export interface ApprovalMemo {
  /** The decision that asked for this approval (absent from approvals started before it was recorded). */
  decision_id?: string;
  workflow_id: string;
  step_id: string;
  step_name: string | null;
  step_type: string;
  reason: string;
  severity: string | null;
  requested_by: ApprovalRequest['requested_by'];
  policies_matched: string[];
  inputs_summary: string;
  requested_at: string;
  expires_at: string;
  /** Absent from approvals started before signed approvals. */
  action_digest?: string;
}

/**
 * The argument of the `approve` and `reject` updates: a statement with `decision` "approve" or "reject"
 * and its signature by an approver's credential (see `approvalStatementBytes`).
 */
export type ApproveInput = SignedApprovalStatement;
export type RejectInput = SignedApprovalStatement;

/** What the updates took before signed approvals; only replayed histories still carry it. */
export interface NamedDecisionInput {
  approver: string;
  comment?: string;
  reason?: string;
}

export const approveUpdate = defineUpdate<ApprovalState, [ApproveInput]>('approve');
export const rejectUpdate = defineUpdate<ApprovalState, [RejectInput]>('reject');
export const statusQuery = defineQuery<ApprovalState>('status');

/** The failure type of a refused approve/reject. */
export type ApprovalRefusal = ApprovalErrorCode;
