/**
 * A synthetic tenant: N block policies over tools, workflows, models and inputs, written once as a
 * stepgate bundle and once as the equivalent Cedar policy set, plus requests that hit both.
 */
import type { GateStep } from '@stepgate/contracts';

/** Deterministic PRNG (mulberry32) so every run measures the same workload. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Rule {
  stepgate: { field: string; operator: string; value: unknown }[];
  cedar: string[];
}

function ruleFor(i: number): Rule {
  switch (i % 4) {
    case 0: // a tool with a dangerous input
      return {
        stepgate: [
          { field: 'context.tool_name', operator: 'equals', value: `tool-${i % 200}` },
          { field: 'tool_input.query', operator: 'contains', value: `kw${i}` },
        ],
        cedar: [
          `context has tool_name && context.tool_name == "tool-${i % 200}"`,
          `context has tool_input && context.tool_input has query && context.tool_input.query like "*kw${i}*"`,
        ],
      };
    case 1: // a model forbidden in one workflow
      return {
        stepgate: [
          { field: 'context.workflow_id', operator: 'equals', value: `wf-${i % 100}` },
          { field: 'context.step_type', operator: 'equals', value: 'llm_call' },
          { field: 'context.model', operator: 'equals', value: `model-${i % 7}` },
        ],
        cedar: [
          `context.workflow_id == "wf-${i % 100}"`,
          `context.step_type == "llm_call"`,
          `context has model && context.model == "model-${i % 7}"`,
        ],
      };
    case 2: // token ceiling per workflow
      return {
        stepgate: [
          { field: 'context.workflow_id', operator: 'equals', value: `wf-${i % 100}` },
          { field: 'context.tokens_in', operator: 'greater_than', value: 4000 + (i % 50) * 100 },
        ],
        cedar: [
          `context.workflow_id == "wf-${i % 100}"`,
          `context has tokens_in && context.tokens_in > ${4000 + (i % 50) * 100}`,
        ],
      };
    default: // an environment-scoped tool
      return {
        stepgate: [
          { field: 'context.tool_name', operator: 'equals', value: `tool-${i % 200}` },
          { field: 'step_input.environment', operator: 'in', value: ['production', `env-${i % 9}`] },
        ],
        cedar: [
          `context has tool_name && context.tool_name == "tool-${i % 200}"`,
          `context has step_input && context.step_input has environment && ["production", "env-${i % 9}"].contains(context.step_input.environment)`,
        ],
      };
  }
}

export function workload(policyCount: number, requestCount: number) {
  const rules = Array.from({ length: policyCount }, (_, i) => ruleFor(i));
  const bundle = {
    tenant_id: 'bench',
    environment: 'staging',
    workflow_access: { mode: 'open' },
    policies: rules.map((r, i) => ({
      name: `p${i}`,
      type: 'context_aware',
      category: 'dynamic-security',
      priority: 100 + (i % 10),
      conditions: r.stepgate,
      actions: [{ type: 'block', config: { reason: `rule ${i}` } }],
    })),
  };
  const cedarPolicies =
    'permit(principal, action, resource);\n' +
    rules
      .map(
        (r, i) =>
          `@id("p${i}")\nforbid(principal, action == Action::"gate", resource)\nwhen { ${r.cedar.join(' && ')} };`,
      )
      .join('\n');

  const random = rng(policyCount * 7919 + requestCount);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const steps: GateStep[] = Array.from({ length: requestCount }, (_, n) => {
    const base = {
      workflow_id: `wf-${Math.floor(random() * 120)}`,
      step_id: `s-${n}`,
      execution_mode: 'interactive' as const,
    };
    if (random() < 0.5)
      return {
        ...base,
        step_type: 'llm_call',
        model: `model-${Math.floor(random() * 9)}`,
        provider: 'anthropic',
        tokens_in: Math.floor(random() * 9000),
      };
    return {
      ...base,
      step_type: 'tool_call',
      step_input: { environment: pick(['production', 'staging', 'env-3', 'dev']) },
      tool_context: {
        tool_name: `tool-${Math.floor(random() * 240)}`,
        tool_type: 'function',
        tool_input: { query: `select * from t where note = 'kw${Math.floor(random() * policyCount * 1.2)}'` },
      },
    };
  });
  return { bundle, cedarPolicies, steps };
}

/** The Cedar request context for a step: the same fields, omitted when absent. */
export function cedarContext(step: GateStep): Record<string, unknown> {
  const ctx: Record<string, unknown> = { workflow_id: step.workflow_id, step_type: step.step_type };
  if (step.model !== undefined) ctx.model = step.model;
  if (step.tokens_in !== undefined) ctx.tokens_in = step.tokens_in;
  if (step.step_input !== undefined) ctx.step_input = step.step_input;
  if (step.tool_context) {
    ctx.tool_name = step.tool_context.tool_name;
    if (step.tool_context.tool_input) ctx.tool_input = step.tool_context.tool_input;
  }
  return ctx;
}
