import type { Bundle } from './bundle.js';
import type { ValidationIssue } from './errors.js';
import { parseField, type ContextField, type StepField } from './fields.js';
import type { Operator } from './operators.js';

type FieldType = 'string' | 'number' | 'boolean';

/** The JSON type of each typed field (step_input.* and tool_input.* are the caller's: any type). */
const FIELD_TYPES: Record<ContextField | StepField, FieldType> = {
  step_type: 'string',
  step_name: 'string',
  model: 'string',
  provider: 'string',
  step_index: 'number',
  workflow_id: 'string',
  workflow_name: 'string',
  source: 'string',
  tool_name: 'string',
  tool_type: 'string',
  tenant_id: 'string',
  agent_id: 'string',
  user_id: 'string',
  session_id: 'string',
  execution_mode: 'string',
  cost_usd: 'number',
  tokens_in: 'number',
  tokens_out: 'number',
  gate_count: 'number',
  completion_count: 'number',
  prior_completion_status: 'string',
  prior_output_available: 'boolean',
  last_decision: 'string',
  first_attempt_age_seconds: 'number',
  idempotency_key: 'string',
};

/** What each operator needs of the field it reads. */
const FIELD_NEEDS: Partial<Record<Operator, FieldType>> = {
  greater_than: 'number',
  less_than: 'number',
  regex: 'string',
  contains: 'string',
  not_contains: 'string',
  contains_any: 'string',
};

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/**
 * Conditions that can never hold as written, because the operator or the expected value does not
 * fit the field's type (`context.model greater_than 5`): at run time they are only "unevaluable".
 * `stepgate lint` reports them; bundles already stored keep loading (this is not part of validation).
 */
export function fieldTypeProblems(bundle: Bundle): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  bundle.policies.forEach((policy, p) =>
    policy.conditions.forEach((c, i) => {
      const ref = parseField(c.field);
      if (typeof ref === 'string' || !('name' in ref)) return;
      const type = FIELD_TYPES[ref.name];
      const at = `policies[${p}].conditions[${i}]`;
      const need = FIELD_NEEDS[c.operator];
      if (need && need !== type) {
        issues.push({ path: at, message: `${c.field} is a ${type}; "${c.operator}" needs a ${need} field` });
        return;
      }
      const expected: unknown[] =
        c.operator === 'in' || c.operator === 'not_in'
          ? Array.isArray(c.value)
            ? (c.value as unknown[])
            : []
          : c.operator === 'equals' || c.operator === 'not_equals'
            ? [c.value]
            : [];
      const wrong = expected.find((v) => typeOf(v) !== type);
      if (wrong !== undefined)
        issues.push({
          path: `${at}.value`,
          message: `${c.field} is a ${type}; ${JSON.stringify(wrong)} (${typeOf(wrong)}) can never equal it`,
        });
    }),
  );
  return issues;
}
