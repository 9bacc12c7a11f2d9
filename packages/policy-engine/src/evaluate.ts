import type { CompiledBundle } from './compile.js';
import {
  checkDelegation,
  checkPolicies,
  checkToolCatalog,
  checkWorkflowAccess,
  counterKeysFor,
  type PolicyCheck,
} from './checks.js';
import { DEFAULT_APPROVAL_RULE, type ApprovalRule } from '@stepgate/contracts';
import { EvaluationState, type EvaluationInput } from './input.js';
import { RESTRICTIVENESS, type CheckOutcome, type EvaluationResult, type UsageIncrement } from './result.js';

/**
 * Decides one step gate. Pure and total: it never throws; anything unexpected yields `block`
 * with an ENGINE_ERROR (fail closed).
 *
 * Order: workflow access, delegation, tool catalog, policies. The most restrictive outcome wins
 * (block > require_approval > allow); among equal restrictions the earliest check gives the
 * reason, and when everything allows the policy check gives it.
 */
export function evaluate(compiled: CompiledBundle, input: EvaluationInput): EvaluationResult {
  let state = new EvaluationState(input);
  try {
    state = stateFor(input);
    return decide(compiled, state);
  } catch (err) {
    return engineError(state, err);
  }
}

/** One case rule for workflow ids: the allowlist, delegations, conditions and counters all see it lower-cased. */
function stateFor(input: EvaluationInput): EvaluationState {
  const workflowId = input.step.workflow_id.toLowerCase();
  return new EvaluationState(
    workflowId === input.step.workflow_id ? input : { ...input, step: { ...input.step, workflow_id: workflowId } },
  );
}

function decide(compiled: CompiledBundle, s: EvaluationState): EvaluationResult {
  const increments: UsageIncrement[] = [];
  const access = checkWorkflowAccess(compiled, s);
  const delegation = checkDelegation(compiled, s, increments);
  const catalog = checkToolCatalog(compiled, s);
  const policies: PolicyCheck = checkPolicies(compiled.policies[s.input.scope ?? 'workflow'], s);
  const checks: CheckOutcome[] = [access, delegation, catalog, policies.outcome];

  let winner = checks[0]!;
  for (const c of checks) if (RESTRICTIVENESS[c.decision] > RESTRICTIVENESS[winner.decision]) winner = c;
  // When every check allows, the policy check speaks (it may name the allow policy that decided).
  if (winner.decision === 'allow') winner = policies.outcome;
  const policyDecided = winner === policies.outcome && policies.deciding !== undefined;
  const deciding = policyDecided ? policies.deciding!.summary : null;

  let approvalTimeout: number | null = null;
  let approvalRule: ApprovalRule | null = null;
  if (winner.decision === 'require_approval') {
    approvalRule = (policyDecided && policies.deciding!.approvalRule) || DEFAULT_APPROVAL_RULE;
    if (policyDecided) approvalTimeout = policies.deciding!.timeoutSeconds ?? null;
  }

  return {
    decision: winner.decision,
    reason: winner.reason,
    decided_by: winner.check,
    deciding_policy: deciding,
    checks,
    policies_evaluated: policies.evaluated,
    policies_matched: policies.matched,
    policies_overridden: policies.overridden,
    approval_timeout_seconds: approvalTimeout,
    approval_rule: approvalRule,
    severity: deciding?.severity ?? null,
    unevaluable: { ...s.unevaluable, total: s.unevaluable.missing_field + s.unevaluable.type_mismatch },
    tool_input_keys_ignored: s.toolInputKeysIgnored,
    usage_keys_read: s.usageKeysRead,
    usage_increments:
      winner.decision === 'block' ? [] : [...increments, ...policies.increments.filter((i) => i.by > 0)],
    error: null,
  };
}

function engineError(s: EvaluationState, err: unknown): EvaluationResult {
  const message = err instanceof Error ? err.message : String(err);
  return {
    decision: 'block',
    reason: `the policy engine could not decide, so the step is blocked: ${message}`,
    decided_by: 'engine_error',
    deciding_policy: null,
    checks: [],
    policies_evaluated: [],
    policies_matched: [],
    policies_overridden: [],
    approval_timeout_seconds: null,
    approval_rule: null,
    severity: null,
    unevaluable: { ...s.unevaluable, total: s.unevaluable.missing_field + s.unevaluable.type_mismatch },
    tool_input_keys_ignored: s.toolInputKeysIgnored,
    usage_keys_read: s.usageKeysRead,
    usage_increments: [],
    error: { code: 'ENGINE_ERROR', message },
  };
}

/**
 * The usage counters an evaluation of `input` reads, found without evaluating it (only the
 * counter-bearing policies' conditions are tested): fetch these, then call `evaluate` with `usage`.
 * An input the engine cannot handle reads none (its evaluation then fails closed).
 */
export function usageKeysFor(compiled: CompiledBundle, input: Omit<EvaluationInput, 'usage'>): string[] {
  try {
    return counterKeysFor(compiled, stateFor(input));
  } catch {
    return [];
  }
}
