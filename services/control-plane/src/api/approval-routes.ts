import type { Api } from './route.js';
import { withUrl, type ApiDeps } from './deps.js';
import { notFound } from './errors.js';
import { quorumProgress } from '../gateway.js';
import type { ApprovalState } from '@stepgate/approvals-client';
import { APPROVAL_READERS } from '../auth/identity.js';
import {
  ApprovalListQuery,
  ApprovalParams,
  ApprovalSchema,
  ApprovalStateSchema,
  DecideBody,
  DecisionParams,
  DecisionSchema,
  MeSchema,
} from './schemas.js';

/** Who am I, approvals (list, get, approve, reject) and decisions by request id. */
export function approvalRoutes(api: Api, deps: ApiDeps): void {
  const approval = api.schema('Approval', ApprovalSchema);
  const state = api.schema('ApprovalState', ApprovalStateSchema);
  const url = withUrl(deps.portalBaseUrl);

  api.route({
    method: 'get',
    path: '/api/v1/me',
    tag: 'identity',
    summary: 'The signed-in principal, its tenant and roles',
    roles: APPROVAL_READERS,
    response: MeSchema,
    handler: async ({ identity: i }) => ({
      tenant_id: i.tenantId,
      principal: i.principal,
      roles: i.roles,
      issuer: i.issuer,
      subject: i.subject,
    }),
  });

  api.route({
    method: 'get',
    path: '/api/v1/approvals',
    tag: 'approvals',
    summary: "The tenant's approvals, newest first",
    roles: APPROVAL_READERS,
    query: ApprovalListQuery,
    response: approval.array(),
    handler: async ({ identity, query }) =>
      (
        await deps.gateway.list(identity, { limit: query.limit, ...(query.status ? { status: query.status } : {}) })
      ).map(url),
  });

  api.route({
    method: 'get',
    path: '/api/v1/approvals/{approval_id}',
    tag: 'approvals',
    summary: 'One approval of the tenant, with its quorum progress',
    roles: APPROVAL_READERS,
    params: ApprovalParams,
    response: approval,
    handler: async ({ identity, params }) => {
      const d = await deps.gateway.detail(identity, params.approval_id);
      if (!d) throw notFound(`approval ${params.approval_id}`);
      return { ...url(d.approval), ...(d.state ? stateOf(d.state) : {}) };
    },
  });

  for (const decision of ['approve', 'reject'] as const)
    api.route({
      method: 'post',
      path: `/api/v1/approvals/{approval_id}/${decision}`,
      tag: 'approvals',
      summary: `${decision === 'approve' ? 'Approve' : 'Reject'}: a statement the control plane's gateway credential signs, naming the caller`,
      roles: ['approver'],
      params: ApprovalParams,
      body: DecideBody,
      response: state,
      handler: async ({ identity, params, body }) => {
        const s = await deps.gateway.decide({
          identity,
          approvalId: params.approval_id,
          decision,
          comment: body.comment,
          actionDigest: body.action_digest,
        });
        return {
          approval_id: s.approval_id,
          status: s.status,
          decided_by: s.decided_by,
          decided_at: s.decided_at,
          comment: s.comment,
        };
      },
    });

  api.route({
    method: 'get',
    path: '/api/v1/decisions/{request_id}',
    tag: 'decisions',
    summary: 'The decision a gate request of the tenant got: which policies matched and why',
    roles: APPROVAL_READERS,
    params: DecisionParams,
    response: api.schema('Decision', DecisionSchema),
    handler: async ({ identity, params }) => {
      const d = await deps.store.auditReads.gateDecision({ tenantId: identity.tenantId, requestId: params.request_id });
      if (!d) throw notFound(`decision for request ${params.request_id}`);
      return d as never;
    },
  });
}

/**
 * What one approval's workflow state adds to its listing: the quorum's progress, and its status as the
 * workflow has it (a run from before superseded runs set their search attribute still lists as decided).
 */
function stateOf(s: ApprovalState) {
  return { status: s.status, ...quorumProgress(s), ...(s.superseded ? { superseded: s.superseded } : {}) };
}
