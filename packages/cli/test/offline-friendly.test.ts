import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileBundle } from '@stepgate/policy-engine';
import type { RecordedInput } from '@stepgate/store';
import { ReplayTally } from '../src/replay.js';
import { cli, REPO, scratch } from './run-cli.js';

const BUNDLE = path.join(REPO, 'examples/acme/bundle.json');
const NOW = '2026-11-18T10:30:00Z';

const toolCall = {
  tenant_id: 'acme',
  workflow_id: 'release-pipeline',
  step_id: 's',
  step_type: 'tool_call',
  agent_id: 'bot',
  tool_context: { tool_name: 'web_search' },
};

describe('offline tools, friendlier', () => {
  it('eval accepts a partial retry_context (missing counters as on a first gate)', async () => {
    const dir = await scratch({ 'req.json': { ...toolCall, retry_context: { gate_count: 7 } } });
    const r = await cli(['eval', '--bundle', BUNDLE, '--request', 'req.json', '--now', NOW], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('decision');
  });

  it('still refuses a retry_context with a wrong type or an unknown key, by flag and exit 2', async () => {
    for (const retry_context of [{ gate_count: 'seven' }, { gate_counts: 7 }, { prior_completion_status: 'maybe' }]) {
      const dir = await scratch({ 'req.json': { ...toolCall, retry_context } });
      const r = await cli(['eval', '--bundle', BUNDLE, '--request', 'req.json', '--now', NOW], dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('retry_context');
    }
  });

  it('names counters by policy and subject instead of the internal key', async () => {
    const dir = await scratch({
      'req.json': toolCall,
      'usage.json': [{ policy: 'tool-call-rate', subject: ['bot'], value: 30 }],
      'under.json': [{ policy: 'tool-call-rate', subject: 'bot', value: 3 }],
    });
    const over = await cli(
      ['eval', '--bundle', BUNDLE, '--request', 'req.json', '--usage', 'usage.json', '--now', NOW],
      dir,
    );
    expect(JSON.parse(over.stdout)).toMatchObject({ decision: 'block', reason: expect.stringContaining('rate limit') });
    const under = await cli(
      ['eval', '--bundle', BUNDLE, '--request', 'req.json', '--usage', 'under.json', '--now', NOW],
      dir,
    );
    expect((JSON.parse(under.stdout) as { reason: string }).reason).not.toContain('rate limit');
  });

  it('refuses a counter of an unknown policy, of a policy without one, or with the wrong subject length', async () => {
    const cases = [
      [{ policy: 'nope', value: 1 }],
      [{ policy: 'block-dangerous-sql', value: 1 }],
      [{ policy: 'tool-call-rate', subject: ['a', 'b'], value: 1 }],
    ];
    for (const usage of cases) {
      const dir = await scratch({ 'req.json': toolCall, 'usage.json': usage });
      const r = await cli(
        ['eval', '--bundle', BUNDLE, '--request', 'req.json', '--usage', 'usage.json', '--now', NOW],
        dir,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('usage');
    }
  });

  it('lint reports conditions that do not fit the field type', async () => {
    const dir = await scratch({
      'typed.json': {
        tenant_id: 'acme',
        environment: 'staging',
        workflow_access: { mode: 'open' },
        policies: [
          {
            name: 'p',
            type: 'context_aware',
            category: 'dynamic-security',
            priority: 1,
            conditions: [
              { field: 'context.model', operator: 'greater_than', value: 5 },
              { field: 'context.cost_usd', operator: 'equals', value: '5' },
              { field: 'step.gate_count', operator: 'in', value: [1, '2'] },
              { field: 'step_input.anything', operator: 'greater_than', value: 5 },
              { field: 'context.cost_usd', operator: 'greater_than', value: 5 },
            ],
            actions: [{ type: 'block', config: { reason: 'r' } }],
          },
        ],
      },
    });
    const r = await cli(['lint', '--bundle', 'typed.json'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'policies[0].conditions[0]: context.model is a string; "greater_than" needs a number field',
    );
    expect(r.stderr).toContain('policies[0].conditions[1].value');
    expect(r.stderr).toContain('policies[0].conditions[2].value');
    expect(r.stderr).toContain('3 problems');
  });
});

describe('ReplayTally', () => {
  const draft = compileBundle(
    JSON.parse(JSON.stringify({ tenant_id: 'acme', environment: 'staging', workflow_access: { mode: 'open' } })),
  );
  const row = (decision: RecordedInput['decision'], i: number): RecordedInput => ({
    tenant_id: 'acme',
    request_id: `r-${i}`,
    decided_at: new Date(0),
    workflow_id: 'wf',
    agent_id: null,
    policy_version: 1,
    policy_sha256: 'x',
    decision,
    policies_matched: decision === 'allow' ? [] : ['old'],
    input: { step: { workflow_id: 'wf', step_id: `s-${i}`, step_type: 'llm_call' }, tenant_id: 'acme', now: 0 },
    redacted_paths: [],
  });

  it('counts changes by kind, matches before and after, and keeps only the first examples', () => {
    const tally = new ReplayTally(draft);
    for (let i = 0; i < 20; i++) tally.add(row(i < 12 ? 'block' : 'allow', i));
    const r = tally.report;
    expect([r.decisions, r.changed]).toEqual([20, 12]);
    expect(r.changes).toEqual({ 'block -> allow': 12 });
    expect(r.policy_matches).toEqual({ before: { old: 12 }, after: {} });
    expect(r.examples['block -> allow']).toHaveLength(5);
  });

  it('a recorded input the engine cannot read is a block (fail closed), counted like any other', () => {
    const tally = new ReplayTally(draft);
    tally.add({ ...row('allow', 0), input: { garbage: true } });
    expect(tally.report.changes).toEqual({ 'allow -> block': 1 });
  });
});
