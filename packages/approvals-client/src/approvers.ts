import { WorkflowUpdateFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { APPROVAL_ERROR_CODES, type ApprovalErrorCode } from '@stepgate/contracts';
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

  async status(approvalId: string): Promise<ApprovalState> {
    return this.client.workflow.getHandle(approvalWorkflowId(approvalId)).query(statusQuery);
  }

  approve(approvalId: string, approver: string, comment: string): Promise<ApprovalState> {
    return this.decide(approvalId, () =>
      this.client.workflow
        .getHandle(approvalWorkflowId(approvalId))
        .executeUpdate(approveUpdate, { args: [{ approver, comment }] }),
    );
  }

  reject(approvalId: string, approver: string, reason: string): Promise<ApprovalState> {
    return this.decide(approvalId, () =>
      this.client.workflow
        .getHandle(approvalWorkflowId(approvalId))
        .executeUpdate(rejectUpdate, { args: [{ approver, reason }] }),
    );
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

function toListing(wf: WorkflowExecutionInfo, now: number): ApprovalListing | undefined {
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
