import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
import type { AuditEvent } from '@stepgate/contracts';
// The CLI's own test harness (test code: shared, not published).
import { adminCli } from '../../packages/cli/test/admin-harness.js';
import { applyBundle, client, registerPrincipal, startEvaluator } from '../pipeline.js';
import { openEvaluatorPair, type EvaluatorPair } from './evaluator-pair.js';

const ns = testNamespace('kill-switch');
const admin = adminCli(ns, 'killswitch');
let pair: EvaluatorPair;

const open = { tenant_id: 'acme', environment: 'staging', workflow_access: { mode: 'open' }, policies: [] };
/** 12 workflows: the 12 partitions of gate.requests, so both evaluators take some of them. */
const WORKFLOWS = Array.from({ length: 12 }, (_, i) => `wf-${i}`);
const gateAll = (agent: string) =>
  Promise.all(
    WORKFLOWS.map((workflow_id) =>
      pair.gate.gate({ workflow_id, step_id: `s-${randomUUID()}`, step_type: 'llm_call', agent_id: agent }),
    ),
  );

beforeAll(async () => {
  await admin.setUp();
  // Bundles cached far longer than the test: only the pushed notice can explain a kill switch taking effect.
  pair = await openEvaluatorPair(ns, { bundle: open, overrides: { bundleMaxAgeMs: 600_000 } });
});

afterAll(async () => {
  await pair?.close();
  await ns.cleanup();
});

describe('kill switch (real Kafka and Postgres, two evaluators)', () => {
  it('blocks the next gates of the agent on both evaluators within about a second; other agents are unaffected; release lets them through', async () => {
    expect(new Set((await gateAll('rogue')).map((d) => d.decision))).toEqual(new Set(['allow']));

    const engage = await admin.cli([
      'killswitch',
      'engage',
      '--tenant',
      'acme',
      '--agent',
      'rogue',
      '--reason',
      'loops on deploys',
      '--as',
      'oncall',
    ]);
    expect(engage.code, engage.stderr).toBe(0);
    const engagedAt = Date.now();
    await expect
      .poll(async () => (await gateAll('rogue')).every((d) => d.error?.code === 'KILL_SWITCH'), {
        timeout: 10_000,
        interval: 100,
      })
      .toBe(true);
    expect(Date.now() - engagedAt).toBeLessThan(3_000);
    const blocked = await gateAll('rogue');
    for (const d of blocked) {
      expect(d.decision).toBe('block');
      expect(d.reason).toContain('loops on deploys');
      expect(d.reason).toContain('oncall');
    }
    // Both evaluators took part (their partitions' gates were blocked on each).
    for (const e of pair.evaluators) {
      const { values } = await e.metrics.decisions.get();
      expect(values.some((v) => v.labels.error_code === 'KILL_SWITCH' && v.value > 0)).toBe(true);
    }
    expect(new Set((await gateAll('helper')).map((d) => d.decision))).toEqual(new Set(['allow']));

    const list = await admin.cli(['killswitch', 'list', '--tenant', 'acme', '--json']);
    const engaged = JSON.parse(list.stdout) as Array<{ agent_id: string; reason: string }>;
    expect(engaged.map((s) => [s.agent_id, s.reason])).toEqual([['rogue', 'loops on deploys']]);

    // Audited (a config change): the audit event waits in the outbox, relayed to `audit`.
    const { rows } = await ns.pool.query<{ value: string }>(`select value from outbox where topic = 'audit'`);
    const audited = rows.map((r) => JSON.parse(r.value) as AuditEvent).filter((e) => e.action === 'KillSwitchEngaged');
    expect(audited).toHaveLength(1);
    expect(audited[0]!.detail).toMatchObject({ agent_id: 'rogue', reason: 'loops on deploys', actor: 'oncall' });

    expect((await admin.cli(['killswitch', 'release', '--tenant', 'acme', '--agent', 'rogue'])).code).toBe(0);
    await expect
      .poll(async () => (await gateAll('rogue')).every((d) => d.decision === 'allow'), {
        timeout: 10_000,
        interval: 100,
      })
      .toBe(true);
    expect(JSON.parse((await admin.cli(['killswitch', 'list', '--tenant', 'acme', '--json'])).stdout)).toEqual([]);
  });

  it('a tool-scoped switch blocks only that tool; a release of another scope releases nothing', async () => {
    expect(
      (await admin.cli(['killswitch', 'engage', '--tenant', 'acme', '--tool', 'shell', '--reason', 'rm -rf seen']))
        .code,
    ).toBe(0);
    const toolGate = (tool: string) =>
      pair.gate.gate({
        workflow_id: 'wf-tools',
        step_id: `s-${randomUUID()}`,
        step_type: 'tool_call',
        tool_context: { tool_name: tool, tool_input: {} },
      });
    await expect
      .poll(async () => (await toolGate('shell')).error?.code, { timeout: 10_000, interval: 100 })
      .toBe('KILL_SWITCH');
    expect((await toolGate('search')).decision).toBe('allow');
    const wrongScope = await admin.cli(['killswitch', 'release', '--tenant', 'acme', '--tool', 'search']);
    expect(wrongScope.code).toBe(1);
    expect((await toolGate('shell')).error?.code).toBe('KILL_SWITCH');
    expect((await admin.cli(['killswitch', 'release', '--tenant', 'acme', '--tool', 'shell'])).code).toBe(0);
  });

  it('is refused without a reason or for a tenant that does not exist', async () => {
    const noReason = await admin.cli(['killswitch', 'engage', '--tenant', 'acme', '--agent', 'x', '--reason', ' ']);
    expect(noReason.code).toBe(2);
    const tooLong = await admin.cli(['killswitch', 'engage', '--tenant', 'acme', '--reason', 'x'.repeat(1001)]);
    expect(tooLong.code).toBe(2);
    expect((await admin.cli(['killswitch', 'release', '--tenant', 'acme', '--id', "1' or '1'='1"])).code).toBe(2);
    const unknown = await admin.cli(['killswitch', 'engage', '--tenant', 'nobody', '--reason', 'why not']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no such tenant');
  });

  it('is honoured by an evaluator started after it was engaged (read from Postgres, not from the notice)', async () => {
    await Promise.all(pair.evaluators.splice(0).map((e) => e.stop()));
    expect(
      (await admin.cli(['killswitch', 'engage', '--tenant', 'acme', '--workflow', 'WF-3', '--reason', 'frozen'])).code,
    ).toBe(0);
    const restarted = startEvaluator(ns, pair.evaluatorKey, 'c', { bundleMaxAgeMs: 600_000 });
    pair.evaluators.push(restarted);
    await restarted.start();
    const frozen = await pair.gate.gate({ workflow_id: 'wf-3', step_id: `s-${randomUUID()}`, step_type: 'llm_call' });
    expect(frozen.error?.code).toBe('KILL_SWITCH');
    expect(frozen.reason).toContain('frozen');
    const other = await pair.gate.gate({ workflow_id: 'wf-4', step_id: `s-${randomUUID()}`, step_type: 'llm_call' });
    expect(other.decision).toBe('allow');
  });

  it('fails closed: when the switches cannot be read, the gate is blocked, not allowed', async () => {
    const beta = await registerPrincipal(ns, 'beta', 'beta-orchestrator');
    await applyBundle(ns, { ...open, tenant_id: 'beta' });
    const betaGate = client(ns, beta, pair.evaluatorKey);
    await betaGate.connect();
    await ns.pool.query('alter table kill_switches rename to kill_switches_unreadable');
    try {
      const d = await betaGate.gate({ workflow_id: 'wf-beta', step_id: `s-${randomUUID()}`, step_type: 'llm_call' });
      expect(d.decision).toBe('block');
      expect(d.error?.code).toBe('ENGINE_ERROR');
    } finally {
      await ns.pool.query('alter table kill_switches_unreadable rename to kill_switches');
      await betaGate.disconnect();
    }
  });
});
