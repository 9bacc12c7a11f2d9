import { z } from 'zod';
import { DECISIONS, ROLE_NAME_PATTERN, TOOL_TYPES } from '@stepgate/contracts';
import { parseField } from './fields.js';
import { OPERATORS, operandProblem } from './operators.js';

export const POLICY_TYPES = [
  'content',
  'user',
  'risk',
  'cost',
  'context_aware',
  'media',
  'rate-limit',
  'budget',
  'time-access',
  'role-access',
  'mcp',
  'connector',
] as const;
export const ENVIRONMENTS = ['production', 'staging', 'development'] as const;
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

const name = z.string().min(1).max(255);

export const ConditionSchema = z
  .object({
    field: z.string().min(1),
    operator: z.enum(OPERATORS),
    value: z.unknown(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const field = parseField(c.field);
    if (typeof field === 'string') ctx.addIssue({ code: 'custom', path: ['field'], message: field });
    const problem = operandProblem(c.operator, c.value);
    if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
  });

export const ActionSchema = z
  .object({
    type: z.enum(DECISIONS),
    config: z
      .object({
        reason: z.string().max(1000).optional(),
        severity: z.enum(['low', 'medium', 'high', 'critical']).optional(),
        allow_override: z.boolean().optional(),
        timeout_seconds: z
          .number()
          .int()
          .positive()
          .max(30 * 24 * 3600)
          .optional(),
        /** require_approval: distinct proven approvers needed (default 1; one reject rejects). */
        approvals_required: z.number().int().min(1).max(10).optional(),
        /** require_approval: the role an approver must hold (default `approver`). */
        approver_role: z.string().regex(ROLE_NAME_PATTERN, 'expected a role name').optional(),
        /** require_approval: when the reminder fires undecided, principals of this role may decide too. */
        escalate_to_role: z.string().regex(ROLE_NAME_PATTERN, 'expected a role name').optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.type === 'require_approval') return;
    for (const key of ['approvals_required', 'approver_role', 'escalate_to_role'] as const)
      if (a.config[key] !== undefined)
        ctx.addIssue({ code: 'custom', path: ['config', key], message: 'only a require_approval action takes it' });
  });

/** Field paths naming who a counter is kept for, e.g. ["context.agent_id"]. */
const counterKey = z
  .array(z.string())
  .max(4)
  .default([])
  .superRefine((fields, ctx) => {
    fields.forEach((f, i) => {
      const parsed = parseField(f);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', path: [i], message: parsed });
    });
  });
const windowSeconds = z
  .number()
  .int()
  .min(1)
  .max(366 * 24 * 3600);
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (24 h)');

export const RateLimitSchema = z
  .object({ per: counterKey, window_seconds: windowSeconds, max_requests: z.number().int().nonnegative() })
  .strict();
export const BudgetSchema = z
  .object({ per: counterKey, window_seconds: windowSeconds, max_cost_usd: z.number().nonnegative() })
  .strict();
export const TimeAccessSchema = z
  .object({
    timezone: z
      .string()
      .default('UTC')
      .refine(isTimeZone, 'expected an IANA time zone such as "UTC" or "Europe/Paris"'),
    allowed_days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .default([...WEEKDAYS]),
    allowed_hours: z.object({ start: hhmm, end: hhmm }).strict(),
  })
  .strict();
export const RoleAccessSchema = z.object({ required_roles: z.array(z.string().min(1)).min(1) }).strict();

/** Per-type parameters live beside the reference's policy body, under the type's own key. */
const TYPE_PARAMETERS = {
  'rate-limit': 'rate_limit',
  budget: 'budget',
  'time-access': 'time_access',
  'role-access': 'role_access',
} as const;

export const PolicySchema = z
  .object({
    name,
    description: z.string().max(2000).default(''),
    type: z.enum(POLICY_TYPES),
    category: z
      .string()
      .regex(/^(dynamic|media)-[a-z0-9-]+$/, 'expected a category starting with "dynamic-" or "media-"'),
    scope: z.enum(['workflow', 'gateway']).default('workflow'),
    priority: z.number().int(),
    enabled: z.boolean().default(true),
    conditions: z.array(ConditionSchema).default([]),
    actions: z.array(ActionSchema).min(1, 'a policy needs at least one action'),
    rate_limit: RateLimitSchema.optional(),
    budget: BudgetSchema.optional(),
    time_access: TimeAccessSchema.optional(),
    role_access: RoleAccessSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const [type, key] of Object.entries(TYPE_PARAMETERS)) {
      if (p.type === type && p[key] === undefined)
        ctx.addIssue({ code: 'custom', path: [key], message: `a "${type}" policy needs "${key}"` });
      if (p.type !== type && p[key] !== undefined)
        ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" belongs only to "${type}" policies` });
    }
  });

export const ToolSchema = z
  .object({
    tool_name: name,
    tool_type: z.enum(TOOL_TYPES).optional(),
    access: z.enum(['read', 'write', 'destructive']),
    auto_approve: z.boolean().default(false),
    allow_destructive: z.boolean().default(false),
    destinations: z
      .object({ field: z.string().min(1), allowed: z.array(z.unknown()).min(1) })
      .strict()
      .optional(),
  })
  .strict();

const isoDate = z.iso.datetime({ offset: true });
export const DelegationSchema = z
  .object({
    delegation_id: name,
    workflow_id: name,
    delegated_by: name,
    scope: z.array(z.string().min(1)).min(1),
    spend_limit: z.number().nonnegative().optional(),
    spend_limit_unit: z.string().default('usd'),
    not_before: isoDate.optional(),
    expires_at: isoDate,
    max_depth: z.number().int().nonnegative().default(0),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.not_before && Date.parse(d.not_before) >= Date.parse(d.expires_at))
      ctx.addIssue({ code: 'custom', path: ['expires_at'], message: 'expires_at must be after not_before' });
  });

export const BundleSchema = z
  .object({
    tenant_id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a lower-case tenant id'),
    environment: z.enum(ENVIRONMENTS),
    workflow_access: z
      .object({ mode: z.enum(['allowlist', 'open']), allowed_workflows: z.array(z.string().min(1)).default([]) })
      .strict(),
    policies: z.array(PolicySchema).default([]),
    tools: z.array(ToolSchema).default([]),
    delegations: z.array(DelegationSchema).default([]),
  })
  .strict()
  .superRefine((b, ctx) => {
    const open = openInProduction(b);
    if (open) ctx.addIssue({ code: 'custom', ...open });
    duplicates(b.policies.map((p) => p.name)).forEach((i) =>
      ctx.addIssue({
        code: 'custom',
        path: ['policies', i, 'name'],
        message: `duplicate policy name "${b.policies[i]!.name}"`,
      }),
    );
    duplicates(b.tools.map((t) => t.tool_name)).forEach((i) =>
      ctx.addIssue({
        code: 'custom',
        path: ['tools', i, 'tool_name'],
        message: `duplicate tool "${b.tools[i]!.tool_name}"`,
      }),
    );
    duplicates(b.delegations.map((d) => d.delegation_id)).forEach((i) =>
      ctx.addIssue({ code: 'custom', path: ['delegations', i, 'delegation_id'], message: 'duplicate delegation_id' }),
    );
  });

export type Bundle = z.infer<typeof BundleSchema>;
export type BundleInput = z.input<typeof BundleSchema>;
export type Policy = z.infer<typeof PolicySchema>;
export type Condition = z.infer<typeof ConditionSchema>;
export type Tool = z.infer<typeof ToolSchema>;
export type Delegation = z.infer<typeof DelegationSchema>;
export type TimeAccess = z.infer<typeof TimeAccessSchema>;

/**
 * Reference 000: never use Open mode in production. Checked on the raw document too, so it is
 * reported with every other problem even when the rest of the bundle does not parse.
 */
export function openInProduction(raw: unknown): { path: string[]; message: string } | undefined {
  const doc = raw as { environment?: unknown; workflow_access?: { mode?: unknown } } | null;
  if (doc?.environment === 'production' && doc.workflow_access?.mode === 'open')
    return {
      path: ['workflow_access', 'mode'],
      message: 'mode "open" is refused in production: list the allowed workflows',
    };
  return undefined;
}

function duplicates(values: string[]): number[] {
  const seen = new Set<string>();
  return values.flatMap((v, i) => (seen.has(v) ? [i] : (seen.add(v), [])));
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
