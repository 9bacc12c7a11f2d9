import { describe, expect, it } from 'vitest';
import { validateBundle } from '../src/index.js';
import { bundle, decide, policy } from './helpers.js';

const ask = (config: Record<string, unknown> = {}) => [
  { type: 'require_approval', config: { reason: 'ask', ...config } },
];

describe('approval rule (quorum, approver role, escalation)', () => {
  it("require_approval carries the deciding policy's rule", () => {
    const r = decide(
      bundle({
        policies: [
          policy({
            actions: ask({ approvals_required: 2, approver_role: 'release-manager', escalate_to_role: 'cto' }),
          }),
        ],
      }),
    );
    expect(r.decision).toBe('require_approval');
    expect(r.approval_rule).toEqual({
      approvals_required: 2,
      approver_role: 'release-manager',
      escalate_to_role: 'cto',
    });
  });

  it('defaults to one approver of role approver, no escalation; no rule unless approval is required', () => {
    expect(decide(bundle({ policies: [policy({ actions: ask() })] })).approval_rule).toEqual({
      approvals_required: 1,
      approver_role: 'approver',
      escalate_to_role: null,
    });
    expect(decide(bundle({ policies: [policy({ actions: [{ type: 'block' }] })] })).approval_rule).toBeNull();
  });

  it('refuses quorum keys on other actions, out-of-range quorums and role names that are not names', () => {
    const result = validateBundle(
      bundle({
        policies: [
          policy({ name: 'a', actions: [{ type: 'block', config: { approvals_required: 2 } }] }),
          policy({ name: 'b', actions: ask({ approvals_required: 0 }) }),
          policy({ name: 'c', actions: ask({ approvals_required: 11 }) }),
          policy({ name: 'd', actions: ask({ approver_role: 'Robert"); drop' }) }),
          policy({ name: 'e', actions: ask({ escalate_to_role: '' }) }),
        ],
      }),
    );
    expect(result.ok).toBe(false);
    const paths = result.ok ? [] : result.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'policies[0].actions[0].config.approvals_required',
        'policies[1].actions[0].config.approvals_required',
        'policies[2].actions[0].config.approvals_required',
        'policies[3].actions[0].config.approver_role',
        'policies[4].actions[0].config.escalate_to_role',
      ]),
    );
  });
});
