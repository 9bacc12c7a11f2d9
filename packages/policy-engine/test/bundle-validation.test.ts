import { describe, expect, it } from 'vitest';
import { BundleValidationError, compileBundle, MAX_BUNDLE_DEPTH, validateBundle } from '../src/index.js';
import { bundle, policy } from './helpers.js';

function issues(b: Record<string, unknown>) {
  const r = validateBundle(b);
  if (r.ok) throw new Error('expected the bundle to be refused');
  return r.issues;
}

describe('bundles are refused at load time, with the path and what was expected', () => {
  it('a bundle nesting deeper than MAX_BUNDLE_DEPTH is refused before anything recursive walks it (100,000 levels)', () => {
    let value: unknown = 'x';
    for (let i = 0; i < 100_000; i++) value = [value];
    const [issue] = issues(
      bundle({ policies: [policy({ conditions: [{ field: 'context.model', operator: 'equals', value }] })] }),
    );
    expect(issue).toEqual({ path: '(root)', message: `the bundle nests deeper than ${MAX_BUNDLE_DEPTH} levels` });
    expect(() =>
      compileBundle(
        bundle({ policies: [policy({ conditions: [{ field: 'context.model', operator: 'equals', value }] })] }),
      ),
    ).toThrow(BundleValidationError);
  });

  it('unknown operator', () => {
    const [issue] = issues(
      bundle({ policies: [policy({ conditions: [{ field: 'context.model', operator: 'eq', value: 'x' }] })] }),
    );
    expect(issue!.path).toBe('policies[0].conditions[0].operator');
    expect(issue!.message).toMatch(/equals/);
  });

  it('unknown policy type, bad category, unknown action type', () => {
    const found = issues(
      bundle({ policies: [policy({ type: 'magic', category: 'security', actions: [{ type: 'deny' }] })] }),
    );
    expect(found.map((i) => i.path).sort()).toEqual([
      'policies[0].actions[0].type',
      'policies[0].category',
      'policies[0].type',
    ]);
    expect(found.find((i) => i.path === 'policies[0].category')!.message).toMatch(/dynamic-.*media-/);
  });

  it('fields outside the known namespaces, and unknown context/step fields', () => {
    const found = issues(
      bundle({
        policies: [
          policy({
            conditions: [
              { field: 'prompt.text', operator: 'contains', value: 'x' },
              { field: 'context.modle', operator: 'equals', value: 'x' },
              { field: 'step.retries', operator: 'equals', value: 1 },
              { field: 'step_input.', operator: 'equals', value: 1 },
            ],
          }),
        ],
      }),
    );
    expect(found.map((i) => i.path)).toEqual([0, 1, 2, 3].map((n) => `policies[0].conditions[${n}].field`));
    expect(found[0]!.message).toMatch(/unknown field namespace/);
    expect(found[1]!.message).toMatch(/context\.\* is one of/);
  });

  it('regexes that do not compile under RE2 (including backreferences)', () => {
    const found = issues(
      bundle({
        policies: [
          policy({ conditions: [{ field: 'context.model', operator: 'regex', value: '(unclosed' }] }),
          policy({ name: 'p2', conditions: [{ field: 'context.model', operator: 'regex', value: '(a)\\1' }] }),
        ],
      }),
    );
    expect(found.map((i) => i.path)).toEqual(['policies[0].conditions[0].value', 'policies[1].conditions[0].value']);
    expect(found[0]!.message).toMatch(/does not compile/);
  });

  it('operands of the wrong shape', () => {
    const found = issues(
      bundle({
        policies: [
          policy({
            conditions: [
              { field: 'context.cost_usd', operator: 'greater_than', value: '10' },
              { field: 'context.model', operator: 'in', value: 'gpt-4' },
              { field: 'context.model', operator: 'contains_any', value: [] },
            ],
          }),
        ],
      }),
    );
    expect(found.map((i) => i.message)).toEqual([
      'expected a finite number',
      'expected a non-empty array',
      'expected a non-empty array',
    ]);
  });

  it('open workflow access in production', () => {
    const found = issues(bundle({ environment: 'production', workflow_access: { mode: 'open' } }));
    expect(found).toEqual([{ path: 'workflow_access.mode', message: expect.stringMatching(/refused in production/) }]);
    expect(validateBundle(bundle({ environment: 'staging', workflow_access: { mode: 'open' } })).ok).toBe(true);
  });

  it('duplicate names, unknown keys, and type parameters that do not fit the type', () => {
    const found = issues(
      bundle({
        policies: [
          policy({ name: 'same' }),
          policy({ name: 'same', colour: 'red' }),
          policy({ name: 'rl', type: 'rate-limit' }),
          policy({ name: 'b', budget: { window_seconds: 60, max_cost_usd: 1 } }),
        ],
      }),
    );
    const paths = found.map((i) => i.path);
    expect(paths).toContain('policies[1].name');
    expect(paths).toContain('policies[1]');
    expect(paths).toContain('policies[2].rate_limit');
    expect(paths).toContain('policies[3].budget');
  });

  it('reports every problem at once, and compileBundle throws them as a typed error', () => {
    const bad = bundle({ tenant_id: 'ACME!', environment: 'prod', policies: [policy({ priority: 1.5 })] });
    expect(issues(bad).length).toBeGreaterThanOrEqual(3);
    let thrown: unknown;
    try {
      compileBundle(bad);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BundleValidationError);
    expect((thrown as BundleValidationError).issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['tenant_id', 'environment', 'policies[0].priority']),
    );
  });

  it('time zones, hours and delegation windows are checked', () => {
    const found = issues(
      bundle({
        policies: [
          policy({
            type: 'time-access',
            time_access: { timezone: 'Mars/Olympus', allowed_hours: { start: '9:00', end: '17:00' } },
          }),
        ],
        delegations: [
          {
            delegation_id: 'd',
            workflow_id: 'w',
            delegated_by: 'a',
            scope: ['*'],
            not_before: '2026-02-01T00:00:00Z',
            expires_at: '2026-01-01T00:00:00Z',
          },
        ],
      }),
    );
    expect(found.map((i) => i.path).sort()).toEqual([
      'delegations[0].expires_at',
      'policies[0].time_access.allowed_hours.start',
      'policies[0].time_access.timezone',
    ]);
  });
});
