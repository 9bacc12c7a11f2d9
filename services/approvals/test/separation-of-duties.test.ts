import { describe, expect, it } from 'vitest';
import { selfApproval } from '../src/workflows/approval.js';

const requester = { principal: 'orchestrator', user_id: 'Alice', agent_id: 'agent-7' };
const attested = (subject: string, principal = 'alice') => ({
  principal,
  attested: { issuer: 'https://idp.example', subject, principal, roles: ['approver'] },
});
const now = { caseInsensitiveUser: true };

describe('separation of duties (SELF_APPROVAL)', () => {
  it('the requesting user, in any case, cannot approve by key principal or attested subject', () => {
    expect(selfApproval({ principal: 'alice', attested: undefined }, requester, now)).toBe(true);
    expect(selfApproval({ principal: 'ALICE', attested: undefined }, requester, now)).toBe(true);
    expect(selfApproval(attested('alice'), { ...requester, user_id: 'ALICE' }, now)).toBe(true);
    expect(selfApproval(attested('Alice', 'alice-portal'), { ...requester, user_id: 'alice' }, now)).toBe(true);
    expect(selfApproval({ principal: 'orchestrator', attested: undefined }, requester, now)).toBe(true);
  });

  it('another person may approve; histories from before the patch keep the exact comparison', () => {
    expect(selfApproval({ principal: 'bob', attested: undefined }, requester, now)).toBe(false);
    expect(selfApproval(attested('bob', 'bob'), requester, now)).toBe(false);
    expect(selfApproval({ principal: 'alice', attested: undefined }, requester, { caseInsensitiveUser: false })).toBe(
      false,
    );
  });
});
