import { z } from 'zod';
import { DECISIONS } from './gate-step.js';
import { PolicyRefSchema, PolicyVersionSchema } from './decision.js';
import { ReplyToSchema } from './gate-request.js';
import { sliceWellFormed } from './hostile-input.js';
import { canonicalJson } from './wire.js';

/** A role name as principals hold it (`approver`, `release-manager`). */
export const ROLE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;
const roleName = z.string().regex(ROLE_NAME_PATTERN);

/** How many distinct proven approvers of which role release a step, and who is asked when nobody answers. */
export const ApprovalRuleSchema = z
  .object({
    approvals_required: z.number().int().min(1).max(10),
    approver_role: roleName,
    /** When the reminder fires without a decision, principals of this role become eligible too. */
    escalate_to_role: roleName.nullable(),
  })
  .strict();
export type ApprovalRule = z.infer<typeof ApprovalRuleSchema>;

/** What an approval asks for when the event names no rule (events of older evaluators). */
export const DEFAULT_APPROVAL_RULE: ApprovalRule = {
  approvals_required: 1,
  approver_role: 'approver',
  escalate_to_role: null,
};

/** `approvals` value (key = approval_id): the evaluator asks for a human decision on a step. */
export const ApprovalRequestSchema = z.object({
  type: z.literal('approval.requested'),
  approval_id: z.uuid(),
  tenant_id: z.string(),
  workflow_id: z.string(),
  step_id: z.string(),
  step_name: z.string().nullable(),
  step_type: z.string(),
  request_id: z.string(),
  decision_id: z.uuid(),
  requested_by: z.object({ principal: z.string(), user_id: z.string().nullable(), agent_id: z.string().nullable() }),
  reason: z.string(),
  severity: z.enum(['low', 'medium', 'high', 'critical']).nullable(),
  timeout_seconds: z.number().int().positive().nullable(),
  policies_matched: z.array(PolicyRefSchema),
  inputs_summary: z.string(),
  reply_to: ReplyToSchema.nullable(),
  requested_at: z.iso.datetime({ offset: true }),
  /** Rate-limit, budget and delegation counters to advance if, and only when, the step is approved. */
  usage_increments: z.array(z.object({ key: z.string(), by: z.number() })).default([]),
  /**
   * SHA-256 of what is approved (`actionDigest` in ./approval-statement.ts, over the validated request's
   * step, matched policies, input, tool context, model and provider); approvers sign it. Absent from
   * older evaluators' events: the approval workflow then digests the fields above.
   */
  action_digest: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /**
   * Who may decide, from the deciding policy's action config (docs/policies.md, "Quorum and
   * escalation"). Absent from older evaluators' events: one approver of role `approver`.
   */
  approval_rule: ApprovalRuleSchema.optional(),
  /** The bundle that asked for the approval; absent from older evaluators' events. */
  policy_version: PolicyVersionSchema.optional(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequestSchema>;

export const AUDIT_ACTIONS = [
  'GateEvaluated',
  'StepCompleted',
  'ApprovalRequested',
  'ApprovalGranted',
  'ApprovalRejected',
  'ApprovalExpired',
  /** Nobody decided by the reminder: the approval's escalation role became eligible. */
  'ApprovalEscalated',
  /** One approver of a quorum approved; the approval stays pending until the quorum is reached. */
  'ApprovalVoteRecorded',
  'WorkflowAborted',
  'PolicyBundleApplied',
  'CredentialCreated',
  'CredentialRevoked',
  'AuthenticationFailed',
  'InvalidRequest',
  'AlertRaised',
  'AlertThresholdChanged',
  'TenantSettingsChanged',
  'WebhookAdded',
  'WebhookRemoved',
  /** `stepgate credentials link-identity`: a person of an OpenID Connect provider signs in as a principal. */
  'IdentityLinked',
  /** A webhook delivery failed after all its retries (the approval goes on regardless). */
  'WebhookDeliveryFailed',
  'PolicyBundleRolledBack',
  'ShadowBundleInstalled',
  'ShadowBundlePromoted',
  'ShadowBundleDropped',
  'ShadowDivergence',
  'KillSwitchEngaged',
  'KillSwitchReleased',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Actions that change how stepgate governs a tenant: alerted on (`config_change`) and flagged in exports. */
export const CONFIG_CHANGE_ACTIONS: ReadonlySet<AuditAction> = new Set<AuditAction>([
  'PolicyBundleApplied',
  'CredentialCreated',
  'CredentialRevoked',
  'AlertThresholdChanged',
  'TenantSettingsChanged',
  'WebhookAdded',
  'WebhookRemoved',
  'IdentityLinked',
  'PolicyBundleRolledBack',
  'ShadowBundleInstalled',
  'ShadowBundlePromoted',
  'ShadowBundleDropped',
  'KillSwitchEngaged',
  'KillSwitchReleased',
]);

/** `audit` value (key = tenant_id): the reference 000 audit row plus stepgate's fields. */
export const AuditEventSchema = z.object({
  id: z.uuid(),
  timestamp: z.iso.datetime({ offset: true }),
  tenant_id: z.string().nullable(),
  agent_id: z.string().nullable(),
  session_id: z.string().nullable(),
  user_id: z.string().nullable(),
  workflow_id: z.string().nullable(),
  execution_id: z.string().nullable(),
  step_id: z.string().nullable(),
  action: z.enum(AUDIT_ACTIONS),
  outcome: z.string(),
  inputs_summary: z.string(),
  elapsed_ms: z.number().nonnegative(),
  decision_id: z.string().nullable(),
  decision: z.enum(DECISIONS).nullable(),
  policies_matched: z.array(z.string()),
  error_code: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
  /** The bundle the event's decision was taken under; absent from events without one and from older producers. */
  policy_version: PolicyVersionSchema.optional(),
});
export type AuditEvent = z.infer<typeof AuditEventSchema>;

const AUDIT_KEYS = Object.keys(AuditEventSchema.shape).sort();
/** Keys an audit event may leave out (absent, not null: events without them hash as they always did). */
const OPTIONAL_AUDIT_KEYS: ReadonlySet<string> = new Set(['policy_version']);

/**
 * The RFC 8785 canonical JSON of an audit event, byte for byte what `canonicalJson` gives, built
 * faster: a copy with every object's keys in RFC 8785 order goes through the native JSON.stringify,
 * whose strings and finite numbers are already RFC 8785's. The audit consumer hashes and stores one
 * of these per event. The copy of the event itself is one object literal with its keys written in
 * RFC 8785 order (one shape for every event, no per-key lookups or property additions).
 */
export function canonicalAuditEvent(event: AuditEvent): string {
  const record = event as unknown as Record<string, unknown>;
  if (!LITERAL_ORDER_IS_CANONICAL) return canonicalAuditEventByKeys(record, event);
  let own = 0;
  for (const key in record) if (Object.hasOwn(record, key)) own++;
  const version = record.policy_version;
  if (own !== (version === undefined ? AUDIT_KEYS.length - 1 : AUDIT_KEYS.length)) return canonicalJson(event);
  try {
    // Keys in RFC 8785 order (LITERAL_KEYS, checked against the schema's keys below). An absent
    // policy_version is undefined here, which JSON.stringify leaves out as the event does.
    return JSON.stringify({
      action: ordered(record.action),
      agent_id: ordered(record.agent_id),
      decision: ordered(record.decision),
      decision_id: ordered(record.decision_id),
      detail: ordered(record.detail),
      elapsed_ms: ordered(record.elapsed_ms),
      error_code: ordered(record.error_code),
      execution_id: ordered(record.execution_id),
      id: ordered(record.id),
      inputs_summary: ordered(record.inputs_summary),
      outcome: ordered(record.outcome),
      policies_matched: ordered(record.policies_matched),
      policy_version: version === undefined ? undefined : ordered(version),
      session_id: ordered(record.session_id),
      step_id: ordered(record.step_id),
      tenant_id: ordered(record.tenant_id),
      timestamp: ordered(record.timestamp),
      user_id: ordered(record.user_id),
      workflow_id: ordered(record.workflow_id),
    });
  } catch (err) {
    if (err === UNORDERABLE_VALUE) return canonicalJson(event); // not the schema's shape: take the general path
    throw err;
  }
}

/** The keys of canonicalAuditEvent's object literal, in the order it writes them. */
const LITERAL_KEYS = [
  'action',
  'agent_id',
  'decision',
  'decision_id',
  'detail',
  'elapsed_ms',
  'error_code',
  'execution_id',
  'id',
  'inputs_summary',
  'outcome',
  'policies_matched',
  'policy_version',
  'session_id',
  'step_id',
  'tenant_id',
  'timestamp',
  'user_id',
  'workflow_id',
];
/** The literal is the schema's keys in RFC 8785 order, `policy_version` its only optional key (else: the keyed path). */
const LITERAL_ORDER_IS_CANONICAL =
  LITERAL_KEYS.join() === AUDIT_KEYS.join() && [...OPTIONAL_AUDIT_KEYS].join() === 'policy_version';

/** Thrown by `ordered` (and caught by canonicalAuditEvent) for a value JSON.stringify cannot give in RFC 8785 form. */
const UNORDERABLE_VALUE = new Error('unorderable');

/** A field's value in RFC 8785 order (strings and null as they are), or throws UNORDERABLE_VALUE (undefined included: a required field is missing). */
function ordered(value: unknown): unknown {
  if (typeof value === 'string' || value === null) return value;
  const copy = inCanonicalOrder(value);
  if (copy === UNORDERABLE) throw UNORDERABLE_VALUE;
  return copy;
}

/** canonicalAuditEvent by the schema's key list (should the schema's keys ever differ from LITERAL_KEYS). */
function canonicalAuditEventByKeys(record: Record<string, unknown>, event: AuditEvent): string {
  let own = 0;
  for (const key in record) if (Object.hasOwn(record, key)) own++;
  let expected = 0;
  for (const key of AUDIT_KEYS) if (record[key] !== undefined || !OPTIONAL_AUDIT_KEYS.has(key)) expected++;
  if (own !== expected) return canonicalJson(event); // not the schema's shape: take the general path
  const copy: Record<string, unknown> = {};
  for (const key of AUDIT_KEYS) {
    if (record[key] === undefined && OPTIONAL_AUDIT_KEYS.has(key)) continue;
    const value = inCanonicalOrder(record[key]);
    if (value === UNORDERABLE) return canonicalJson(event);
    copy[key] = value;
  }
  return JSON.stringify(copy);
}

const UNORDERABLE = Symbol('unorderable');
/** Keys a JS object always lists first, in numeric order (RFC 8785 sorts them as strings: "10" < "9"). */
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;

/** A copy of `value` whose objects list their keys in RFC 8785 order, or UNORDERABLE when JSON.stringify cannot keep that order or form. */
function inCanonicalOrder(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : UNORDERABLE;
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++)
      if ((copy[i] = inCanonicalOrder(value[i])) === UNORDERABLE) return UNORDERABLE;
    return copy;
  }
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return UNORDERABLE;
  const copy: Record<string, unknown> = {};
  // RFC 8785 orders keys by UTF-16 code units, which is what the default sort compares.
  for (const key of Object.keys(value).sort()) {
    const first = key.charCodeAt(0);
    if ((first >= 0x30 && first <= 0x39 && ARRAY_INDEX.test(key)) || key === '__proto__') return UNORDERABLE; // `__proto__` would set the copy's prototype
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if ((copy[key] = inCanonicalOrder(v)) === UNORDERABLE) return UNORDERABLE;
  }
  return copy;
}

export const DEFAULT_REDACTED_KEYS = [
  'password',
  'passwd',
  'token',
  'secret',
  'api_key',
  'apikey',
  'authorization',
  'private_key',
  'credential',
];

/**
 * A short, secret-free rendering of a step's inputs for audit rows and approvers: keys whose name
 * contains a redacted word are masked, long strings truncated, the whole capped.
 */
export function summarizeInputs(
  value: unknown,
  options: { redactKeys?: readonly string[]; maxValueLength?: number; maxLength?: number } = {},
): string {
  const redact = (options.redactKeys ?? DEFAULT_REDACTED_KEYS).map((k) => k.toLowerCase());
  const maxValue = options.maxValueLength ?? 80;
  const maxTotal = options.maxLength ?? 1000;
  const render = (v: unknown, depth: number): string => {
    if (v === null || v === undefined) return String(v);
    if (typeof v === 'string')
      return v.length > maxValue ? `${JSON.stringify(sliceWellFormed(v, maxValue))}…(${v.length})` : JSON.stringify(v);
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
    if (typeof v !== 'object') return typeof v;
    if (depth >= 3) return Array.isArray(v) ? `[…${v.length}]` : '{…}';
    if (Array.isArray(v))
      return `[${v
        .slice(0, 10)
        .map((x) => render(x, depth + 1))
        .join(', ')}${v.length > 10 ? ', …' : ''}]`;
    const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) =>
      redact.some((r) => k.toLowerCase().includes(r)) ? `${k}: "[REDACTED]"` : `${k}: ${render(x, depth + 1)}`,
    );
    return `{ ${entries.join(', ')} }`;
  };
  const text = render(value, 0);
  return text.length > maxTotal ? `${sliceWellFormed(text, maxTotal)}…` : text;
}

/** `approvals` value: a reminder that an approval is still pending (e.g. at half its timeout). */
export const ApprovalReminderSchema = z.object({
  type: z.literal('approval.reminder'),
  approval_id: z.uuid(),
  tenant_id: z.string(),
  workflow_id: z.string(),
  step_id: z.string(),
  expires_at: z.iso.datetime({ offset: true }),
  reminded_at: z.iso.datetime({ offset: true }),
});
export type ApprovalReminder = z.infer<typeof ApprovalReminderSchema>;

/** `approvals` value: nobody decided by the reminder, so principals of `escalated_to_role` may decide too. */
export const ApprovalEscalatedSchema = z.object({
  type: z.literal('approval.escalated'),
  approval_id: z.uuid(),
  tenant_id: z.string(),
  workflow_id: z.string(),
  step_id: z.string(),
  escalated_to_role: roleName,
  /** Roles whose principals may decide from now on. */
  eligible_roles: z.array(roleName),
  expires_at: z.iso.datetime({ offset: true }),
  escalated_at: z.iso.datetime({ offset: true }),
});
export type ApprovalEscalated = z.infer<typeof ApprovalEscalatedSchema>;

/** Everything published on `approvals`. */
export const ApprovalEventSchema = z.discriminatedUnion('type', [
  ApprovalRequestSchema,
  ApprovalReminderSchema,
  ApprovalEscalatedSchema,
]);
export type ApprovalEvent = z.infer<typeof ApprovalEventSchema>;

/** Why an approve or reject was refused (a Temporal update's failure type). */
export const APPROVAL_ERROR_CODES = [
  'APPROVAL_ALREADY_RESOLVED',
  'APPROVAL_EXPIRED',
  'APPROVAL_NOT_FOUND',
  'SELF_APPROVAL',
  'NOT_AN_APPROVER',
  'INVALID_APPROVAL_INPUT',
  /** No signed statement, a signature that does not verify, or a key id no credential has. */
  'UNAUTHENTICATED_APPROVER',
  /** The signing credential belongs to another tenant than the approval's. */
  'WRONG_TENANT',
  /** The signing credential is revoked. */
  'REVOKED_KEY',
  /** The statement's approval_id or action_digest is not this approval's. */
  'DIGEST_MISMATCH',
  /** The statement's signed_at is more than 5 minutes from the approval workflow's time. */
  'STALE_SIGNATURE',
  /** The statement attests a signed-in user, but its key's principal does not hold `approval_gateway`. */
  'NOT_A_GATEWAY',
  /** A gateway key signed a statement that attests nobody (a gateway decides only for a signed-in person). */
  'GATEWAY_MUST_ATTEST',
  /** This identity already approved this approval (a quorum needs distinct approvers). */
  'DUPLICATE_APPROVER',
] as const;
export type ApprovalErrorCode = (typeof APPROVAL_ERROR_CODES)[number];

/** `workflow.events` value (key = workflow_id): the governed workflow was stopped by stepgate. */
export const WorkflowAbortedEventSchema = z.object({
  type: z.literal('workflow.aborted'),
  event_id: z.uuid(),
  tenant_id: z.string(),
  workflow_id: z.string(),
  step_id: z.string(),
  approval_id: z.uuid(),
  cause: z.enum(['approval_rejected', 'approval_expired']),
  reason: z.string(),
  aborted_at: z.iso.datetime({ offset: true }),
});
export type WorkflowAbortedEvent = z.infer<typeof WorkflowAbortedEventSchema>;

/** What a Temporal-workflow orchestrator named in `reply_to` receives as the signal's argument. */
export interface ApprovalOutcomeSignal {
  approval_id: string;
  workflow_id: string;
  step_id: string;
  decision: 'allow' | 'block';
  approval_status: 'approved' | 'rejected' | 'expired';
  decided_by: string | null;
  decided_at: string;
  reason: string;
}

export const ALERT_RULES = ['config_change', 'block_spike', 'background_write_burst', 'approval_backlog'] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

/** `alerts` value (key = tenant_id): something ops should look at, with the evidence. */
export const AlertSchema = z.object({
  alert_id: z.uuid(),
  tenant_id: z.string(),
  rule: z.enum(ALERT_RULES),
  severity: z.enum(['low', 'medium', 'high', 'critical']),
  message: z.string(),
  agent_id: z.string().nullable(),
  count: z.number().int().nonnegative(),
  threshold: z.number().int().nonnegative(),
  window_seconds: z.number().int().nonnegative(),
  /** Ids of the audit events behind the alert (at most 20). */
  evidence: z.array(z.string()),
  raised_at: z.iso.datetime({ offset: true }),
});
export type Alert = z.infer<typeof AlertSchema>;

/** An audit event with a fresh id and timestamp; every field not given is null or empty. */
export function newAuditEvent(
  fields: Pick<AuditEvent, 'tenant_id' | 'action' | 'outcome'> & Partial<AuditEvent>,
): AuditEvent {
  return {
    id: globalThis.crypto.randomUUID(), // Web Crypto: no node:crypto import, so the module stays portable
    timestamp: new Date().toISOString(),
    agent_id: null,
    session_id: null,
    user_id: null,
    workflow_id: null,
    execution_id: null,
    step_id: null,
    inputs_summary: '',
    elapsed_ms: 0,
    decision_id: null,
    decision: null,
    policies_matched: [],
    error_code: null,
    detail: {},
    ...fields,
  };
}

/**
 * `policies` value (key = tenant_id): something evaluators hold about the tenant changed. Every
 * evaluator drops its copy of the tenant's bundle and credentials on any notice, so a lost or
 * duplicated notice only costs a reload.
 */
export const TenantNoticeSchema = z.object({
  tenant_id: z.string(),
  kind: z.enum(['bundle', 'credential_revoked', 'kill_switch', 'shadow', 'settings']).default('bundle'),
  version: z.number().int().optional(),
  sha256: z.string().optional(),
  key_id: z.string().optional(),
});
export type TenantNotice = z.input<typeof TenantNoticeSchema>;
