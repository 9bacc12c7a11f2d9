import { z } from 'zod';

/**
 * The step a gate request describes, in the reference's wire shape (snake_case). The Kafka gate
 * request wraps it with identity and transport fields; `stepgate eval` reads it from a file.
 */
export const STEP_TYPES = ['llm_call', 'tool_call', 'connector_call', 'human_task'] as const;
export const TOOL_TYPES = ['function', 'mcp', 'api'] as const;
export const EXECUTION_MODES = ['interactive', 'background'] as const;
export const DECISIONS = ['allow', 'block', 'require_approval'] as const;
export const PRIOR_COMPLETION_STATUSES = ['none', 'completed', 'gated_not_completed'] as const;

export type StepType = (typeof STEP_TYPES)[number];
export type ExecutionMode = (typeof EXECUTION_MODES)[number];
export type Decision = (typeof DECISIONS)[number];

const identifier = z.string().min(1).max(255);
const jsonObject = z.record(z.string(), z.unknown());

/**
 * How many keys `tool_input` may have. Policies see every key of a request they gate; a larger
 * object is refused (fail closed) rather than evaluated in part.
 */
export const MAX_TOOL_INPUT_KEYS = 50;

export const ToolContextSchema = z
  .object({
    tool_name: identifier,
    tool_type: z.enum(TOOL_TYPES).optional(),
    tool_input: jsonObject
      .refine((o) => Object.keys(o).length <= MAX_TOOL_INPUT_KEYS, {
        error: `expected at most ${MAX_TOOL_INPUT_KEYS} keys; policies must see every key they could test`,
      })
      .optional(),
  })
  .strict();
export type ToolContext = z.infer<typeof ToolContextSchema>;

/** Retry state of a (workflow_id, step_id), as the step ledger reports it (reference 003, `step.*`). */
export const RetryContextSchema = z.object({
  gate_count: z.number().int().nonnegative(),
  completion_count: z.number().int().nonnegative(),
  prior_completion_status: z.enum(PRIOR_COMPLETION_STATUSES),
  prior_output_available: z.boolean(),
  last_decision: z.enum(DECISIONS).nullable().optional(),
  first_attempt_at: z.iso.datetime({ offset: true }).optional(),
  last_attempt_at: z.iso.datetime({ offset: true }).optional(),
  idempotency_key: z.string().max(255).default(''),
});
export type RetryContext = z.infer<typeof RetryContextSchema>;

export const GateStepSchema = z.object({
  workflow_id: identifier,
  workflow_name: z.string().max(255).optional(),
  source: z.string().max(64).optional(),
  step_id: identifier,
  step_name: z.string().max(255).optional(),
  step_type: z.enum(STEP_TYPES),
  step_index: z.number().int().nonnegative().optional(),
  model: z.string().max(255).optional(),
  provider: z.string().max(255).optional(),
  tokens_in: z.number().int().nonnegative().optional(),
  tokens_out: z.number().int().nonnegative().optional(),
  cost_usd: z.number().nonnegative().optional(),
  step_input: jsonObject.optional(),
  tool_context: ToolContextSchema.optional(),
  agent_id: z.string().max(255).optional(),
  session_id: z.string().max(255).optional(),
  user_id: z.string().max(255).optional(),
  execution_mode: z.enum(EXECUTION_MODES).default('interactive'),
});
export type GateStep = z.infer<typeof GateStepSchema>;
export type GateStepInput = z.input<typeof GateStepSchema>;

/**
 * What `stepgate eval` reads: a gate step plus what the services would otherwise supply (the
 * credential's tenant, the ledger's retry context, the user's roles).
 */
/**
 * The retry context an offline request may give in part: a counter left out is that of a step's first
 * gate (gate_count 1, completion_count 0), `prior_completion_status` none, `prior_output_available` false.
 */
export const OfflineRetryContextSchema = RetryContextSchema.extend({
  gate_count: z.number().int().nonnegative().default(1),
  completion_count: z.number().int().nonnegative().default(0),
  prior_completion_status: z.enum(PRIOR_COMPLETION_STATUSES).default('none'),
  prior_output_available: z.boolean().default(false),
}).strict();

export const OfflineGateRequestSchema = GateStepSchema.extend({
  tenant_id: identifier,
  retry_context: OfflineRetryContextSchema.optional(),
  user_roles: z.array(z.string()).default([]),
});
export type OfflineGateRequest = z.infer<typeof OfflineGateRequestSchema>;
