import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateDecision } from '@stepgate/contracts';
import { Relay, testNamespace } from '@stepgate/test';
import { startEvaluator, tap } from '../pipeline.js';
import { openGateFixture, type GateFixture } from '../gate-fixture.js';

const ns = testNamespace('evaluator-outage');
let stack: GateFixture;
let relay: Relay;
let relayedUrl: string;

beforeAll(async () => {
  const url = new URL(ns.endpoints.databaseUrl);
  relay = new Relay({ host: url.hostname, port: Number(url.port || 5432) });
  await relay.open();
  url.port = String(relay.port);
  relayedUrl = url.toString();
  stack = await openGateFixture(ns, {
    tenant: 'acme',
    bundles: [{ tenant_id: 'acme', environment: 'staging', workflow_access: { mode: 'open' } }],
    evaluator: { instance: 'relayed', overrides: { databaseUrl: url.toString() } },
  });
});

afterAll(async () => {
  await stack?.close();
});

describe('when Postgres is unreachable', () => {
  it('the evaluator publishes nothing it could not record, and answers every request once Postgres is back', async () => {
    expect((await stack.gate.gate({ workflow_id: 'wf-0', step_id: 's', step_type: 'llm_call' })).decision).toBe(
      'allow',
    );

    await relay.cut();
    const wire = await tap(ns, [ns.topics['gate.decisions']]);
    const before = wire.seen.length;
    const pending = Array.from({ length: 5 }, (_, i) =>
      stack.gate.gate({ workflow_id: `wf-out-${i}`, step_id: 's', step_type: 'llm_call' }, { timeoutMs: 60_000 }),
    );
    // The scenario, not a synchronisation: Postgres stays unreachable for 4 s while the requests wait,
    // and nothing may be published in that window.
    await new Promise((r) => setTimeout(r, 4_000));
    const during = wire
      .json<GateDecision>(ns.topics['gate.decisions'])
      .slice(before)
      .filter((d) => d.workflow_id?.startsWith('wf-out-'));
    expect(during).toEqual([]);

    await relay.open();
    const decisions = await Promise.all(pending);
    await wire.stop();
    expect(decisions.map((d) => d.decision)).toEqual(['allow', 'allow', 'allow', 'allow', 'allow']);
    const { rows } = await ns.pool.query<{ n: string }>(
      "select count(*) as n from step_ledger where workflow_id like 'wf-out-%'",
    );
    expect(rows[0]!.n).toBe('5');
  }, 90_000);
});

describe('when the connection is lost during a decide transaction', () => {
  it('after COMMIT was sent: the evaluator survives, settles that backend before deciding again, and the request is decided once', async () => {
    // The batch's write waits on this lock (its read does not), so the transaction is in flight with
    // its COMMIT sent when the connection is cut.
    const blocker = await ns.pool.connect();
    await blocker.query('begin');
    await blocker.query('lock table gate_decisions in share mode');
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await blocker.query('commit');
      blocker.release();
    };
    try {
      const pending = stack.gate.gate(
        { workflow_id: 'wf-lost-commit', step_id: 's', step_type: 'llm_call' },
        { timeoutMs: 60_000 },
      );
      const waiting = async () =>
        (
          await ns.pool.query<{ pid: number }>(
            "select pid from pg_locks where not granted and relation = 'gate_decisions'::regclass",
          )
        ).rows.map((r) => r.pid);
      await expect.poll(waiting, { timeout: 20_000 }).toHaveLength(1);
      const [cutOff] = await waiting();
      await relay.cut();
      await relay.open();
      // The lock is still held, so the cut-off backend cannot have committed or ended by itself: only
      // the evaluator ending it (before it decides the batch again) makes it go within 6 s. Left alone,
      // it would go after the decide connections' 10 s statement_timeout.
      await expect
        .poll(async () => (await ns.pool.query('select 1 from pg_stat_activity where pid = $1', [cutOff])).rowCount, {
          timeout: 6_000,
        })
        .toBe(0);
      await release();
      expect((await pending).decision).toBe('allow');
    } finally {
      await release();
    }
    const { rows } = await ns.pool.query<{ gate_count: number }>(
      "select gate_count from step_ledger where workflow_id = 'wf-lost-commit'",
    );
    expect(rows).toEqual([{ gate_count: 1 }]);
  }, 90_000);
});

// Last: it stops the fixture's evaluator.
describe('stopping an evaluator while Postgres is unreachable', () => {
  it('the instance holding a batch stops within seconds (its wait for Postgres gives up), and another decides the request once, when Postgres is back', async () => {
    expect(
      (await stack.gate.gate({ workflow_id: 'wf-before-stop', step_id: 's', step_type: 'llm_call' })).decision,
    ).toBe('allow');
    await relay.cut();
    const pending = stack.gate.gate(
      { workflow_id: 'wf-held', step_id: 's', step_type: 'llm_call' },
      { timeoutMs: 90_000 },
    );
    // The scenario, not a synchronisation: the request's batch meets Postgres unreachable and is held.
    await new Promise((r) => setTimeout(r, 3_000));
    const stopping = performance.now();
    await stack.evaluator.stop();
    // Before, a stop waited for the held batch, which waited for Postgres: for as long as the outage.
    expect(performance.now() - stopping).toBeLessThan(15_000);

    await relay.open();
    const next = startEvaluator(ns, stack.evaluatorKey, 'next', { databaseUrl: relayedUrl });
    await next.start();
    try {
      const decision = await pending;
      expect(decision.decision).toBe('allow');
      const { rows } = await ns.pool.query<{ n: number }>(
        "select count(*)::int as n from step_ledger where workflow_id = 'wf-held'",
      );
      expect(rows[0]!.n).toBe(1);
    } finally {
      await next.stop();
    }
  }, 150_000);
});
