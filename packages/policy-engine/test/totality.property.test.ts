import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECISIONS, EXECUTION_MODES, STEP_TYPES, TOOL_TYPES, type GateStep } from '@stepgate/contracts';
import { compileBundle, evaluate, OPERATORS } from '../src/index.js';
import referencePolicies from './fixtures/reference-policies.json' with { type: 'json' };
import { bundle, NOW } from './helpers.js';

const json = fc.jsonValue({ maxDepth: 3 });
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const stepArb: fc.Arbitrary<GateStep> = fc.record({
  workflow_id: fc.string({ minLength: 1, maxLength: 12 }),
  step_id: fc.string({ minLength: 1, maxLength: 12 }),
  step_type: fc.constantFrom(...STEP_TYPES),
  execution_mode: fc.constantFrom(...EXECUTION_MODES),
  step_name: optional(fc.string()),
  model: optional(fc.constantFrom('gpt-4', 'claude', 'o3')),
  provider: optional(fc.constantFrom('openai', 'anthropic', 'bedrock')),
  cost_usd: optional(fc.double({ min: 0, max: 1e6, noNaN: true })),
  step_input: optional(fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 8 })),
  tool_context: optional(
    fc.record({
      tool_name: fc.constantFrom('sql_query', 'code_executor', 'slack_post', 'search', 'x'),
      tool_type: optional(fc.constantFrom(...TOOL_TYPES)),
      tool_input: optional(fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 60 })),
    }),
  ),
});

/** Random policies over every operator and namespace, with operands that load (bad ones are refused earlier). */
const conditionArb = fc.oneof(
  fc.record({
    field: fc.constantFrom(
      'context.model',
      'context.step_name',
      'step_input.a',
      'tool_input.query',
      'step.last_decision',
    ),
    operator: fc.constantFrom('equals', 'not_equals'),
    value: json,
  }),
  fc.record({
    field: fc.constantFrom('context.step_name', 'tool_input.query', 'step_input.a'),
    operator: fc.constantFrom('contains', 'not_contains'),
    value: fc.string(),
  }),
  fc.record({
    field: fc.constantFrom('context.cost_usd', 'step_input.n', 'step.gate_count'),
    operator: fc.constantFrom('greater_than', 'less_than'),
    value: fc.integer(),
  }),
  fc.record({
    field: fc.constantFrom('context.model', 'step_input.a'),
    operator: fc.constantFrom('in', 'not_in', 'contains_any'),
    value: fc.array(fc.string(), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    field: fc.constantFrom('context.step_name', 'tool_input.query'),
    operator: fc.constant('regex'),
    value: fc.constantFrom('^a', 'drop\\s+table', '(x|y)+z', '.*'),
  }),
);
const policyArb = fc.record({
  name: fc.uuid(),
  type: fc.constant('context_aware'),
  category: fc.constant('dynamic-security'),
  priority: fc.integer({ min: 0, max: 1000 }),
  conditions: fc.array(conditionArb, { maxLength: 3 }),
  actions: fc.array(
    fc.record({ type: fc.constantFrom(...DECISIONS), config: fc.record({ allow_override: optional(fc.boolean()) }) }),
    { minLength: 1, maxLength: 2 },
  ),
});

describe('evaluation is total', () => {
  it('covers every operator in the generators', () => {
    const generated = new Set(fc.sample(conditionArb, 2000).map((c) => c.operator));
    expect([...generated].sort()).toEqual([...OPERATORS].sort());
  });

  it('never throws and always returns one of the three decisions, whatever the request', () => {
    const compiled = compileBundle(
      bundle({
        policies: referencePolicies,
        tools: [{ tool_name: 'slack_post', access: 'write', destinations: { field: 'channel_id', allowed: ['C1'] } }],
        delegations: [
          {
            delegation_id: 'd',
            workflow_id: 'wf',
            delegated_by: 'a',
            scope: ['api'],
            expires_at: '2030-01-01T00:00:00Z',
            spend_limit: 5,
          },
        ],
      }),
    );
    fc.assert(
      fc.property(stepArb, fc.integer({ min: 0, max: 4e12 }), (step, now) => {
        const r = evaluate(compiled, { step, tenant_id: 'acme', now });
        expect(DECISIONS).toContain(r.decision);
        expect(r.error).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('never throws and reports no engine error for random valid bundles either', () => {
    fc.assert(
      fc.property(fc.array(policyArb, { maxLength: 8 }), stepArb, (policies, step) => {
        const compiled = compileBundle(bundle({ policies }));
        const r = evaluate(compiled, { step, tenant_id: 'acme', now: NOW });
        expect(DECISIONS).toContain(r.decision);
        expect(r.error).toBeNull();
        if (r.decision !== 'allow') expect(r.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('fails closed: an input the engine cannot handle yields block with ENGINE_ERROR', () => {
    const compiled = compileBundle(bundle({ workflow_access: { mode: 'allowlist', allowed_workflows: ['x'] } }));
    const broken = { step: { step_type: 'llm_call' } as unknown as GateStep, tenant_id: 'acme', now: NOW };
    const r = evaluate(compiled, broken);
    expect(r.decision).toBe('block');
    expect(r.error?.code).toBe('ENGINE_ERROR');
  });
});
