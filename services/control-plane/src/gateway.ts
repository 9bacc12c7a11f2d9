import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import {
  type Approvers,
  ApprovalRefusedError,
  approverCredential,
  type ApprovalListing,
  type ApprovalState,
  type ApproverCredential,
} from '@stepgate/approvals-client';
import type { ApprovalStatementDecision } from '@stepgate/contracts';
import { signApprovalStatement } from '@stepgate/contracts/node';
import type { Identity } from './auth/identity.js';

const CredentialFileSchema = z.object({
  key_id: z.string().min(1),
  tenant_id: z.string().min(1),
  principal: z.string().min(1),
  private_key_pem: z.string().includes('PRIVATE KEY'),
});

/** Loads approval-gateway credential files, by tenant (one per tenant). */
export async function loadGatewayCredentials(files: readonly string[]): Promise<Map<string, ApproverCredential>> {
  const out = new Map<string, ApproverCredential>();
  for (const file of files) {
    const doc = CredentialFileSchema.parse(JSON.parse(await readFile(file, 'utf8')));
    if (out.has(doc.tenant_id)) throw new Error(`${file}: a second gateway credential for tenant ${doc.tenant_id}`);
    out.set(doc.tenant_id, approverCredential(doc));
  }
  return out;
}

export interface QuorumProgress {
  approvals_required: number;
  /** Who has approved so far. */
  approvals: Array<{ principal: string; approved_at: string }>;
  eligible_roles: string[];
  escalated: { to_role: string; at: string } | null;
}

/** Quorum progress from the status query (workflows started before quorums: one approver of role `approver`). */
export function quorumProgress(state: ApprovalState): QuorumProgress {
  return {
    approvals_required: state.approvals_required ?? 1,
    approvals: (state.approvals ?? []).map((v) => ({ principal: v.principal, approved_at: v.approved_at })),
    eligible_roles: state.eligible_roles ?? ['approver'],
    escalated: state.escalated ?? null,
  };
}

/** The control plane holds no gateway credential for the approval's tenant (answered 503). */
export class GatewayNotConfiguredError extends Error {
  readonly code = 'GATEWAY_NOT_CONFIGURED';
  constructor(tenantId: string) {
    super(`the control plane holds no approval-gateway credential for tenant ${tenantId}`);
    this.name = 'GatewayNotConfiguredError';
  }
}

/**
 * Approvals as a signed-in person sees and decides them: only their tenant's (another tenant's is
 * absent), decided by a statement the gateway credential signs, naming the person.
 */
export class ApprovalGateway {
  constructor(
    private readonly approvers: Approvers,
    private readonly credentials: ReadonlyMap<string, ApproverCredential>,
  ) {}

  list(identity: Identity, filter: { status?: ApprovalListing['status']; limit: number }): Promise<ApprovalListing[]> {
    return this.approvers.list({ tenant: identity.tenantId, ...filter });
  }

  /** The approval, when it is the person's tenant's. */
  async get(identity: Identity, approvalId: string): Promise<ApprovalListing | undefined> {
    const approval = await this.approvers.get(approvalId);
    return approval?.tenant_id === identity.tenantId ? approval : undefined;
  }

  /**
   * The approval with its workflow state (quorum progress; who decided, when, with what comment), when it
   * is the person's tenant's. `state` is undefined when the workflow does not answer its status query.
   */
  async detail(
    identity: Identity,
    approvalId: string,
  ): Promise<{ approval: ApprovalListing; state: ApprovalState | undefined } | undefined> {
    const approval = await this.get(identity, approvalId);
    if (!approval) return undefined;
    const state = await this.approvers.status(approvalId).catch(() => undefined);
    return { approval, state };
  }

  /** Signs and sends the person's decision; throws ApprovalRefusedError or GatewayNotConfiguredError. */
  async decide(p: {
    identity: Identity;
    approvalId: string;
    decision: ApprovalStatementDecision;
    comment: string;
    /** The digest the person reviewed (default: the approval's). */
    actionDigest?: string | undefined;
  }) {
    const approval = await this.get(p.identity, p.approvalId);
    if (!approval) throw new ApprovalRefusedError('APPROVAL_NOT_FOUND', `no approval ${p.approvalId}`);
    const credential = this.credentials.get(approval.tenant_id);
    if (!credential) throw new GatewayNotConfiguredError(approval.tenant_id);
    const digest = p.actionDigest ?? approval.action_digest;
    if (!digest) throw new ApprovalRefusedError('DIGEST_MISMATCH', `approval ${p.approvalId} reports no action digest`);
    const signed = signApprovalStatement(
      {
        approval_id: p.approvalId,
        action_digest: digest,
        decision: p.decision,
        comment_or_reason: p.comment,
        signed_at: new Date().toISOString(),
        key_id: credential.key_id,
        attested_user: {
          issuer: p.identity.issuer,
          subject: p.identity.subject,
          principal: p.identity.principal,
          roles: [...p.identity.roles],
        },
      },
      credential.private_key,
    );
    return this.approvers.submit(p.approvalId, p.decision, signed);
  }
}
