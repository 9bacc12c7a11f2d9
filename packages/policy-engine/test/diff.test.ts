import { describe, expect, it } from 'vitest';
import { diffBundles } from '../src/index.js';
import { bundle, policy } from './helpers.js';

describe('diffBundles', () => {
  it('reports nothing for equal bundles, whatever their key order', () => {
    const a = bundle({ policies: [policy({ name: 'a', priority: 1 })] });
    const b = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(a).reverse()))) as unknown;
    expect(diffBundles(a, b)).toMatchObject({ same: true, settings: [], policies: [], tools: [], delegations: [] });
  });

  it('names policies added, removed and changed, with each changed field before and after', () => {
    const before = bundle({
      environment: 'staging',
      policies: [
        policy({ name: 'keep', priority: 1 }),
        policy({ name: 'gone' }),
        policy({ name: 'edit', conditions: [{ field: 'context.model', operator: 'equals', value: 'a' }] }),
      ],
    });
    const after = bundle({
      environment: 'production',
      policies: [
        policy({ name: 'edit', priority: 7, conditions: [{ field: 'context.model', operator: 'equals', value: 'b' }] }),
        policy({ name: 'keep', priority: 1 }),
        policy({ name: 'new' }),
      ],
    });
    const diff = diffBundles(before, after);
    expect(diff.same).toBe(false);
    expect(diff.settings).toEqual([{ path: 'environment', before: 'staging', after: 'production' }]);
    expect(diff.policies.map((p) => [p.key, p.change])).toEqual([
      ['gone', 'removed'],
      ['edit', 'changed'],
      ['new', 'added'],
    ]);
    expect(diff.policies[1]!.fields).toEqual([
      { path: 'conditions[0].value', before: 'a', after: 'b' },
      { path: 'priority', before: 100, after: 7 },
    ]);
  });

  it('compares tools by tool_name and delegations by delegation_id', () => {
    const tool = { tool_name: 'shell', access: 'destructive' };
    const diff = diffBundles(bundle({ tools: [tool] }), bundle({ tools: [{ ...tool, access: 'write' }] }));
    expect(diff.tools).toEqual([
      { key: 'shell', change: 'changed', fields: [{ path: 'access', before: 'destructive', after: 'write' }] },
    ]);
  });

  it('never throws on documents that are not bundles', () => {
    for (const odd of [null, 7, 'x', [], { policies: 'no' }, { policies: [null, 3] }])
      expect(() => diffBundles(odd, bundle())).not.toThrow();
  });
});
