import { z } from 'zod';
import { APPROVAL_RUN_STATUSES, MIN_APPROVAL_COMMENT_LENGTH } from '@stepgate/approvals-client';
import { AUDIT_ACTIONS } from '@stepgate/contracts';
import { EXPORT_FORMATS } from '@stepgate/audit-log';
import { webhookSecretProblem, webhookUrlProblem } from '@stepgate/contracts/node';
import { WEBHOOK_FORMATS } from '@stepgate/store';

export const API_ROLES = ['admin', 'approver', 'auditor', 'viewer'] as const;
export const WINDOWED_RULES = ['block_spike', 'background_write_burst', 'approval_backlog'] as const;

const uuid = z.uuid({ error: 'expected a UUID' });
const limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);
const instant = z.iso.datetime({ offset: true, error: 'expected an ISO 8601 instant' });

export const ErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    fields: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  }),
});

export const MeSchema = z.object({
  tenant_id: z.string(),
  principal: z.string(),
  roles: z.array(z.string()),
  issuer: z.string(),
  subject: z.string(),
});

export const ApprovalSchema = z.object({
  approval_id: z.string(),
  /** The decision that asked for it (what its action digest names; absent from approvals started before). */
  decision_id: z.string().optional(),
  tenant_id: z.string(),
  status: z.enum(APPROVAL_RUN_STATUSES),
  workflow_id: z.string(),
  step_id: z.string(),
  step_name: z.string().nullable(),
  step_type: z.string(),
  reason: z.string(),
  severity: z.string().nullable(),
  requested_by: z.object({
    principal: z.string(),
    user_id: z.string().nullable().optional(),
    agent_id: z.string().nullable().optional(),
  }),
  policies_matched: z.array(z.string()),
  inputs_summary: z.string(),
  requested_at: z.string(),
  expires_at: z.string(),
  action_digest: z.string().optional(),
  age_seconds: z.number(),
  time_left_seconds: z.number(),
  approval_url: z.string(),
  // Only on one approval (read from its workflow): the quorum's progress.
  approvals_required: z.number().optional(),
  approvals: z.array(z.object({ principal: z.string(), approved_at: z.string() })).optional(),
  eligible_roles: z.array(z.string()).optional(),
  escalated: z.object({ to_role: z.string(), at: z.string() }).nullable().optional(),
  /**
   * With status `superseded` (on one approval): the step was decided again since, so the approval's
   * outcome decided nothing; how it had resolved, and the decision that superseded it (null: unknown).
   */
  superseded: z
    .object({ resolution: z.enum(['approved', 'rejected', 'expired']), by_decision_id: z.string().nullable() })
    .optional(),
});

export const ApprovalListQuery = z.object({
  status: z.enum(APPROVAL_RUN_STATUSES).optional(),
  limit: limit(500, 100),
});
export const ApprovalParams = z.object({ approval_id: uuid });
export const DecideBody = z.object({
  comment: z
    .string()
    .trim()
    .min(MIN_APPROVAL_COMMENT_LENGTH, `explain yourself in at least ${MIN_APPROVAL_COMMENT_LENGTH} characters`)
    .max(2000),
  action_digest: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits')
    .optional(),
});
export const ApprovalStateSchema = z.object({
  approval_id: z.string(),
  status: z.enum(APPROVAL_RUN_STATUSES),
  decided_by: z.string().nullable(),
  decided_at: z.string().nullable(),
  comment: z.string().nullable(),
});

export const DecisionParams = z.object({ request_id: uuid });
export const DecisionSchema = z
  .object({
    request_id: z.string(),
    decision: z.string(),
    reason: z.string(),
    policies_matched: z.array(z.object({ policy_name: z.string(), action: z.string(), reason: z.string() }).loose()),
  })
  .loose();

const auditFilters = {
  from: instant.optional(),
  to: instant.optional(),
  workflow_id: z.string().min(1).max(255).optional(),
  action: z.enum(AUDIT_ACTIONS).optional(),
};
export const AuditQuery = z.object({
  ...auditFilters,
  outcome: z.string().min(1).max(64).optional(),
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'expected the next_cursor of the previous page')
    .optional(),
  limit: limit(500, 50),
});
export const AuditPageSchema = z.object({
  events: z.array(z.object({ seq: z.number(), event: z.looseObject({ id: z.string(), action: z.string() }) })),
  next_cursor: z.string().nullable(),
});
export const AuditExportQuery = z.object({ ...auditFilters, format: z.enum(EXPORT_FORMATS).default('jsonl') });

export const BundleVersionSchema = z.object({
  version: z.number(),
  policies: z.number(),
  sha256: z.string(),
  applied_by: z.string(),
  applied_at: z.string(),
});
export const ActiveBundleSchema = z.object({ version: z.number(), sha256: z.string(), bundle: z.unknown() });
export const VersionParams = z.object({ version: z.coerce.number().int().min(1) });
export const ApplyResultSchema = z.object({ version: z.number(), changed: z.boolean(), sha256: z.string() });
export const DiffQuery = z.object({ from: z.coerce.number().int().min(1), to: z.coerce.number().int().min(1) });
export const DiffSchema = z.object({
  from: z.number(),
  to: z.number(),
  added: z.array(z.string()),
  removed: z.array(z.string()),
  changed: z.array(z.string()),
  settings_changed: z.array(z.string()),
});

export const CredentialSchema = z.object({
  key_id: z.string(),
  principal: z.string(),
  public_key_pem: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export const CreateCredentialBody = z.object({
  principal: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,254}$/, 'expected a principal name (letters, digits, _ . @ : -)'),
  roles: z.array(z.enum(API_ROLES)).max(4).optional(),
});
export const CreatedCredentialSchema = z.object({
  key_id: z.string(),
  tenant_id: z.string(),
  principal: z.string(),
  private_key_pem: z.string(),
  public_key_pem: z.string(),
});
export const KeyParams = z.object({ key_id: z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/, 'expected a key id') });

export const TenantSchema = z.object({
  tenant_id: z.string(),
  display_name: z.string(),
  approval_timeout_seconds: z.number().nullable(),
});
export const TenantPatch = z
  .object({
    display_name: z.string().trim().min(1).max(200).optional(),
    approval_timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(90 * 86_400)
      .nullable()
      .optional(),
  })
  .strict();
export const ThresholdSchema = z.object({
  rule: z.enum(WINDOWED_RULES),
  threshold: z.number(),
  window_seconds: z.number(),
});
export const RuleParams = z.object({ rule: z.enum(WINDOWED_RULES) });
export const ThresholdBody = z
  .object({
    threshold: z.number().int().min(1).max(1_000_000),
    window_seconds: z.number().int().min(1).max(86_400).default(60),
  })
  .strict();
export const OkSchema = z.object({ ok: z.literal(true) });

/** Problems the shared webhook checks report, as zod issues of the field. */
const refusedBy = (problem: (value: string) => string | undefined) => (value: string, ctx: z.RefinementCtx) => {
  const message = problem(value);
  if (message) ctx.addIssue({ code: 'custom', message });
};

/** What `stepgate webhooks add` takes; the URL and secret are checked as the CLI checks them. */
export const createWebhookBody = (o: { allowLoopbackHttp: boolean }) =>
  z
    .object({
      url: z.string().superRefine(refusedBy((url) => webhookUrlProblem(url, o))),
      format: z.enum(WEBHOOK_FORMATS).default('json'),
      /** Omitted: stepgate generates one and answers it this once. */
      secret: z.string().superRefine(refusedBy(webhookSecretProblem)).optional(),
    })
    .strict();
export const WebhookSchema = z.object({
  webhook_id: z.string(),
  url: z.string(),
  format: z.enum(WEBHOOK_FORMATS),
  enabled: z.boolean(),
  created_at: z.string(),
});
export const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z.string().optional().openapi({ description: 'Only when stepgate generated it; never shown again' }),
});
export const WebhookParams = z.object({
  webhook_id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'expected a webhook id'),
});
