import { describe, expect, it } from 'vitest';
import { ApprovalRequestSchema, DecisionBodySchema, refusalDecision } from '../src/index.js';

const sha256 = 'a'.repeat(64);
const decision = refusalDecision({
  request_id: 'r',
  tenant_id: 't',
  workflow_id: 'w',
  step_id: 's',
  code: 'KILL_SWITCH',
  message: 'kill switch engaged: stop',
  now: Date.parse('2026-11-18T10:30:00Z'),
});

describe('policy_version on the wire', () => {
  it('is optional on read: decisions of evaluators before it still parse', () => {
    expect(DecisionBodySchema.parse(decision)).not.toHaveProperty('policy_version');
    const versioned = { ...decision, policy_version: { version: 3, sha256 } };
    expect(DecisionBodySchema.parse(versioned).policy_version).toEqual({ version: 3, sha256 });
  });

  it('refuses a malformed version rather than carrying it', () => {
    for (const policy_version of [
      { version: 0, sha256 },
      { version: 1, sha256: 'nothex' },
      { version: 1.5, sha256 },
      'v1',
    ])
      expect(DecisionBodySchema.safeParse({ ...decision, policy_version }).success).toBe(false);
  });

  it('is optional on approval requests too', () => {
    const shape = ApprovalRequestSchema.shape.policy_version;
    expect(shape.safeParse(undefined).success).toBe(true);
    expect(shape.safeParse({ version: 2, sha256 }).success).toBe(true);
  });
});
