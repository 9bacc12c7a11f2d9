import { describe, expect, it } from 'vitest';
import { scopeCovers } from '../src/index.js';
import { bundle, decide, NOW } from './helpers.js';

const tool = (tool_name: string, extra: Record<string, unknown> = {}) => ({
  step_type: 'tool_call' as const,
  tool_context: { tool_name, ...extra },
});

describe('action safety from the tool catalog (reference 001)', () => {
  const catalog = bundle({
    tools: [
      { tool_name: 'search', access: 'read' },
      { tool_name: 'jira_comment', access: 'write', auto_approve: true },
      { tool_name: 'email_send', access: 'write' },
      { tool_name: 'drop_project', access: 'destructive' },
      { tool_name: 'force_push', access: 'destructive', allow_destructive: true },
      {
        tool_name: 'slack_post',
        tool_type: 'api',
        access: 'write',
        auto_approve: true,
        destinations: { field: 'channel_id', allowed: ['C0123'] },
      },
    ],
  });
  const run = (name: string, mode: 'interactive' | 'background', input?: Record<string, unknown>) =>
    decide(catalog, { ...tool(name, input ? { tool_input: input } : {}), execution_mode: mode });

  it('read tools are allowed in both modes', () => {
    expect(run('search', 'interactive').decision).toBe('allow');
    expect(run('search', 'background').decision).toBe('allow');
  });
  it('auto-approved writes run; other writes need confirmation interactively and are blocked in background', () => {
    expect(run('jira_comment', 'background').decision).toBe('allow');
    expect(run('email_send', 'interactive').decision).toBe('require_approval');
    expect(run('email_send', 'background').decision).toBe('block');
  });
  it('destructive tools are denied unless allowed, and then only interactively with a human', () => {
    expect(run('drop_project', 'interactive').decision).toBe('block');
    expect(run('force_push', 'interactive').decision).toBe('require_approval');
    expect(run('force_push', 'background').decision).toBe('block');
  });
  it('a tool missing from a non-empty catalog is treated as a write', () => {
    const r = run('unknown_tool', 'interactive');
    expect(r.decision).toBe('require_approval');
    expect(r.reason).toContain('not in the catalog');
    expect(run('unknown_tool', 'background').decision).toBe('block');
  });
  it('destinations must be in the allowlist; a missing destination is blocked', () => {
    expect(run('slack_post', 'background', { channel_id: 'C0123' }).decision).toBe('allow');
    expect(run('slack_post', 'background', { channel_id: 'C9999' }).decision).toBe('block');
    expect(run('slack_post', 'background', {}).decision).toBe('block');
  });
  it('an empty catalog imposes nothing', () => {
    expect(decide(bundle(), { ...tool('anything'), execution_mode: 'background' }).decision).toBe('allow');
  });
});

describe('delegation (reference 002)', () => {
  const future = new Date(NOW + 30 * 86_400_000).toISOString();
  const delegated = (extra: Record<string, unknown> = {}) =>
    bundle({
      delegations: [
        {
          delegation_id: 'd-1',
          workflow_id: 'wf-1',
          delegated_by: 'admin',
          scope: ['api:get:weather', 'api:get:news'],
          expires_at: future,
          ...extra,
        },
      ],
    });

  it('scope coverage: exact, *, a prefix at a ":" boundary, prefix:*', () => {
    expect(scopeCovers('api:get:weather', 'api:get:weather')).toBe(true);
    expect(scopeCovers('*', 'mcp:anything')).toBe(true);
    expect(scopeCovers('api', 'api:get:weather')).toBe(true);
    expect(scopeCovers('api:get', 'api:get:weather')).toBe(true);
    expect(scopeCovers('api:g', 'api:get:weather')).toBe(false);
    expect(scopeCovers('api:get:*', 'api:get:weather')).toBe(true);
    expect(scopeCovers('api:get:*', 'api:post:weather')).toBe(false);
    expect(scopeCovers('api:get:weather', 'api:get')).toBe(false);
  });

  it('tool calls in scope are allowed; out of scope are blocked with a signed-off reason', () => {
    expect(decide(delegated(), tool('get:weather', { tool_type: 'api' })).decision).toBe('allow');
    const r = decide(delegated(), tool('database_delete'));
    expect(r.decision).toBe('block');
    expect(r.decided_by).toBe('delegation');
    expect(r.reason).toContain('function:database_delete');
  });

  it('applies to the delegated workflow only, and to tool calls only', () => {
    expect(decide(delegated(), { ...tool('database_delete'), workflow_id: 'other-wf' }).decision).toBe('allow');
    expect(decide(delegated(), { step_type: 'llm_call' }).decision).toBe('allow');
  });

  it('expired and not-yet-valid delegations block', () => {
    const expired = delegated({
      expires_at: new Date(NOW - 1000).toISOString(),
      not_before: new Date(NOW - 5000).toISOString(),
    });
    expect(decide(expired, tool('get:weather', { tool_type: 'api' })).reason).toMatch(/expired/);
    const early = delegated({ not_before: new Date(NOW + 1000).toISOString() });
    expect(decide(early, tool('get:weather', { tool_type: 'api' })).reason).toMatch(/not valid before/);
  });

  it('spend over the limit, from caller-supplied usage, blocks; within it, the spend is to be incremented', () => {
    const b = delegated({ spend_limit: 10 });
    const within = decide(
      b,
      { ...tool('get:weather', { tool_type: 'api' }), cost_usd: 2 },
      { usage: { 'delegation-spend:d-1': 7 } },
    );
    expect(within.decision).toBe('allow');
    expect(within.usage_keys_read).toContain('delegation-spend:d-1');
    expect(within.usage_increments).toEqual([{ key: 'delegation-spend:d-1', by: 2 }]);
    const over = decide(
      b,
      { ...tool('get:weather', { tool_type: 'api' }), cost_usd: 4 },
      { usage: { 'delegation-spend:d-1': 7 } },
    );
    expect(over.decision).toBe('block');
    expect(over.usage_increments).toEqual([]);
    const zero = decide(delegated({ spend_limit: 0 }), {
      ...tool('get:weather', { tool_type: 'api' }),
      cost_usd: 0.01,
    });
    expect(zero.decision).toBe('block');
  });
});
