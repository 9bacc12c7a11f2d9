import type { ApprovalRule, Decision } from '@stepgate/contracts';
import type { UnevaluableCounts } from './operators.js';

/** How a policy appears in `policies_evaluated` / `policies_matched` (precomputed at compile time). */
export interface PolicySummary {
  policy_id: string;
  policy_name: string;
  action: Decision;
  reason: string;
  severity: 'low' | 'medium' | 'high' | 'critical' | null;
  allow_override: boolean | null;
}

export type CheckName = 'workflow_access' | 'delegation' | 'tool_catalog' | 'policies';

export interface CheckOutcome {
  check: CheckName;
  decision: Decision;
  reason: string;
}

export interface UsageIncrement {
  key: string;
  by: number;
  /** Counter window length; absent for lifetime counters such as delegation spend. */
  window_seconds?: number;
}

export interface EvaluationResult {
  decision: Decision;
  reason: string;
  /** Which check decided (the first, in order, at the winning restrictiveness). */
  decided_by: CheckName | 'engine_error';
  /** The policy that gave the reason, when a policy decided. */
  deciding_policy: PolicySummary | null;
  checks: CheckOutcome[];
  policies_evaluated: PolicySummary[];
  policies_matched: PolicySummary[];
  /** Restricting matches discarded by a higher-priority allow policy. */
  policies_overridden: PolicySummary[];
  /** Set when the decision is require_approval and a deciding policy gives one. */
  approval_timeout_seconds: number | null;
  /** Set when the decision is require_approval: the deciding policy's quorum and escalation (else the default). */
  approval_rule: ApprovalRule | null;
  severity: PolicySummary['severity'];
  unevaluable: UnevaluableCounts & { total: number };
  tool_input_keys_ignored: number;
  /** Usage counters this evaluation read (fetch them, then evaluate with `usage`). */
  usage_keys_read: string[];
  /** Counter increments to apply when, and only if, the step is allowed (now, or on approval). */
  usage_increments: UsageIncrement[];
  error: { code: 'ENGINE_ERROR'; message: string } | null;
}

export const RESTRICTIVENESS: Record<Decision, number> = { allow: 0, require_approval: 1, block: 2 };
