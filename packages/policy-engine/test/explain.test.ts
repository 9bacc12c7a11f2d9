import { describe, expect, it } from 'vitest';
import { compileBundle, explain } from '../src/index.js';
import { NOW, bundle, policy, step } from './helpers.js';

const compiled = compileBundle(
  bundle({
    policies: [
      policy({
        name: 'big-cost',
        priority: 100,
        conditions: [{ field: 'context.cost_usd', operator: 'greater_than', value: 5 }],
        actions: [{ type: 'require_approval', config: { reason: 'costly' } }],
      }),
      policy({
        name: 'no-gpt',
        priority: 200,
        conditions: [{ field: 'context.model', operator: 'equals', value: 'gpt-x' }],
        actions: [{ type: 'block', config: { reason: 'banned', allow_override: false } }],
      }),
      policy({
        name: 'vip',
        priority: 300,
        conditions: [{ field: 'step_input.vip', operator: 'equals', value: true }],
        actions: [{ type: 'allow', config: { reason: 'vip' } }],
      }),
    ],
  }),
);

describe('explain', () => {
  it('shows each condition with the value seen, and the policy and precedence rule that decided', () => {
    const e = explain(compiled, {
      step: step({ cost_usd: 9, model: 'gpt-x' }),
      tenant_id: 'acme',
      now: NOW,
    });
    expect(e.result.decision).toBe('block');
    expect(e.deciding_policy).toBe('no-gpt');
    expect(e.precedence).toContain('forbids override');
    const byName = Object.fromEntries(e.policies.map((p) => [p.policy_name, p]));
    expect(byName['big-cost']).toMatchObject({ matched: true, evaluated: true });
    expect(byName['big-cost']!.conditions).toEqual([
      { field: 'context.cost_usd', operator: 'greater_than', expected: 5, seen: 9, held: true },
    ]);
    expect(byName.vip!.conditions[0]).toMatchObject({ seen: undefined, held: false });
  });

  it('names the allow that overrides lower priorities', () => {
    const e = explain(compiled, {
      step: step({ cost_usd: 9, step_input: { vip: true } }),
      tenant_id: 'acme',
      now: NOW,
    });
    expect([e.result.decision, e.deciding_policy]).toEqual(['allow', 'vip']);
    expect(e.precedence).toContain('overrides restrictions of strictly lower priority');
  });

  it('agrees with evaluate on the decision', () => {
    const e = explain(compiled, { step: step(), tenant_id: 'acme', now: NOW });
    expect([e.result.decision, e.deciding_policy, e.precedence]).toEqual(['allow', null, 'no policy matched: allow']);
  });
});
