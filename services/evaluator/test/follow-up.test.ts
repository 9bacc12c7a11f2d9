import { describe, expect, it } from 'vitest';
import { storedFollowUp } from '../src/follow-up.js';

describe('stored follow-up', () => {
  const followUp = {
    principal: 'release-orchestrator',
    tool_access: 'write',
    approval: {
      approval_id: '00000000-0000-4000-8000-000000000001',
      severity: 'high',
      timeout_seconds: 600,
      usage_increments: [{ key: 'budget:usd', by: 3 }],
      rule: { approvals_required: 2, approver_role: 'approver', escalate_to_role: null },
    },
  };

  it('reads back what this version stores', () => {
    expect(storedFollowUp(JSON.parse(JSON.stringify(followUp)))).toEqual(followUp);
    expect(storedFollowUp({ principal: 'p', tool_access: null })).toEqual({ principal: 'p', tool_access: null });
  });

  it('reads a rule a later version stored with a field more (a rollback)', () => {
    const later = {
      ...followUp,
      approval: { ...followUp.approval, rule: { ...followUp.approval.rule, quorum_window: 60 } },
    };
    expect(storedFollowUp(later)?.approval?.rule).toEqual(followUp.approval.rule);
  });

  it('none for a decision stored without one (an older evaluator) or with one it cannot read', () => {
    expect(storedFollowUp(null)).toBeUndefined();
    expect(storedFollowUp(undefined)).toBeUndefined();
    expect(storedFollowUp({ principal: 7, tool_access: null })).toBeUndefined();
    expect(storedFollowUp({ ...followUp, approval: { ...followUp.approval, approval_id: 'nope' } })).toBeUndefined();
  });
});
