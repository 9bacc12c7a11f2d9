import { z } from 'zod';
import { DECISIONS, PRIOR_COMPLETION_STATUSES } from './gate-step.js';
import { GATE_ERROR_CODES, type GateErrorCode } from './errors.js';
import { SIGNATURE_ALG } from './wire.js';

export const PolicyRefSchema = z.object({
  policy_id: z.string(),
  policy_name: z.string(),
  action: z.enum(DECISIONS),
  reason: z.string(),
  severity: z.enum(['low', 'medium', 'high', 'critical']).nullable(),
  allow_override: z.boolean().nullable(),
});

/**
 * The bundle a decision was taken under: the tenant's version number and the SHA-256 of its
 * canonical JSON. Optional on read: decisions and events of evaluators before it lack it.
 */
export const PolicyVersionSchema = z.object({
  version: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type PolicyVersion = z.infer<typeof PolicyVersionSchema>;

export const DecisionRetryContextSchema = z.object({
  gate_count: z.number().int().nonnegative(),
  completion_count: z.number().int().nonnegative(),
  prior_completion_status: z.enum(PRIOR_COMPLETION_STATUSES),
  prior_output_available: z.boolean(),
  last_decision: z.enum(DECISIONS).nullable(),
  first_attempt_at: z.string().nullable(),
  last_attempt_at: z.string().nullable(),
  idempotency_key: z.string(),
});

export const DECISION_SOURCES = ['fresh', 'cached', 'approval'] as const;
export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'expired'] as const;

export const DecisionBodySchema = z.object({
  request_id: z.string(),
  decision_id: z.uuid(),
  tenant_id: z.string().nullable(),
  workflow_id: z.string().nullable(),
  step_id: z.string().nullable(),
  decision: z.enum(DECISIONS),
  reason: z.string(),
  policies_evaluated: z.array(PolicyRefSchema),
  policies_matched: z.array(PolicyRefSchema),
  approval_id: z.uuid().optional(),
  approval_url: z.string().optional(),
  approval_status: z.enum(APPROVAL_STATUSES).optional(),
  approved_by: z.string().optional(),
  approved_at: z.string().optional(),
  retry_context: DecisionRetryContextSchema.nullable(),
  decision_source: z.enum(DECISION_SOURCES),
  error: z.object({ code: z.enum(GATE_ERROR_CODES), message: z.string(), details: z.unknown().optional() }).optional(),
  decided_at: z.iso.datetime({ offset: true }),
  /**
   * SHA-256 (hex) of the exact bytes of the request this decision answers, and the key id that
   * signed it: a client accepts a decision only when the hash is that of what it sent.
   */
  request_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  requester_key_id: z.string().max(128).nullable().optional(),
  /** The bundle the policies were evaluated under (absent on refusals no bundle decided, and from older evaluators). */
  policy_version: PolicyVersionSchema.optional(),
});
export type DecisionBody = z.infer<typeof DecisionBodySchema>;

/** `gate.decisions` value (key = workflow_id): the body plus an Ed25519 receipt over its RFC 8785 form. */
export const GateDecisionSchema = DecisionBodySchema.extend({
  receipt: z.object({ key_id: z.string(), alg: z.literal(SIGNATURE_ALG), signature: z.string() }),
});
export type GateDecision = z.infer<typeof GateDecisionSchema>;

/** What identifies a refused request and why it was refused. */
export interface RefusalInput {
  request_id: string;
  request_sha256?: string;
  requester_key_id?: string | null;
  tenant_id: string | null;
  workflow_id: string | null;
  step_id: string | null;
  code: GateErrorCode;
  message: string;
  details?: unknown;
  /** Epoch milliseconds. */
  now: number;
  retry_context?: DecisionBody['retry_context'];
}

/** A block that no policy decided: the request could not be gated, and its error says why. */
export function refusalDecision(r: RefusalInput): DecisionBody {
  return {
    request_id: r.request_id,
    decision_id: globalThis.crypto.randomUUID(),
    tenant_id: r.tenant_id,
    workflow_id: r.workflow_id,
    step_id: r.step_id,
    decision: 'block',
    reason: r.message,
    policies_evaluated: [],
    policies_matched: [],
    retry_context: r.retry_context ?? null,
    decision_source: 'fresh',
    error: { code: r.code, message: r.message, ...(r.details === undefined ? {} : { details: r.details }) },
    decided_at: new Date(r.now).toISOString(),
    ...(r.request_sha256 ? { request_sha256: r.request_sha256, requester_key_id: r.requester_key_id ?? null } : {}),
  };
}
