// What an approver signs, and the digest of what is approved. Sandbox-safe (no zod, no node:): the
// approval workflow imports it through '@stepgate/contracts/approval-statement'; clients of any language
// rebuild the same bytes (docs/wire-contract.md, "Approval statements").
import type { ApprovalRequest } from './events.js';
import { sha256Hex, utf8 } from './sha256.js';
import { findUnacceptable, UNACCEPTABLE_MESSAGES } from './hostile-input.js';

// For workflow code, which imports contracts through this module only.
export { sliceWellFormed } from './hostile-input.js';
import { canonicalJson } from './wire.js';

export const APPROVAL_STATEMENT_DECISIONS = ['approve', 'reject'] as const;
export type ApprovalStatementDecision = (typeof APPROVAL_STATEMENT_DECISIONS)[number];

/** The role of a credential that may sign statements on behalf of signed-in people (the control plane). */
export const APPROVAL_GATEWAY_ROLE = 'approval_gateway';

/**
 * The signed-in person an approval gateway attests. Present only in statements signed with a credential
 * whose principal holds `APPROVAL_GATEWAY_ROLE`; the approver is then `principal` of the statement's
 * tenant, with the roles the gateway resolved for that person (stepgate's principals table or the
 * provider's groups claim).
 */
export interface AttestedUser {
  /** The OpenID Connect issuer that authenticated the person. */
  issuer: string;
  /** The person's `sub` at that issuer. */
  subject: string;
  /** The stepgate principal the person maps to (by the configured claim). */
  principal: string;
  roles: string[];
}

/** A statement's `signed_at` must be within this much of the approval workflow's time, either way. */
export const APPROVAL_SIGNATURE_MAX_SKEW_MS = 5 * 60_000;

/** An action digest: SHA-256, 64 lower-case hex digits. */
export const ACTION_DIGEST_PATTERN = /^[0-9a-f]{64}$/;

/**
 * An approver's decision on one approval. The signature is Ed25519 over `approvalStatementBytes`
 * (RFC 8785 canonical JSON, UTF-8) with the private key of credential `key_id`.
 */
export interface ApprovalStatement {
  approval_id: string;
  /** The approval's action digest (`stepgate approvals list` shows it). */
  action_digest: string;
  decision: ApprovalStatementDecision;
  /** The approver's comment (approve) or reason (reject). */
  comment_or_reason: string;
  /** ISO 8601 instant of signing. */
  signed_at: string;
  key_id: string;
  /** Only in statements signed by an approval gateway: the person who decided. */
  attested_user?: AttestedUser;
}

/** A signed statement, as the approval workflow's `approve` and `reject` updates take it. */
export interface SignedApprovalStatement {
  statement: ApprovalStatement;
  /** base64url (no padding) Ed25519 signature of `approvalStatementBytes(statement)`. */
  signature: string;
}

/** The bytes an approver signs. */
export function approvalStatementBytes(statement: ApprovalStatement): Uint8Array {
  return utf8(canonicalJson(statement));
}

/** What of a gate request an approval is about (the evaluator fills it from the validated request). */
export interface ActionRequestPart {
  model: string | null;
  provider: string | null;
  step_input: unknown;
  tool_context: unknown;
}

export interface ActionDigestInput {
  tenant_id: string;
  workflow_id: string;
  step_id: string;
  step_type: string;
  step_name: string | null;
  policies_matched: ApprovalRequest['policies_matched'];
  /** null for approvals requested before the evaluator put a digest in the event. */
  request: ActionRequestPart | null;
  /**
   * The decision that asks for the approval: a statement then approves that decision only, never a
   * later one of the same step with the same inputs (absent from digests made before it was bound).
   */
  decision_id?: string;
}

/** SHA-256 (hex) of the canonical JSON of what is approved. */
export function actionDigest(a: ActionDigestInput): string {
  return sha256Hex(
    utf8(
      canonicalJson({
        v: a.decision_id === undefined ? 1 : 2,
        ...(a.decision_id === undefined ? {} : { decision_id: a.decision_id }),
        tenant_id: a.tenant_id,
        workflow_id: a.workflow_id,
        step_id: a.step_id,
        step_type: a.step_type,
        step_name: a.step_name,
        policies_matched: a.policies_matched,
        request: a.request && {
          model: a.request.model,
          provider: a.request.provider,
          step_input: a.request.step_input ?? null,
          tool_context: a.request.tool_context ?? null,
        },
      }),
    ),
  );
}

/**
 * An approval's action digest: the evaluator's (`action_digest`, which covers the request's input and
 * tool context) or, for an event from an older evaluator, the digest of the fields the event carries.
 */
export function approvalActionDigest(r: ApprovalRequest): string {
  return (
    r.action_digest ??
    actionDigest({
      tenant_id: r.tenant_id,
      workflow_id: r.workflow_id,
      step_id: r.step_id,
      step_type: r.step_type,
      step_name: r.step_name,
      policies_matched: r.policies_matched,
      request: null,
    })
  );
}

/** Bounds of an attested user (a gateway's statement is refused beyond them). */
export const ATTESTED_USER_LIMITS = { issuer: 512, subject: 255, principal: 255, role: 63, roles: 32 } as const;

/** Why a statement's `attested_user` is malformed (path and expectation), or undefined when it is well-formed. */
export function attestedUserProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'statement.attested_user: expected an object';
  const u = value as Record<string, unknown>;
  const keys = Object.keys(u).sort().join(',');
  if (keys !== 'issuer,principal,roles,subject')
    return 'statement.attested_user: expected exactly issuer, subject, principal, roles';
  for (const field of ['issuer', 'subject', 'principal'] as const) {
    const v = u[field];
    if (typeof v !== 'string' || v.length === 0 || v.length > ATTESTED_USER_LIMITS[field])
      return `statement.attested_user.${field}: expected 1 to ${ATTESTED_USER_LIMITS[field]} characters`;
  }
  const roles = u.roles;
  if (
    !Array.isArray(roles) ||
    roles.length > ATTESTED_USER_LIMITS.roles ||
    roles.some((r) => typeof r !== 'string' || r.length === 0 || r.length > ATTESTED_USER_LIMITS.role)
  )
    return `statement.attested_user.roles: expected up to ${ATTESTED_USER_LIMITS.roles} role names`;
  return undefined;
}

/**
 * What in a statement Postgres could not store (a NUL or a lone surrogate, which JSON carries
 * escaped), named by field; undefined when there is none. Its comment is recorded and audited: an
 * approval whose outcome could never be written would stay decided in the workflow and pending in
 * the ledger for good.
 */
export function statementTextProblem(statement: unknown): string | undefined {
  const found = findUnacceptable(statement);
  return found ? `statement.${found.path}: ${UNACCEPTABLE_MESSAGES[found.kind]}` : undefined;
}
