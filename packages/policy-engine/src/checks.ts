import type { Decision } from '@stepgate/contracts';
import { walk } from './accessors.js';
import type { CompiledBundle, CompiledPolicy, PolicyIndex } from './compile.js';
import type { EvaluationState } from './input.js';
import { jsonEquals } from './operators.js';
import { RESTRICTIVENESS, type CheckOutcome, type PolicySummary, type UsageIncrement } from './result.js';
import type { Delegation } from './bundle.js';

/** 1. Workflow access (reference 000): in allowlist mode the workflow must be listed, case-insensitively. */
export function checkWorkflowAccess(compiled: CompiledBundle, s: EvaluationState): CheckOutcome {
  const workflowId = s.input.step.workflow_id;
  if (compiled.allowlist && !compiled.allowlist.has(workflowId.toLowerCase()))
    return {
      check: 'workflow_access',
      decision: 'block',
      reason: `workflow "${workflowId}" is not in the tenant's workflow allowlist`,
    };
  return {
    check: 'workflow_access',
    decision: 'allow',
    reason: compiled.allowlist ? 'workflow is allowlisted' : 'workflow access is open',
  };
}

/** Scope coverage as reference 002 does it: exact, `*`, a prefix ending at a `:` boundary, or `prefix:*`. */
export function scopeCovers(granted: string, requested: string): boolean {
  if (granted === '*' || granted === requested) return true;
  if (granted.endsWith(':*')) return requested.startsWith(granted.slice(0, -1));
  return requested.startsWith(`${granted}:`);
}

/** 2. Delegation (reference 002): a delegated workflow's tool calls must be in scope, in time, and within spend. */
export function checkDelegation(
  compiled: CompiledBundle,
  s: EvaluationState,
  increments: UsageIncrement[],
): CheckOutcome {
  const allow = (reason: string): CheckOutcome => ({ check: 'delegation', decision: 'allow', reason });
  const block = (reason: string): CheckOutcome => ({ check: 'delegation', decision: 'block', reason });
  const { step, now } = s.input;
  const delegations = compiled.delegationsByWorkflow.get(step.workflow_id.toLowerCase());
  if (!delegations) return allow('workflow has no delegation');
  if (step.step_type !== 'tool_call') return allow('delegation scopes tool calls only');
  if (!step.tool_context)
    return block('tool call in a delegated workflow names no tool_context, so its scope cannot be checked');

  const scope = `${step.tool_context.tool_type ?? 'function'}:${step.tool_context.tool_name}`;
  const covering = delegations.filter((d) => d.scope.some((g) => scopeCovers(g, scope)));
  if (covering.length === 0) return block(`scope "${scope}" is not covered by delegation ${ids(delegations)}`);

  const current = covering.filter(
    (d) => (!d.not_before || Date.parse(d.not_before) <= now) && now < Date.parse(d.expires_at),
  );
  if (current.length === 0) {
    const d = covering[0]!;
    return block(
      now >= Date.parse(d.expires_at)
        ? `delegation "${d.delegation_id}" expired at ${d.expires_at}`
        : `delegation "${d.delegation_id}" is not valid before ${d.not_before}`,
    );
  }

  const cost = step.cost_usd ?? 0;
  for (const d of current) {
    if (d.spend_limit === undefined)
      return allow(`scope "${scope}" delegated by ${d.delegated_by} (${d.delegation_id})`);
    const key = `delegation-spend:${d.delegation_id}`;
    if (s.usage(key) + cost <= d.spend_limit) {
      if (cost > 0) increments.push({ key, by: cost });
      return allow(`scope "${scope}" delegated by ${d.delegated_by} (${d.delegation_id}), within spend limit`);
    }
  }
  const d = current[0]!;
  return block(
    `spend limit of delegation "${d.delegation_id}" (${d.spend_limit} ${d.spend_limit_unit}) would be exceeded`,
  );
}

function ids(ds: Delegation[]): string {
  return ds.map((d) => `"${d.delegation_id}"`).join(', ');
}

/** A tool's access class by the catalog (a tool missing from a non-empty catalog is a write); null without a catalog. */
export function toolAccessOf(
  compiled: CompiledBundle,
  toolName: string | undefined,
): 'read' | 'write' | 'destructive' | null {
  if (compiled.tools.size === 0 || toolName === undefined) return null;
  return compiled.tools.get(toolName)?.access ?? 'write';
}

/** 3. Action safety from the tool catalog (reference 001). A tool missing from a non-empty catalog is a write. */
export function checkToolCatalog(compiled: CompiledBundle, s: EvaluationState): CheckOutcome {
  const out = (decision: Decision, reason: string): CheckOutcome => ({ check: 'tool_catalog', decision, reason });
  const tool = s.input.step.tool_context;
  if (compiled.tools.size === 0 || !tool) return out('allow', 'no tool catalog applies');
  const entry = compiled.tools.get(tool.tool_name);
  const access = toolAccessOf(compiled, tool.tool_name)!;
  const label = entry
    ? `tool "${tool.tool_name}" (${access})`
    : `tool "${tool.tool_name}" is not in the catalog and is treated as a write`;
  const background = s.input.step.execution_mode === 'background';

  if (access === 'destructive') {
    if (!entry?.allow_destructive) return out('block', `${label}: destructive operations are denied`);
    if (background) return out('block', `${label}: destructive operations never run in background mode`);
    return out('require_approval', `${label}: destructive operation needs human confirmation`);
  }
  if (access === 'write' && !entry?.auto_approve) {
    if (background) return out('block', `${label}: writes not enabled for background runs are blocked`);
    return out('require_approval', `${label}: write needs human confirmation`);
  }
  if (entry?.destinations) {
    const { field, allowed } = entry.destinations;
    const value = walk(tool.tool_input, field.split('.'));
    if (value === undefined)
      return out('block', `${label}: destination tool_input.${field} is missing; destinations must be explicit`);
    if (!allowed.some((a) => jsonEquals(a, value)))
      return out('block', `${label}: destination ${JSON.stringify(value)} is not in the allowed destinations`);
  }
  return out('allow', `${label}: allowed`);
}

export interface PolicyCheck {
  outcome: CheckOutcome;
  deciding: CompiledPolicy | undefined;
  evaluated: PolicySummary[];
  matched: PolicySummary[];
  overridden: PolicySummary[];
  increments: UsageIncrement[];
}

/** 4. Policies: allow overrides strictly lower priorities; require_approval beats block unless a block forbids override. */
export function checkPolicies(index: PolicyIndex, s: EvaluationState): PolicyCheck {
  const evaluated: PolicySummary[] = [];
  const matchedAllow: CompiledPolicy[] = [];
  const matchedRestricting: CompiledPolicy[] = [];
  const increments: UsageIncrement[] = [];
  const { step } = s.input;

  const visit = (list: readonly CompiledPolicy[] | undefined) => {
    if (!list) return;
    for (const p of list) {
      evaluated.push(p.summary);
      if (!conditionsHold(p, s)) continue;
      if (p.special) {
        const { fires, increment } = p.special(s);
        if (increment) increments.push(increment);
        if (!fires) continue;
      }
      (p.action === 'allow' ? matchedAllow : matchedRestricting).push(p);
    }
  };
  visit(index.always);
  if (step.tool_context) visit(index.byField.tool_name.get(step.tool_context.tool_name));
  visit(index.byField.workflow_id.get(step.workflow_id));
  visit(index.byField.step_type.get(step.step_type));

  const topAllow = matchedAllow.reduce<CompiledPolicy | undefined>(
    (best, p) => (best && !outranks(p, best) ? best : p),
    undefined,
  );
  const overridden = topAllow ? matchedRestricting.filter((p) => p.priority < topAllow.priority) : [];
  const remaining = topAllow ? matchedRestricting.filter((p) => p.priority >= topAllow.priority) : matchedRestricting;
  const approvals = remaining.filter((p) => p.action === 'require_approval');
  const blocks = remaining.filter((p) => p.action === 'block');
  const noOverride = blocks.filter((p) => p.summary.allow_override === false);

  let decision: Decision = 'allow';
  let deciding: CompiledPolicy | undefined = topAllow;
  if (approvals.length > 0 && noOverride.length === 0) {
    decision = 'require_approval';
    deciding = highest(approvals);
  } else if (remaining.length > 0) {
    decision = 'block';
    deciding = highest(noOverride.length > 0 ? noOverride : blocks);
  }

  const reason = deciding
    ? `${deciding.summary.policy_name}: ${deciding.summary.reason}`
    : 'no policy restricts this step';
  const matched = [...matchedAllow, ...remaining].sort(byRank).map((p) => p.summary);
  return {
    outcome: { check: 'policies', decision, reason },
    deciding,
    evaluated,
    matched,
    overridden: overridden.map((p) => p.summary),
    increments,
  };
}

function conditionsHold(p: CompiledPolicy, s: EvaluationState): boolean {
  for (const c of p.conditions) if (!c.test(c.get(s), s.unevaluable)) return false;
  return true;
}

/** Higher priority first; the earlier policy in the bundle breaks a tie. */
function outranks(a: CompiledPolicy, b: CompiledPolicy): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.order < b.order);
}
function byRank(a: CompiledPolicy, b: CompiledPolicy): number {
  return outranks(a, b) ? -1 : outranks(b, a) ? 1 : 0;
}
function highest(ps: CompiledPolicy[]): CompiledPolicy {
  return ps.reduce((best, p) => (outranks(p, best) ? p : best));
}

export { RESTRICTIVENESS };

/**
 * The counters an evaluation of this request reads, without evaluating it: the counter-bearing
 * policies the request visits whose conditions hold, and the spend counters of its workflow's
 * delegations. Fetch these, then evaluate once with them.
 */
export function counterKeysFor(compiled: CompiledBundle, s: EvaluationState): string[] {
  const index = compiled.policies[s.input.scope ?? 'workflow'];
  const { step } = s.input;
  const keys = new Set<string>();
  const visit = (list: readonly CompiledPolicy[] | undefined) => {
    for (const p of list ?? []) if (p.counterKey && conditionsHold(p, s)) keys.add(p.counterKey(s));
  };
  visit(index.always);
  if (step.tool_context) visit(index.byField.tool_name.get(step.tool_context.tool_name));
  visit(index.byField.workflow_id.get(step.workflow_id));
  visit(index.byField.step_type.get(step.step_type));
  for (const d of compiled.delegationsByWorkflow.get(step.workflow_id) ?? [])
    if (d.spend_limit !== undefined) keys.add(`delegation-spend:${d.delegation_id}`);
  return [...keys];
}
