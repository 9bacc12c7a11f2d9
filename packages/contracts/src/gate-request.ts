import { z } from 'zod';
import { GateStepSchema } from './gate-step.js';

export const RETRY_POLICIES = ['idempotent', 'reevaluate'] as const;
export type RetryPolicy = (typeof RETRY_POLICIES)[number];

/** A Temporal workflow to signal with the outcome (orchestrators that are Temporal workflows). */
export const ReplyToSchema = z
  .object({
    temporal_workflow_id: z.string().min(1).max(255),
    temporal_namespace: z.string().min(1).max(255).default('default'),
    signal_name: z.string().min(1).max(255).default('stepgate.decision'),
  })
  .strict();

/** `gate.requests` value (key = workflow_id). The tenant is the signing credential's, never this body's. */
export const GateRequestSchema = GateStepSchema.extend({
  request_id: z.uuid(),
  requested_at: z.iso.datetime({ offset: true }),
  /** Optional claim; a value differing from the credential's tenant is rejected as a spoof. */
  tenant_id: z.string().max(64).optional(),
  retry_policy: z.enum(RETRY_POLICIES).default('idempotent'),
  idempotency_key: z.string().min(1).max(255).optional(),
  reply_to: ReplyToSchema.optional(),
}).strict();
export type GateRequest = z.infer<typeof GateRequestSchema>;
export type GateRequestInput = z.input<typeof GateRequestSchema>;

/** `step.completions` value: the orchestrator reports a gated step finished. Signed like a request. */
export const StepCompletionSchema = z
  .object({
    completion_id: z.uuid(),
    completed_at: z.iso.datetime({ offset: true }),
    workflow_id: z.string().min(1).max(255),
    step_id: z.string().min(1).max(255),
    output: z.unknown().optional(),
    tokens_in: z.number().int().nonnegative().optional(),
    tokens_out: z.number().int().nonnegative().optional(),
    cost_usd: z.number().nonnegative().optional(),
    idempotency_key: z.string().min(1).max(255).optional(),
  })
  .strict();
export type StepCompletion = z.infer<typeof StepCompletionSchema>;

/**
 * How the ledger keys a workflow and a request: workflow ids are case-insensitive everywhere (the
 * allowlist, policy conditions, the step ledger), and a UUID is the same request in either case.
 */
export const ledgerKey = (id: string): string => id.toLowerCase();
