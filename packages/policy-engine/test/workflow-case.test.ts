import { describe, expect, it } from 'vitest';
import { bundle, decide, policy } from './helpers.js';

/** One case rule for workflow ids: the allowlist (reference 000) and policy conditions agree. */
describe('workflow ids are case-insensitive everywhere', () => {
  const allowlisted = (conditionValue: unknown, operator = 'equals') =>
    bundle({
      workflow_access: { mode: 'allowlist', allowed_workflows: ['data-analysis'] },
      policies: [
        policy({
          name: 'no-gpt-4-in-analysis',
          conditions: [
            { field: 'context.workflow_id', operator, value: conditionValue },
            { field: 'context.model', operator: 'equals', value: 'gpt-4' },
          ],
        }),
      ],
    });

  it('a request in another case passes the allowlist and meets the policies written for the workflow', () => {
    for (const workflow_id of ['data-analysis', 'DATA-ANALYSIS', 'Data-Analysis']) {
      const r = decide(allowlisted('data-analysis'), { workflow_id, model: 'gpt-4' });
      expect({ workflow_id, decision: r.decision, matched: r.policies_matched.map((p) => p.policy_id) }).toEqual({
        workflow_id,
        decision: 'block',
        matched: ['no-gpt-4-in-analysis'],
      });
    }
  });

  it('a policy written in another case meets the request in any case (equals, in, not_equals)', () => {
    expect(decide(allowlisted('Data-ANALYSIS'), { workflow_id: 'data-analysis', model: 'gpt-4' }).decision).toBe(
      'block',
    );
    expect(
      decide(allowlisted(['Other', 'DATA-Analysis'], 'in'), { workflow_id: 'data-analysis', model: 'gpt-4' }).decision,
    ).toBe('block');
    expect(
      decide(allowlisted('DATA-ANALYSIS', 'not_equals'), { workflow_id: 'Data-Analysis', model: 'gpt-4' }).decision,
    ).toBe('allow');
  });

  it('a regex on the workflow id keeps its meaning (escapes untouched) and ignores case', () => {
    const b = (pattern: string) => allowlisted(pattern, 'regex');
    expect(decide(b('^Data-\\w+$'), { workflow_id: 'DATA-ANALYSIS', model: 'gpt-4' }).decision).toBe('block');
    // \W is "not a word character": lower-casing the pattern would have turned it into \w.
    expect(decide(b('^data\\W'), { workflow_id: 'data-analysis', model: 'gpt-4' }).decision).toBe('block');
    // Off the allowlist, so blocked, but not by the policy: the pattern does not match it.
    expect(
      decide(b('^data\\W'), { workflow_id: 'dataanalysis', model: 'gpt-4' }).policies_matched.map((p) => p.policy_id),
    ).toEqual([]);
  });

  it('a workflow off the allowlist stays refused in every case', () => {
    expect(decide(allowlisted('data-analysis'), { workflow_id: 'DATA-EXPORT' }).decision).toBe('block');
  });
});
