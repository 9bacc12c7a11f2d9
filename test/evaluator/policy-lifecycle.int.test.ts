import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
import type { GateClient } from '@stepgate/client';
import type { Evaluator } from '@stepgate/evaluator';
import { AuditService } from '@stepgate/audit';
import type { ApprovalRequest, AuditEvent, GateDecision } from '@stepgate/contracts';
// The CLI's own test harness (test code: shared, not published).
import { adminCli } from '../../packages/cli/test/admin-harness.js';
import { auditConfig, client, registerPrincipal, startEvaluator, tap, type Principal } from '../pipeline.js';

const ns = testNamespace('policy-lifecycle');
const admin = adminCli(ns, 'lifecycle');
let evaluatorKey: Principal;
let gate: GateClient;
let evaluator: Evaluator;
let audit: AuditService;
let taps: Awaited<ReturnType<typeof tap>>;

const toolPolicy = (name: string, tool: string, action: 'block' | 'require_approval', priority: number) => ({
  name,
  type: 'context_aware',
  category: 'dynamic-security',
  priority,
  conditions: [{ field: 'context.tool_name', operator: 'equals', value: tool }],
  actions: [{ type: action, config: { reason: `${tool} is ${action === 'block' ? 'not allowed' : 'reviewed'}` } }],
});
const base = { tenant_id: 'acme', environment: 'staging', workflow_access: { mode: 'open' } };
const v1 = {
  ...base,
  policies: [toolPolicy('approve-shell', 'shell', 'require_approval', 500), toolPolicy('block-rm', 'rm', 'block', 900)],
};
/** Blocks more: search is blocked too. */
const stricter = { ...v1, policies: [...v1.policies, toolPolicy('block-search', 'search', 'block', 800)] };
/** Blocks less: rm is no longer blocked. */
const looser = { ...v1, policies: [v1.policies[0]] };
/** Reads a field the evaluator records only as a keyed hash. */
const readsSecret = {
  ...v1,
  policies: [
    {
      ...toolPolicy('secret-check', 'x', 'block', 100),
      conditions: [{ field: 'step_input.api_key', operator: 'equals', value: 'sk-live-1' }],
    },
  ],
};

async function writeBundle(name: string, doc: unknown): Promise<string> {
  await writeFile(path.join(admin.dir, name), JSON.stringify(doc));
  return name;
}
async function cliOk(args: string[]): Promise<string> {
  const r = await admin.cli(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}
const toolGate = (tool: string, workflow = `wf-${tool}`) =>
  gate.gate({
    workflow_id: workflow,
    step_id: `s-${randomUUID()}`,
    step_type: 'tool_call',
    tool_context: { tool_name: tool, tool_input: {} },
  });

beforeAll(async () => {
  await admin.setUp();
  evaluatorKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
  const acme = await registerPrincipal(ns, 'acme', 'acme-orchestrator');
  taps = await tap(ns, [ns.topics.approvals]);
  audit = new AuditService(auditConfig(ns));
  await audit.start();
  evaluator = startEvaluator(ns, evaluatorKey, 'a', { bundleMaxAgeMs: 600_000 });
  await evaluator.start();
  gate = client(ns, acme, evaluatorKey);
  await gate.connect();
  await cliOk(['apply', '--bundle', await writeBundle('v1.json', v1), '--as', 'alice']);
});

afterAll(async () => {
  await gate?.disconnect();
  await taps?.stop();
  await evaluator?.stop();
  await audit?.stop();
  await ns.cleanup();
});

describe('policy lifecycle (real Kafka, Postgres and audit service)', () => {
  let recorded: GateDecision[] = [];
  let windowEnd = '';

  it('names the bundle version in decisions, approval requests and audit rows', async () => {
    const history = JSON.parse(await cliOk(['policies', 'history', '--tenant', 'acme', '--json'])) as Array<{
      version: number;
      sha256: string;
    }>;
    expect(history.map((h) => h.version)).toEqual([1]);
    const v1Sha = history[0]!.sha256;

    recorded = [
      ...(await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          gate.gate({ workflow_id: `wf-llm-${i}`, step_id: 's', step_type: 'llm_call' }),
        ),
      )),
      ...(await Promise.all([0, 1, 2].map((i) => toolGate('search', `wf-search-${i}`)))),
      ...(await Promise.all([0, 1].map((i) => toolGate('shell', `wf-shell-${i}`)))),
      ...(await Promise.all([0, 1].map((i) => toolGate('rm', `wf-rm-${i}`)))),
    ];
    expect(recorded.map((d) => d.decision)).toEqual([
      ...Array(9).fill('allow'),
      'require_approval',
      'require_approval',
      'block',
      'block',
    ]);
    for (const d of recorded) expect(d.policy_version).toEqual({ version: 1, sha256: v1Sha });

    const approvals = await taps.until(() => {
      const got = taps.json<ApprovalRequest>(ns.topics.approvals).filter((a) => a.type === 'approval.requested');
      return got.length === 2 ? got : undefined;
    });
    for (const a of approvals) expect(a.policy_version).toEqual({ version: 1, sha256: v1Sha });

    await expect
      .poll(
        async () =>
          (
            await ns.pool.query<{ n: number }>(
              `select count(*)::int as n from audit_log where action = 'GateEvaluated' and (event->'policy_version'->>'version')::int = 1 and event->'policy_version'->>'sha256' = $1`,
              [v1Sha],
            )
          ).rows[0]!.n,
        { timeout: 20_000 },
      )
      .toBe(13);
    windowEnd = new Date(Date.now() + 1).toISOString();
  });

  it('replays the recorded window against a draft that blocks more and one that blocks less', async () => {
    const replay = async (file: string, extra: string[] = []) =>
      JSON.parse(
        await cliOk(['replay', '--tenant', 'acme', '--bundle', file, '--to', windowEnd, '--format', 'json', ...extra]),
      ) as {
        decisions: number;
        changed: number;
        changes: Record<string, number>;
        policy_matches: { before: Record<string, number>; after: Record<string, number> };
        examples: Record<string, Array<{ request_id: string }>>;
        depends_on_redacted: number;
      };

    const more = await replay(await writeBundle('stricter.json', stricter));
    expect(more.decisions).toBe(13);
    expect(more.changed).toBe(3);
    expect(more.changes).toEqual({ 'allow -> block': 3 });
    expect(more.policy_matches.before).toEqual({ 'approve-shell': 2, 'block-rm': 2 });
    expect(more.policy_matches.after).toEqual({ 'approve-shell': 2, 'block-rm': 2, 'block-search': 3 });
    const searchIds = recorded.slice(6, 9).map((d) => d.request_id);
    expect(more.examples['allow -> block']!.map((e) => e.request_id).sort()).toEqual([...searchIds].sort());

    const less = await replay(await writeBundle('looser.json', looser));
    expect(less.decisions).toBe(13);
    expect(less.changed).toBe(2);
    expect(less.changes).toEqual({ 'block -> allow': 2 });
    expect(less.policy_matches.after).toEqual({ 'approve-shell': 2 });

    const oneWorkflow = await replay('stricter.json', ['--workflow', 'WF-SEARCH-1']);
    expect([oneWorkflow.decisions, oneWorkflow.changed]).toEqual([1, 1]);

    const refused = await admin.cli(['replay', '--tenant', 'other', '--bundle', 'stricter.json']);
    expect(refused.code).toBe(2);
    const badFormat = await admin.cli(['replay', '--tenant', 'acme', '--bundle', 'stricter.json', '--format', 'xml']);
    expect(badFormat.code).toBe(2);
  });

  it('records redacted fields as keyed hashes and flags replays that depend on them', async () => {
    const secret = await gate.gate({
      workflow_id: 'wf-secret',
      step_id: 's',
      step_type: 'llm_call',
      step_input: { api_key: 'sk-live-1', prompt: 'hello' },
    });
    const { rows } = await ns.pool.query<{
      input: { step: { step_input: Record<string, unknown> } };
      redacted_paths: string[];
    }>('select input, redacted_paths from gate_inputs where request_id = $1', [secret.request_id]);
    expect(rows[0]!.redacted_paths).toEqual(['step.step_input.api_key']);
    expect(rows[0]!.input.step.step_input.prompt).toBe('hello');
    expect(JSON.stringify(rows[0]!.input)).not.toContain('sk-live-1');
    expect(rows[0]!.input.step.step_input.api_key).toEqual({
      $redacted: expect.stringMatching(/^hmac-sha256:[0-9a-f]{64}$/),
    });

    const flagged = JSON.parse(
      await cliOk([
        'replay',
        '--tenant',
        'acme',
        '--bundle',
        await writeBundle('secret.json', readsSecret),
        '--workflow',
        'wf-secret',
        '--format',
        'json',
      ]),
    ) as { decisions: number; depends_on_redacted: number };
    expect([flagged.decisions, flagged.depends_on_redacted]).toEqual([1, 1]);
  });

  it('explains a real decision: every policy, each condition with the value seen, who decided and by which rule', async () => {
    const shell = recorded[9]!;
    const out = JSON.parse(await cliOk(['explain', shell.request_id, '--tenant', 'acme', '--json'])) as {
      recorded_decision: string;
      decision: string;
      deciding_policy: string;
      precedence: string;
      policy_version: { version: number };
      policies: Array<{
        policy_name: string;
        matched: boolean;
        conditions: Array<{ field: string; operator: string; expected: unknown; seen: unknown; held: boolean }>;
      }>;
    };
    expect([out.recorded_decision, out.decision, out.deciding_policy]).toEqual([
      'require_approval',
      'require_approval',
      'approve-shell',
    ]);
    expect(out.policy_version.version).toBe(1);
    expect(out.precedence).toContain('require_approval');
    const byName = Object.fromEntries(out.policies.map((p) => [p.policy_name, p]));
    expect(byName['approve-shell']!.conditions).toEqual([
      { field: 'context.tool_name', operator: 'equals', expected: 'shell', seen: 'shell', held: true },
    ]);
    expect(byName['block-rm']!.matched).toBe(false);
    expect(byName['block-rm']!.conditions[0]).toMatchObject({ expected: 'rm', seen: 'shell', held: false });

    const text = await cliOk(['explain', shell.request_id, '--tenant', 'acme']);
    expect(text).toContain('approve-shell');
    const unknown = await admin.cli(['explain', randomUUID(), '--tenant', 'acme']);
    expect(unknown.code).toBe(2);
    const otherTenant = await admin.cli(['explain', shell.request_id, '--tenant', 'globex']);
    expect(otherTenant.code).toBe(2);
    expect((await admin.cli(['explain', 'not-a-uuid', '--tenant', 'acme'])).code).toBe(2);
  });

  it('shows history, diffs two versions field by field, and rolls back as a new, audited version', async () => {
    await cliOk(['apply', '--bundle', 'stricter.json', '--as', 'bob']);
    const diff = JSON.parse(await cliOk(['policies', 'diff', '1', '2', '--tenant', 'acme', '--json'])) as {
      policies: Array<{ key: string; change: string }>;
      same: boolean;
    };
    expect(diff.same).toBe(false);
    expect(diff.policies.map((p) => [p.key, p.change])).toEqual([['block-search', 'added']]);
    expect(await cliOk(['policies', 'diff', '2', '1', '--tenant', 'acme'])).toContain(
      '- policy block-search (removed)',
    );
    expect(JSON.parse(await cliOk(['policies', 'show', '--tenant', 'acme', '--version', '2']))).toEqual(stricter);
    expect((await toolGate('search')).decision).toBe('block');

    expect(await cliOk(['policies', 'rollback', '--tenant', 'acme', '--to', '1', '--as', 'carol'])).toContain(
      'version 3',
    );
    const history = JSON.parse(await cliOk(['policies', 'history', '--tenant', 'acme', '--json'])) as Array<{
      version: number;
      sha256: string;
      applied_by: string;
    }>;
    expect(history.map((h) => [h.version, h.applied_by])).toEqual([
      [3, 'carol'],
      [2, 'bob'],
      [1, 'alice'],
    ]);
    expect(history[0]!.sha256).toBe(history[2]!.sha256);
    await expect.poll(async () => (await toolGate('search')).decision).toBe('allow');
    expect((await toolGate('search')).policy_version?.version).toBe(3);

    await expect
      .poll(
        async () => {
          const { rows } = await ns.pool.query<{ event: AuditEvent }>(
            `select event from audit_log where action = 'PolicyBundleRolledBack'`,
          );
          return rows.map((r) => r.event.detail);
        },
        { timeout: 20_000 },
      )
      .toEqual([expect.objectContaining({ version: 3, rolled_back_to: 1, previous_version: 2, actor: 'carol' })]);

    expect((await admin.cli(['policies', 'rollback', '--tenant', 'acme', '--to', '9'])).code).toBe(2);
    expect((await admin.cli(['policies', 'show', '--tenant', 'acme', '--version', '-1'])).code).toBe(2);
  });

  it('shadow: divergences are counted and audited while live decisions stay as the active bundle says; promote and drop', async () => {
    expect(await cliOk(['apply', '--shadow', '--bundle', 'stricter.json', '--as', 'dana'])).toContain('shadow');
    await expect.poll(async () => (await toolGate('search')).policy_version?.version).toBe(3);
    const divergencesBefore = await divergences();
    const live = await Promise.all([0, 1, 2, 3].map((i) => toolGate('search', `wf-shadow-${i}`)));
    expect(live.map((d) => d.decision)).toEqual(['allow', 'allow', 'allow', 'allow']);
    // Gates the shadow agrees with are not divergences.
    expect((await gate.gate({ workflow_id: 'wf-shadow-llm', step_id: 's', step_type: 'llm_call' })).decision).toBe(
      'allow',
    );
    expect((await divergences()) - divergencesBefore).toBeGreaterThanOrEqual(4);

    await expect
      .poll(
        async () => {
          const { rows } = await ns.pool.query<{ n: number }>(
            `select count(*)::int as n from audit_log where action = 'ShadowDivergence' and event->'detail'->>'shadow_decision' = 'block'`,
          );
          return rows[0]!.n;
        },
        { timeout: 20_000 },
      )
      .toBeGreaterThanOrEqual(4);

    const report = JSON.parse(await cliOk(['shadow', 'report', '--tenant', 'acme', '--format', 'json'])) as {
      decisions: number;
      changes: Record<string, number>;
    };
    expect(report.changes['allow -> block']).toBe(report.decisions - 1);
    expect(report.decisions).toBeGreaterThanOrEqual(5);

    expect(await cliOk(['shadow', 'promote', '--tenant', 'acme', '--as', 'dana'])).toContain('version 4');
    await expect.poll(async () => (await toolGate('search')).decision).toBe('block');
    expect((await toolGate('search')).policy_version?.version).toBe(4);
    expect((await admin.cli(['shadow', 'drop', '--tenant', 'acme'])).code).toBe(1);
    expect((await admin.cli(['shadow', 'report', '--tenant', 'acme'])).code).toBe(2);
  });
});

async function divergences(): Promise<number> {
  const { values } = await evaluator.metrics.shadowDivergences.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}
