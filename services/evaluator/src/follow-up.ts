import { z } from 'zod';
import { ApprovalRequestSchema, ApprovalRuleSchema } from '@stepgate/contracts';

/**
 * What a decision's first publication carried besides the decision, stored with it
 * (`gate_decisions.follow_up`): when its request is delivered again (after a crash between the
 * decide transaction's commit and the publish, or sent twice), the audit event and approval request
 * are published again as they were, not rebuilt from the later delivery.
 */
export const FollowUpSchema = z.object({
  /** The principal whose credential signed the request decided. */
  principal: z.string(),
  /** The gated tool's access class by the tenant's catalog. */
  tool_access: z.enum(['read', 'write', 'destructive']).nullable(),
  /** What a require_approval decision asked of the approvals service. */
  approval: ApprovalRequestSchema.pick({
    approval_id: true,
    severity: true,
    timeout_seconds: true,
    usage_increments: true,
  })
    // Not strict: a rule a later version stored with a field more still reads (during a rollback).
    .extend({ rule: z.object(ApprovalRuleSchema.shape).nullable() })
    .optional(),
});
export type FollowUp = z.infer<typeof FollowUpSchema>;

/**
 * A stored follow-up as this version reads it; undefined when absent (an older evaluator's decision)
 * or unreadable (the caller says so: the decision is then published alone).
 */
export function storedFollowUp(raw: unknown): FollowUp | undefined {
  if (raw === undefined || raw === null) return undefined;
  const parsed = FollowUpSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
