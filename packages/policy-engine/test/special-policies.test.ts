import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileBundle, evaluate, usageKeysFor } from '../src/index.js';
import { bundle, decide, input, NOW, policy } from './helpers.js';

describe('rate-limit, budget, time-access and role-access policies', () => {
  const rateLimited = bundle({
    policies: [
      policy({
        name: 'agent-rate',
        type: 'rate-limit',
        conditions: [{ field: 'context.step_type', operator: 'equals', value: 'tool_call' }],
        rate_limit: { per: ['context.agent_id'], window_seconds: 60, max_requests: 3 },
        actions: [{ type: 'block', config: { reason: 'too many tool calls' } }],
      }),
    ],
  });
  const toolStep = { step_type: 'tool_call' as const, agent_id: 'bot-1', tool_context: { tool_name: 'search' } };

  it('rate-limit: the engine names the counter it needs, then blocks at the limit and otherwise increments', () => {
    const compiled = compileBundle(rateLimited);
    const [key] = usageKeysFor(compiled, input(toolStep));
    const windowStart = Math.floor(NOW / 60_000) * 60;
    expect(key).toBe(`["rate-limit","agent-rate",["bot-1"],60,${windowStart}]`);
    const under = decide(compiled, toolStep, { usage: { [key!]: 2 } });
    expect(under.decision).toBe('allow');
    expect(under.usage_increments).toEqual([{ key, by: 1, window_seconds: 60 }]);
    const at = decide(compiled, toolStep, { usage: { [key!]: 3 } });
    expect(at.decision).toBe('block');
    expect(at.reason).toBe('agent-rate: too many tool calls');
    expect(at.usage_increments).toEqual([]);
    // Another agent, another counter; a non-matching step reads no counter.
    expect(usageKeysFor(compiled, input({ ...toolStep, agent_id: 'bot-2' }))[0]).toContain('["bot-2"]');
    expect(usageKeysFor(compiled, input({ step_type: 'llm_call' }))).toEqual([]);
  });

  it('counter keys of distinct subjects differ where the former `a|b`, `:` keys collided; equal objects share one', () => {
    const compiled = compileBundle(
      bundle({
        policies: [
          policy({
            name: 'per-user-agent',
            type: 'rate-limit',
            rate_limit: { per: ['context.user_id', 'context.agent_id'], window_seconds: 60, max_requests: 3 },
          }),
          policy({
            name: 'per-target',
            type: 'rate-limit',
            conditions: [{ field: 'context.step_type', operator: 'equals', value: 'tool_call' }],
            rate_limit: { per: ['tool_input.target'], window_seconds: 60, max_requests: 3 },
          }),
        ],
      }),
    );
    const keys = (step: Record<string, unknown>) => usageKeysFor(compiled, input(step));
    // Former keys: `rate-limit:per-user-agent:a|b|c:60:<start>` for both.
    expect(keys({ user_id: 'a|b', agent_id: 'c' })).not.toEqual(keys({ user_id: 'a', agent_id: 'b|c' }));
    // Former keys: `…:a:b:60:…` for both (a `:` in a value reads as the next part).
    expect(keys({ user_id: 'a:b', agent_id: 'x' })[0]).not.toBe(keys({ user_id: 'a', agent_id: 'b:x' })[0]);
    const tool = (target: unknown) =>
      keys({ step_type: 'tool_call', tool_context: { tool_name: 't', tool_input: { target } } })[1];
    // Former keys: the string "1" and the number 1 were one subject, and so were "null" and null.
    expect(tool('1')).not.toBe(tool(1));
    expect(tool('null')).not.toBe(tool(null));
    expect(tool('')).not.toBe(tool(null));
    // One object, whatever its key order, is one subject: reordering keys does not reset a limit.
    expect(tool({ host: 'db', port: 5432 })).toBe(tool({ port: 5432, host: 'db' }));
    expect(JSON.parse(tool('1\u001b|x')!)).toEqual(['rate-limit', 'per-target', ['1\u001b|x'], 60, expect.any(Number)]);
  });

  it("budget: blocks when spend plus this step's cost would exceed the cap", () => {
    const compiled = compileBundle(
      bundle({
        policies: [
          policy({
            name: 'daily',
            type: 'budget',
            budget: { per: ['context.tenant_id'], window_seconds: 86400, max_cost_usd: 50 },
          }),
        ],
      }),
    );
    const [key] = usageKeysFor(compiled, input({ cost_usd: 1 }));
    expect(decide(compiled, { cost_usd: 5 }, { usage: { [key!]: 45 } }).decision).toBe('allow');
    expect(decide(compiled, { cost_usd: 5 }, { usage: { [key!]: 45 } }).usage_increments).toEqual([
      { key, by: 5, window_seconds: 86400 },
    ]);
    expect(decide(compiled, { cost_usd: 5.01 }, { usage: { [key!]: 45 } }).decision).toBe('block');
  });

  it("time-access: fires outside the allowed days and hours, in the policy's time zone", () => {
    const b = bundle({
      policies: [
        policy({
          type: 'time-access',
          time_access: {
            timezone: 'America/New_York',
            allowed_days: ['mon', 'tue', 'wed', 'thu', 'fri'],
            allowed_hours: { start: '09:00', end: '17:00' },
          },
        }),
      ],
    });
    const at = (iso: string) => decide(b, {}, { now: Date.parse(iso) }).decision;
    expect(at('2026-11-18T15:00:00Z')).toBe('allow'); // Wed 10:00 New York
    expect(at('2026-11-18T13:59:00Z')).toBe('block'); // Wed 08:59
    expect(at('2026-11-18T22:00:00Z')).toBe('block'); // Wed 17:00, end is exclusive
    expect(at('2026-11-21T15:00:00Z')).toBe('block'); // Saturday
  });

  it('time-access windows may run overnight', () => {
    const b = bundle({
      policies: [policy({ type: 'time-access', time_access: { allowed_hours: { start: '22:00', end: '06:00' } } })],
    });
    expect(decide(b, {}, { now: Date.parse('2026-11-18T23:30:00Z') }).decision).toBe('allow');
    expect(decide(b, {}, { now: Date.parse('2026-11-18T05:59:00Z') }).decision).toBe('allow');
    expect(decide(b, {}, { now: Date.parse('2026-11-18T12:00:00Z') }).decision).toBe('block');
  });

  it('role-access: fires when the user holds none of the required roles', () => {
    const b = bundle({
      policies: [
        policy({
          type: 'role-access',
          role_access: { required_roles: ['deployer', 'sre'] },
          conditions: [{ field: 'context.step_name', operator: 'contains', value: 'deploy' }],
          actions: [{ type: 'require_approval' }],
        }),
      ],
    });
    expect(decide(b, { step_name: 'deploy' }, { user_roles: ['sre'] }).decision).toBe('allow');
    expect(decide(b, { step_name: 'deploy' }, { user_roles: ['viewer'] }).decision).toBe('require_approval');
    expect(decide(b, { step_name: 'deploy' }).decision).toBe('require_approval');
    expect(decide(b, { step_name: 'summarise' }).decision).toBe('allow');
  });
});

describe('usageKeysFor', () => {
  it('finds exactly the counters an evaluation reads, for any step, without evaluating', () => {
    const compiled = compileBundle(
      bundle({
        policies: [
          policy({
            name: 'tool-rate',
            type: 'rate-limit',
            conditions: [{ field: 'context.step_type', operator: 'equals', value: 'tool_call' }],
            rate_limit: { per: ['context.agent_id'], window_seconds: 60, max_requests: 5 },
            actions: [{ type: 'block', config: { reason: 'too many' } }],
          }),
          policy({
            name: 'spend',
            type: 'budget',
            conditions: [{ field: 'context.model', operator: 'in', value: ['gpt-4', 'o3'] }],
            budget: { per: ['context.user_id'], window_seconds: 3600, max_cost_usd: 10 },
            actions: [{ type: 'block', config: { reason: 'budget' } }],
          }),
        ],
      }),
    );
    fc.assert(
      fc.property(
        fc.record({
          step_type: fc.constantFrom('llm_call', 'tool_call', 'connector_call'),
          model: fc.constantFrom('gpt-4', 'o3', 'claude'),
          agent_id: fc.constantFrom('a', 'b|c', 'x'),
          user_id: fc.constantFrom('u1', 'u:2'),
          workflow_id: fc.constantFrom('wf', 'WF'),
        }),
        (s) => {
          const step = { ...s, ...(s.step_type === 'tool_call' ? { tool_context: { tool_name: 't' } } : {}) };
          const read = evaluate(compiled, input(step)).usage_keys_read;
          expect(new Set(usageKeysFor(compiled, input(step)))).toEqual(new Set(read));
        },
      ),
      { seed: 7, numRuns: 200 },
    );
  });
});
