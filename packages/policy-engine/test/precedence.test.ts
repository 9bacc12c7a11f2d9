import { describe, expect, it } from 'vitest';
import { bundle, decide, policy } from './helpers.js';

const always: unknown[] = [];
const act = (type: string, config: Record<string, unknown> = {}) => [
  { type, config: { reason: `${type} reason`, ...config } },
];

describe('policy precedence', () => {
  it('no restricting match → allow', () => {
    const r = decide(
      bundle({ policies: [policy({ conditions: [{ field: 'context.model', operator: 'equals', value: 'x' }] })] }),
      {},
    );
    expect(r.decision).toBe('allow');
    expect(r.reason).toBe('no policy restricts this step');
    expect(r.decided_by).toBe('policies');
  });

  it('require_approval beats block, giving a human the chance to override', () => {
    const r = decide(
      bundle({
        policies: [
          policy({ name: 'b', conditions: always, actions: act('block') }),
          policy({ name: 'a', conditions: always, actions: act('require_approval') }),
        ],
      }),
    );
    expect(r.decision).toBe('require_approval');
    expect(r.deciding_policy?.policy_name).toBe('a');
    expect(r.policies_matched.map((p) => p.policy_name).sort()).toEqual(['a', 'b']);
  });

  it('a block with allow_override: false forbids that override', () => {
    const r = decide(
      bundle({
        policies: [
          policy({ name: 'hard', priority: 10, actions: act('block', { allow_override: false }) }),
          policy({ name: 'ask', priority: 500, actions: act('require_approval') }),
          policy({ name: 'soft', priority: 900, actions: act('block') }),
        ],
      }),
    );
    expect(r.decision).toBe('block');
    expect(r.deciding_policy?.policy_name).toBe('hard');
  });

  it('without any approval policy, the highest-priority block gives the reason', () => {
    const r = decide(
      bundle({ policies: [policy({ name: 'low', priority: 1 }), policy({ name: 'high', priority: 99 })] }),
    );
    expect(r.decision).toBe('block');
    expect(r.reason).toBe('high: r');
  });

  it('a matching allow discards restricting policies of strictly lower priority only', () => {
    const policies = [
      policy({
        name: 'allow-internal',
        priority: 500,
        actions: act('allow'),
        conditions: [{ field: 'context.provider', operator: 'equals', value: 'bedrock' }],
      }),
      policy({ name: 'block-low', priority: 100 }),
    ];
    const r = decide(bundle({ policies }), { provider: 'bedrock' });
    expect(r.decision).toBe('allow');
    expect(r.policies_overridden.map((p) => p.policy_name)).toEqual(['block-low']);
    expect(r.deciding_policy?.policy_name).toBe('allow-internal');

    const equal = decide(bundle({ policies: [policies[0], policy({ name: 'block-equal', priority: 500 })] }), {
      provider: 'bedrock',
    });
    expect(equal.decision).toBe('block');
    const higher = decide(bundle({ policies: [policies[0], policy({ name: 'block-high', priority: 501 })] }), {
      provider: 'bedrock',
    });
    expect(higher.decision).toBe('block');
    expect(decide(bundle({ policies }), { provider: 'openai' }).decision).toBe('block');
  });

  it('disabled policies are not evaluated; gateway-scoped ones only for gateway evaluations', () => {
    const b = bundle({ policies: [policy({ name: 'off', enabled: false }), policy({ name: 'gw', scope: 'gateway' })] });
    const wf = decide(b);
    expect(wf.decision).toBe('allow');
    expect(wf.policies_evaluated).toEqual([]);
    const gw = decide(b, {}, { scope: 'gateway' });
    expect(gw.decision).toBe('block');
    expect(gw.policies_evaluated.map((p) => p.policy_name)).toEqual(['gw']);
  });

  it('a policy with several actions acts as its most restrictive one', () => {
    const r = decide(
      bundle({
        policies: [
          policy({ actions: [{ type: 'allow' }, { type: 'require_approval', config: { timeout_seconds: 600 } }] }),
        ],
      }),
    );
    expect(r.decision).toBe('require_approval');
    expect(r.approval_timeout_seconds).toBe(600);
  });

  it('equal priorities: the earlier policy in the bundle gives the reason', () => {
    const r = decide(bundle({ policies: [policy({ name: 'first' }), policy({ name: 'second' })] }));
    expect(r.deciding_policy?.policy_name).toBe('first');
  });
});

describe('the most restrictive check wins', () => {
  it('workflow access block outranks a policy allow', () => {
    const r = decide(
      bundle({
        workflow_access: { mode: 'allowlist', allowed_workflows: ['Leave-Approval-Workflow'] },
        policies: [policy({ actions: act('allow'), priority: 999 })],
      }),
      { workflow_id: 'payroll-export' },
    );
    expect(r.decision).toBe('block');
    expect(r.decided_by).toBe('workflow_access');
    expect(r.reason).toContain('payroll-export');
  });

  it('a catalog require_approval and a policy block → block, reason from the policy', () => {
    const r = decide(
      bundle({ tools: [{ tool_name: 'slack_post', access: 'write' }], policies: [policy({ name: 'no-slack' })] }),
      {
        step_type: 'tool_call',
        tool_context: { tool_name: 'slack_post' },
      },
    );
    expect(r.decision).toBe('block');
    expect(r.decided_by).toBe('policies');
    expect(r.checks.map((c) => [c.check, c.decision])).toEqual([
      ['workflow_access', 'allow'],
      ['delegation', 'allow'],
      ['tool_catalog', 'require_approval'],
      ['policies', 'block'],
    ]);
  });
});

describe('workflow access', () => {
  const allowlist = bundle({ workflow_access: { mode: 'allowlist', allowed_workflows: ['leave-approval-workflow'] } });
  it('allowlist: listed workflows pass, case-insensitively; others are blocked', () => {
    expect(decide(allowlist, { workflow_id: 'leave-approval-workflow' }).decision).toBe('allow');
    expect(decide(allowlist, { workflow_id: 'LEAVE-APPROVAL-WORKFLOW' }).decision).toBe('allow');
    expect(decide(allowlist, { workflow_id: 'other' }).decision).toBe('block');
  });
  it('open mode lets any workflow through (outside production)', () => {
    expect(decide(bundle({ workflow_access: { mode: 'open' } }), { workflow_id: 'anything' }).decision).toBe('allow');
  });
  it('an empty allowlist blocks everything', () => {
    expect(decide(bundle({ workflow_access: { mode: 'allowlist' } }), {}).decision).toBe('block');
  });
});

describe('ties between checks', () => {
  it('equal restrictions: the earliest check gives the reason', () => {
    const r = decide(bundle({ workflow_access: { mode: 'allowlist' }, policies: [policy({ name: 'p' })] }), {});
    expect(r.decision).toBe('block');
    expect(r.decided_by).toBe('workflow_access');
  });
});
