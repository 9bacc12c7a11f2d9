import { WorkflowUpdateFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type { KeyObject } from 'node:crypto';
import {
  APPROVAL_ERROR_CODES,
  type ApprovalErrorCode,
  type ApprovalStatementDecision,
  type AttestedUser,
  type SignedApprovalStatement,
} from '@stepgate/contracts';
import { privateKeyFromPem, signApprovalStatement } from '@stepgate/contracts/node';
import {
  APPROVAL_WORKFLOW_TYPE,
  approvalWorkflowId,
  approveUpdate,
  rejectUpdate,
  STATUS_ATTRIBUTE,
  statusQuery,
  TENANT_ATTRIBUTE,
  type ApprovalMemo,
  type ApprovalState,
  type ApprovalStatus,
} from './definitions.js';

/** An approve or reject that did not take; `code` says why. */
export class ApprovalRefusedError extends Error {
  constructor(
    readonly code: ApprovalErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApprovalRefusedError';
  }
}

/** An approver's credential: the key file `stepgate credentials create` writes, loaded. */
export interface ApproverCredential {
  key_id: string;
  tenant_id: string;
  principal: string;
  private_key: KeyObject;
}

/** Loads the JSON document `stepgate credentials create` writes. */
export function approverCredential(file: {
  key_id: string;
  tenant_id: string;
  principal: string;
  private_key_pem: string;
}): ApproverCredential {
  return {
    key_id: file.key_id,
    tenant_id: file.tenant_id,
    principal: file.principal,
    private_key: privateKeyFromPem(file.private_key_pem),
  };
}

export interface DecideParams {
  credential: ApproverCredential;
  /** The action digest to sign (default: the one the approval reports). */
  actionDigest?: string;
  /** When the statement is signed (default: now). */
  signedAt?: Date;
  /**
   * An approval gateway's statement: the signed-in person it decides for. `credential` must then be
   * the gateway's (its principal holds `approval_gateway`).
   */
  attestedUser?: AttestedUser;
}

/**
 * Builds and signs an approval gateway's statement: the gateway (e.g. the control plane) decides for
 * a person it authenticated, named by `attestedUser`, with its own credential. The approval workflow
 * takes it only from a non-revoked credential of the approval's tenant whose principal holds
 * `approval_gateway`, and checks the person's roles and separation of duties on `attestedUser`.
 */
export function signGatewayStatement(p: {
  credential: ApproverCredential;
  approvalId: string;
  actionDigest: string;
  decision: ApprovalStatementDecision;
  commentOrReason: string;
  attestedUser: AttestedUser;
  signedAt?: Date;
}): SignedApprovalStatement {
  return signApprovalStatement(
    {
      approval_id: p.approvalId,
      action_digest: p.actionDigest,
      decision: p.decision,
      comment_or_reason: p.commentOrReason,
      signed_at: (p.signedAt ?? new Date()).toISOString(),
      key_id: p.credential.key_id,
      attested_user: {
        issuer: p.attestedUser.issuer,
        subject: p.attestedUser.subject,
        principal: p.attestedUser.principal,
        roles: [...p.attestedUser.roles],
      },
    },
    p.credential.private_key,
  );
}

export interface ApprovalListing extends ApprovalMemo {
  approval_id: string;
  tenant_id: string;
  status: ApprovalStatus;
  age_seconds: number;
  /** Seconds until expiry (0 once expired or resolved). */
  time_left_seconds: number;
}

/**
 * What approvers (the CLI now, an HTTP API later) do: list approvals through Temporal's visibility
 * (search attributes, never a scan of workflows) and approve or reject through the workflow's updates.
 */
export class Approvers {
  constructor(
    private readonly client: Client,
    private readonly taskQueue?: string,
  ) {}

  async list(filter: { tenant?: string; status?: ApprovalStatus; limit?: number } = {}): Promise<ApprovalListing[]> {
    const clauses = [`WorkflowType = '${APPROVAL_WORKFLOW_TYPE}'`];
    if (filter.tenant) clauses.push(`${TENANT_ATTRIBUTE.name} = ${quote(filter.tenant)}`);
    if (filter.status) clauses.push(`${STATUS_ATTRIBUTE.name} = ${quote(filter.status)}`);
    // A pending approval is a running one: a run ended without a decision (replaced by a later
    // decision's, or terminated) keeps the status it had.
    if (filter.status === 'pending') clauses.push(`ExecutionStatus = 'Running'`);
    if (this.taskQueue) clauses.push(`TaskQueue = ${quote(this.taskQueue)}`);
    const out: ApprovalListing[] = [];
    const now = Date.now();
    for await (const wf of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      const listing = toListing(wf, now);
      if (listing) out.push(listing);
      if (out.length >= (filter.limit ?? 1000)) break;
    }
    return out;
  }

  /** One approval as `list` shows it (undefined when there is none, or it runs on another task queue). */
  async get(approvalId: string): Promise<ApprovalListing | undefined> {
    try {
      const d = await this.client.workflow.getHandle(approvalWorkflowId(approvalId)).describe();
      if (d.type !== APPROVAL_WORKFLOW_TYPE || (this.taskQueue && d.taskQueue !== this.taskQueue)) return undefined;
      return toListing(d, Date.now());
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  async status(approvalId: string): Promise<ApprovalState> {
    return this.client.workflow.getHandle(approvalWorkflowId(approvalId)).query(statusQuery);
  }

  /**
   * Approves with a statement signed by `credential` (an approver of the approval's tenant). The
   * statement names `actionDigest` when given (the digest the approver reviewed, as `list` shows it),
   * else the digest the approval reports.
   */
  approve(approvalId: string, p: DecideParams & { comment: string }): Promise<ApprovalState> {
    return this.signAndSubmit(approvalId, 'approve', p.comment, p);
  }

  /** Rejects with a signed statement; see `approve`. */
  reject(approvalId: string, p: DecideParams & { reason: string }): Promise<ApprovalState> {
    return this.signAndSubmit(approvalId, 'reject', p.reason, p);
  }

  /** Sends a statement signed elsewhere (another client, a hardware key) as it is. */
  submit(
    approvalId: string,
    decision: ApprovalStatementDecision,
    signed: SignedApprovalStatement,
  ): Promise<ApprovalState> {
    return this.decide(approvalId, () =>
      this.client.workflow
        .getHandle(approvalWorkflowId(approvalId))
        .executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, { args: [signed] }),
    );
  }

  private async signAndSubmit(
    approvalId: string,
    decision: ApprovalStatementDecision,
    text: string,
    p: DecideParams,
  ): Promise<ApprovalState> {
    const actionDigest = p.actionDigest ?? (await this.digestOf(approvalId));
    const signedAt = p.signedAt ?? new Date();
    const signed = p.attestedUser
      ? signGatewayStatement({
          credential: p.credential,
          approvalId,
          actionDigest,
          decision,
          commentOrReason: text,
          attestedUser: p.attestedUser,
          signedAt,
        })
      : signApprovalStatement(
          {
            approval_id: approvalId,
            action_digest: actionDigest,
            decision,
            comment_or_reason: text,
            signed_at: signedAt.toISOString(),
            key_id: p.credential.key_id,
          },
          p.credential.private_key,
        );
    return this.submit(approvalId, decision, signed);
  }

  private async digestOf(approvalId: string): Promise<string> {
    try {
      const state = await this.status(approvalId);
      if (state.action_digest) return state.action_digest;
    } catch (err) {
      throw await this.explainClosed(approvalId, err);
    }
    throw new ApprovalRefusedError('DIGEST_MISMATCH', `approval ${approvalId} reports no action digest`);
  }

  private async decide(approvalId: string, update: () => Promise<ApprovalState>): Promise<ApprovalState> {
    try {
      return await update();
    } catch (err) {
      if (
        err instanceof WorkflowUpdateFailedError &&
        err.cause instanceof ApplicationFailure &&
        isApprovalCode(err.cause.type)
      )
        throw new ApprovalRefusedError(err.cause.type, err.cause.message);
      throw await this.explainClosed(approvalId, err);
    }
  }

  /** An update to a closed or unknown workflow fails at the server; say which, in approval terms. */
  private async explainClosed(approvalId: string, cause: unknown): Promise<unknown> {
    try {
      const d = await this.client.workflow.getHandle(approvalWorkflowId(approvalId)).describe();
      if (d.status.name === 'RUNNING') return cause;
      const status = d.typedSearchAttributes.get(STATUS_ATTRIBUTE);
      return status === 'expired'
        ? new ApprovalRefusedError('APPROVAL_EXPIRED', `approval ${approvalId} expired`)
        : new ApprovalRefusedError(
            'APPROVAL_ALREADY_RESOLVED',
            `approval ${approvalId} was already ${status ?? 'closed'}`,
          );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        return new ApprovalRefusedError('APPROVAL_NOT_FOUND', `no approval ${approvalId}`);
      return cause;
    }
  }
}

function isApprovalCode(type: string | undefined | null): type is ApprovalErrorCode {
  return (APPROVAL_ERROR_CODES as readonly string[]).includes(type ?? '');
}

/** Visibility queries take string literals; a value with a quote could otherwise change the query. */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function toListing(
  wf: Pick<WorkflowExecutionInfo, 'workflowId' | 'memo' | 'typedSearchAttributes'>,
  now: number,
): ApprovalListing | undefined {
  const memo = wf.memo?.approval as ApprovalMemo | undefined;
  if (!memo) return undefined;
  const status = (wf.typedSearchAttributes.get(STATUS_ATTRIBUTE) ?? 'pending') as ApprovalStatus;
  return {
    approval_id: wf.workflowId.replace(/^approval-/, ''),
    tenant_id: wf.typedSearchAttributes.get(TENANT_ATTRIBUTE) ?? '',
    status,
    ...memo,
    age_seconds: Math.round((now - Date.parse(memo.requested_at)) / 1000),
    time_left_seconds: status === 'pending' ? Math.max(0, Math.round((Date.parse(memo.expires_at) - now) / 1000)) : 0,
  };
}
