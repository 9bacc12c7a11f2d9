import { BundleSchema, openInProduction, type Bundle, type Delegation, type Policy, type Tool } from './bundle.js';
import { compileAccessor, type Accessor } from './accessors.js';
import { BundleValidationError, formatPath, type ValidationIssue } from './errors.js';
import { parseField, type FieldRef } from './fields.js';
import { compileOperator, type ValueTest } from './operators.js';
import { RESTRICTIVENESS, type PolicySummary } from './result.js';
import { compileSpecial, counterKeyOf, type SpecialPredicate } from './special-policies.js';
import type { EvaluationState } from './input.js';
import { DEFAULT_APPROVAL_RULE, jsonDepth, type ApprovalRule, type Decision } from '@stepgate/contracts';

export interface CompiledCondition {
  get: Accessor;
  test: ValueTest;
}

export interface CompiledPolicy {
  /** Position in the bundle: the tie-breaker between equal priorities. */
  order: number;
  priority: number;
  action: Decision;
  timeoutSeconds: number | undefined;
  /** Who decides when this policy asks for approval. */
  approvalRule: Readonly<ApprovalRule> | undefined;
  summary: PolicySummary;
  conditions: CompiledCondition[];
  special: SpecialPredicate | undefined;
  /** The counter the policy reads, when it is a rate limit or a budget. */
  counterKey: ((s: EvaluationState) => string) | undefined;
}

/** Fields a policy can be indexed by: a request visits only the policies whose `equals` on one of them can hold. */
export const INDEXED_FIELDS = ['tool_name', 'workflow_id', 'step_type'] as const;
export type IndexedField = (typeof INDEXED_FIELDS)[number];

export interface PolicyIndex {
  /** Policies with no indexable condition: visited for every request. */
  always: CompiledPolicy[];
  byField: Record<IndexedField, Map<string, CompiledPolicy[]>>;
  size: number;
}

export interface CompiledBundle {
  bundle: Bundle;
  allowlist: ReadonlySet<string> | null;
  policies: Record<'workflow' | 'gateway', PolicyIndex>;
  tools: ReadonlyMap<string, Tool>;
  delegationsByWorkflow: ReadonlyMap<string, Delegation[]>;
}

/**
 * Deepest bundle accepted: its own structure takes 5 levels to a condition's value, which may hold a
 * structured operand; a bundle nesting further is refused before anything recursive (the schema,
 * canonical JSON for its hash) walks it.
 */
export const MAX_BUNDLE_DEPTH = 64;

/** Validates every rule of the bundle and returns all problems at once (never throws). */
export function validateBundle(
  input: unknown,
): { ok: true; bundle: Bundle } | { ok: false; issues: ValidationIssue[] } {
  if (jsonDepth(input) > MAX_BUNDLE_DEPTH)
    return {
      ok: false,
      issues: [{ path: '(root)', message: `the bundle nests deeper than ${MAX_BUNDLE_DEPTH} levels` }],
    };
  const parsed = BundleSchema.safeParse(input);
  if (parsed.success) return { ok: true, bundle: parsed.data };
  const issues = parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
  const open = openInProduction(input);
  if (open && !issues.some((i) => i.message === open.message))
    issues.unshift({ path: formatPath(open.path), message: open.message });
  return { ok: false, issues };
}

/** Compiles a bundle once for many evaluations; an invalid bundle throws BundleValidationError. */
export function compileBundle(input: unknown): CompiledBundle {
  const validated = validateBundle(input);
  if (!validated.ok) throw new BundleValidationError(validated.issues);
  const bundle = validated.bundle;

  const indexes = { workflow: emptyIndex(), gateway: emptyIndex() };
  bundle.policies.forEach((policy, order) => {
    if (!policy.enabled) return;
    const { compiled, indexedBy } = compilePolicy(policy, order);
    const index = indexes[policy.scope];
    index.size++;
    if (!indexedBy) index.always.push(compiled);
    else {
      const byValue = index.byField[indexedBy.field];
      const list = byValue.get(indexedBy.value) ?? [];
      list.push(compiled);
      byValue.set(indexedBy.value, list);
    }
  });

  const delegationsByWorkflow = new Map<string, Delegation[]>();
  for (const d of bundle.delegations) {
    const key = d.workflow_id.toLowerCase();
    delegationsByWorkflow.set(key, [...(delegationsByWorkflow.get(key) ?? []), d]);
  }

  return {
    bundle,
    allowlist:
      bundle.workflow_access.mode === 'allowlist'
        ? new Set(bundle.workflow_access.allowed_workflows.map((w) => w.toLowerCase()))
        : null,
    policies: indexes,
    tools: new Map(bundle.tools.map((t) => [t.tool_name, t])),
    delegationsByWorkflow,
  };
}

function emptyIndex(): PolicyIndex {
  return { always: [], byField: { tool_name: new Map(), workflow_id: new Map(), step_type: new Map() }, size: 0 };
}

function compilePolicy(
  policy: Policy,
  order: number,
): { compiled: CompiledPolicy; indexedBy?: { field: IndexedField; value: string } } {
  // A policy with several actions acts as its most restrictive one.
  const action = policy.actions.reduce((a, b) => (RESTRICTIVENESS[b.type] > RESTRICTIVENESS[a.type] ? b : a));
  const refs = policy.conditions.map((c) => parseField(c.field) as FieldRef);
  // Workflow ids are case-insensitive everywhere (reference 000's allowlist): `evaluate` sees the id
  // lower-cased, so the values conditions compare it with are lower-cased here.
  const conditions = policy.conditions.map((c, i) =>
    isWorkflowIdField(refs[i]!) ? { ...c, value: caseInsensitiveOperand(c.operator, c.value) } : c,
  );

  let indexedAt = -1;
  let indexedBy: { field: IndexedField; value: string } | undefined;
  for (const field of INDEXED_FIELDS) {
    const at = conditions.findIndex(
      (c, i) =>
        c.operator === 'equals' &&
        typeof c.value === 'string' &&
        refs[i]!.namespace === 'context' &&
        (refs[i] as { name: string }).name === field,
    );
    if (at >= 0) {
      indexedAt = at;
      indexedBy = { field, value: conditions[at]!.value as string };
      break;
    }
  }

  const compiled: CompiledPolicy = {
    order,
    priority: policy.priority,
    action: action.type,
    timeoutSeconds: action.config.timeout_seconds,
    approvalRule:
      action.type === 'require_approval'
        ? Object.freeze({
            approvals_required: action.config.approvals_required ?? DEFAULT_APPROVAL_RULE.approvals_required,
            approver_role: action.config.approver_role ?? DEFAULT_APPROVAL_RULE.approver_role,
            escalate_to_role: action.config.escalate_to_role ?? null,
          })
        : undefined,
    summary: Object.freeze({
      policy_id: policy.name,
      policy_name: policy.name,
      action: action.type,
      reason: action.config.reason ?? policy.description ?? policy.name,
      severity: action.config.severity ?? null,
      allow_override: action.config.allow_override ?? null,
    }),
    // The index already guarantees the indexed condition; it is not tested again.
    conditions: conditions.flatMap((c, i) =>
      i === indexedAt ? [] : [{ get: compileAccessor(refs[i]!), test: compileOperator(c.operator, c.value) }],
    ),
    special: compileSpecial(policy),
    counterKey: counterKeyOf(policy),
  };
  return indexedBy ? { compiled, indexedBy } : { compiled };
}

function isWorkflowIdField(ref: FieldRef): boolean {
  return ref.namespace === 'context' && (ref as { name: string }).name === 'workflow_id';
}

/** A pattern keeps its meaning and only stops caring about case; a literal is lower-cased. */
function caseInsensitiveOperand(operator: string, value: unknown): unknown {
  if (operator.includes('regex') && typeof value === 'string') return `(?i)${value}`;
  return lowerCaseStrings(value);
}

function lowerCaseStrings(value: unknown): unknown {
  if (typeof value === 'string') return value.toLowerCase();
  return Array.isArray(value) ? value.map((v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v)) : value;
}
