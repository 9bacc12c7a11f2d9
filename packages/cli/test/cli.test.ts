import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, REPO, scratch } from './run-cli.js';

const BUNDLE = 'examples/acme/bundle.json';
const REQUEST = 'examples/acme/request.json';

describe('stepgate eval', () => {
  it('prints the decision JSON and exits 0', async () => {
    const r = await cli(['eval', '--bundle', BUNDLE, '--request', REQUEST, '--now', '2026-11-18T10:30:00Z']);
    expect(r.code).toBe(0);
    const decision = JSON.parse(r.stdout) as {
      decision: string;
      reason: string;
      policies_matched: { policy_name: string }[];
      evaluated_at: string;
    };
    expect(decision.decision).toBe('block');
    expect(decision.policies_matched.map((p) => p.policy_name)).toEqual(['block-dangerous-sql']);
    expect(decision.evaluated_at).toBe('2026-11-18T10:30:00.000Z');
  });

  it('reads usage counters from --usage', async () => {
    const dir = await scratch({
      'req.json': {
        tenant_id: 'acme',
        workflow_id: 'release-pipeline',
        step_id: 's',
        step_type: 'tool_call',
        agent_id: 'bot',
        tool_context: { tool_name: 'web_search' },
      },
      'usage.json': { '["rate-limit","tool-call-rate",["bot"],60,1794997800]': 30 },
    });
    const r = await cli(
      [
        'eval',
        '--bundle',
        path.join(REPO, BUNDLE),
        '--request',
        'req.json',
        '--usage',
        'usage.json',
        '--now',
        '2026-11-18T10:30:00Z',
      ],
      dir,
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ decision: 'block', reason: expect.stringContaining('rate limit') });
  });

  it('an invalid bundle: the validation errors on stderr, exit 2', async () => {
    const dir = await scratch({
      'bad.json': {
        tenant_id: 'acme',
        environment: 'production',
        workflow_access: { mode: 'open' },
        policies: [{ name: 'x' }],
      },
    });
    const r = await cli(['eval', '--bundle', 'bad.json', '--request', path.join(REPO, REQUEST)], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('workflow_access.mode: mode "open" is refused in production');
    expect(r.stderr).toContain('policies[0].type');
  });

  it("an invalid request, a tenant that is not the bundle's, unreadable files and bad --now: exit 2 with the reason", async () => {
    const dir = await scratch({
      'bad-req.json': { tenant_id: 'acme', workflow_id: 'w', step_type: 'teleport' },
      'other-tenant.json': {
        tenant_id: 'globex',
        workflow_id: 'release-pipeline',
        step_id: 's',
        step_type: 'llm_call',
      },
      'broken.json': '{ not json',
    });
    const bundle = path.join(REPO, BUNDLE);
    const badReq = await cli(['eval', '--bundle', bundle, '--request', 'bad-req.json'], dir);
    expect(badReq.code).toBe(2);
    expect(badReq.stderr).toContain('step_id');
    expect(badReq.stderr).toContain('step_type');
    const spoof = await cli(['eval', '--bundle', bundle, '--request', 'other-tenant.json'], dir);
    expect(spoof.code).toBe(2);
    expect(spoof.stderr).toContain('is not the bundle\'s tenant "acme"');
    expect((await cli(['eval', '--bundle', bundle, '--request', 'broken.json'], dir)).stderr).toContain(
      'not valid JSON',
    );
    expect((await cli(['eval', '--bundle', bundle, '--request', 'missing.json'], dir)).stderr).toContain(
      'cannot read (ENOENT)',
    );
    expect(
      (await cli(['eval', '--bundle', bundle, '--request', path.join(REPO, REQUEST), '--now', 'yesterday'], dir)).code,
    ).toBe(2);
    expect((await cli(['eval', '--bundle', bundle], dir)).code).toBe(2);
  });
});

describe('stepgate lint', () => {
  it('reports a valid bundle', async () => {
    const r = await cli(['lint', '--bundle', BUNDLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok — tenant acme (production)');
  });

  it('reports every problem at once, YAML too', async () => {
    const dir = await scratch({
      'bundle.yaml': [
        'tenant_id: acme',
        'environment: development',
        'workflow_access: { mode: open }',
        'policies:',
        '  - { name: a, type: context_aware, category: dynamic-x, priority: 1, conditions: [{ field: prompt.text, operator: contains, value: x }], actions: [{ type: block }] }',
        '  - { name: b, type: context_aware, category: security, priority: 1, conditions: [{ field: context.model, operator: regex, value: "(" }], actions: [{ type: block }] }',
      ].join('\n'),
    });
    const r = await cli(['lint', '--bundle', 'bundle.yaml'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policies[0].conditions[0].field');
    expect(r.stderr).toContain('policies[1].category');
    expect(r.stderr).toContain('policies[1].conditions[0].value');
    expect(r.stderr).toContain('3 problems');
  });
});

describe('stepgate test', () => {
  it('runs the example policy tests with an N passed, N failed summary', async () => {
    const r = await cli(['test', 'examples/acme/tests']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^9 passed, 0 failed$/m);
  });

  it('reports failing cases with what differed, and exits 1', async () => {
    const dir = await scratch({
      'bundle.json': { tenant_id: 'acme', environment: 'development', workflow_access: { mode: 'open' } },
      'cases/a.test.json': {
        bundle: '../bundle.json',
        now: '2026-11-18T10:30:00Z',
        cases: [
          {
            name: 'allowed',
            request: { tenant_id: 'acme', workflow_id: 'w', step_id: 's', step_type: 'llm_call' },
            expect: { decision: 'allow' },
          },
          {
            name: 'wrongly expects block',
            request: { tenant_id: 'acme', workflow_id: 'w', step_id: 's', step_type: 'llm_call' },
            expect: { decision: 'block' },
          },
        ],
      },
    });
    const r = await cli(['test', '.'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL cases/a.test.json › wrongly expects block');
    expect(r.stdout).toContain('decision: expected block, got allow');
    expect(r.stdout).toMatch(/^1 passed, 1 failed$/m);
  });
});

describe('the stepgate binary', () => {
  it('exits 2 with the errors on stderr when the process is run for real', () => {
    const p = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'packages/cli/src/main.ts', 'lint', '--bundle', 'package.json'],
      { cwd: REPO, encoding: 'utf8' },
    );
    expect(p.status).toBe(2);
    expect(p.stderr).toContain('tenant_id');
    // A fresh Node loading TypeScript through tsx takes seconds on a busy two-core host.
  }, 30_000);
});

describe('stepgate settings', () => {
  it('a bad variable stops a service command before it connects, naming the variable (exit 2)', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { TEMPORAL_ADDRESS: 'no port here', KAFKA_BROKERS: 'a:1,,b' });
    try {
      const r = await cli(['approvals', 'list']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('TEMPORAL_ADDRESS: expected host:port');
    } finally {
      process.env = saved;
    }
  });
});
