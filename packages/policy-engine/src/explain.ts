import { compileAccessor } from './accessors.js';
import type { Condition } from './bundle.js';
import type { CompiledBundle } from './compile.js';
import { evaluate } from './evaluate.js';
import { parseField } from './fields.js';
import { EvaluationState, type EvaluationInput } from './input.js';
import { compileOperator } from './operators.js';
import type { EvaluationResult } from './result.js';

export interface ConditionExplanation {
  field: string;
  operator: Condition['operator'];
  expected: unknown;
  /** The value the engine read (undefined: the field was absent). */
  seen: unknown;
  held: boolean;
}

export interface PolicyExplanation {
  policy_name: string;
  action: string;
  priority: number;
  /** False when the request never reached the policy (its index did not select it, or it is disabled). */
  evaluated: boolean;
  matched: boolean;
  conditions: ConditionExplanation[];
}

export interface Explanation {
  result: EvaluationResult;
  policies: PolicyExplanation[];
  /** The policy that decided, if a policy did. */
  deciding_policy: string | null;
  /** Which precedence rule made the decision what it is. */
  precedence: string;
}

/**
 * Every policy of the input's scope with each condition's field, operator, expected value, the value
 * seen and whether it held, plus who decided and by which precedence rule. Pure, like `evaluate`.
 */
export function explain(compiled: CompiledBundle, input: EvaluationInput): Explanation {
  const result = evaluate(compiled, input);
  const workflowId = input.step.workflow_id.toLowerCase();
  const state = new EvaluationState({ ...input, step: { ...input.step, workflow_id: workflowId } });
  const evaluated = new Set(result.policies_evaluated.map((p) => p.policy_name));
  const matched = new Set(result.policies_matched.map((p) => p.policy_name));
  const scope = input.scope ?? 'workflow';
  const policies = compiled.bundle.policies
    .filter((p) => p.scope === scope)
    .map((p) => ({
      policy_name: p.name,
      action: p.actions[0]?.type ?? 'allow',
      priority: p.priority,
      evaluated: evaluated.has(p.name),
      matched: matched.has(p.name),
      conditions: p.conditions.map((c) => explainCondition(c, state)),
    }));
  return {
    result,
    policies,
    deciding_policy: result.deciding_policy?.policy_name ?? null,
    precedence: precedenceRule(result, compiled),
  };
}

function explainCondition(c: Condition, state: EvaluationState): ConditionExplanation {
  const ref = parseField(c.field);
  const seen = typeof ref === 'string' ? undefined : compileAccessor(ref)(state);
  let held = false;
  try {
    held = compileOperator(c.operator, c.value)(seen, { missing_field: 0, type_mismatch: 0 });
  } catch {
    held = false;
  }
  return { field: c.field, operator: c.operator, expected: c.value, seen, held };
}

function precedenceRule(result: EvaluationResult, compiled: CompiledBundle): string {
  if (result.error) return 'engine error: fail closed (block)';
  if (result.decided_by !== 'policies')
    return `the ${result.decided_by} check was more restrictive than the policies (block > require_approval > allow; earlier checks first among equals)`;
  const deciding = result.deciding_policy;
  if (!deciding) return 'no policy matched: allow';
  const policy = compiled.bundle.policies.find((p) => p.name === deciding.policy_name);
  const priority = policy ? ` (priority ${policy.priority})` : '';
  switch (result.decision) {
    case 'allow':
      return `allow policy ${deciding.policy_name}${priority} overrides restrictions of strictly lower priority`;
    case 'require_approval':
      return `require_approval of ${deciding.policy_name}${priority} beats block, since no matched block forbids override; highest priority among approvals`;
    case 'block':
      return deciding.allow_override === false
        ? `block of ${deciding.policy_name}${priority} forbids override (allow_override: false); highest such priority`
        : `block of ${deciding.policy_name}${priority}: the highest-priority matched block, no approval policy could override`;
  }
}
