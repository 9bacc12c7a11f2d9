import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateDecision } from '@stepgate/contracts';
import { publicKeyFromPem, verifyReceipt } from '@stepgate/contracts/node';
import { testNamespace } from '@stepgate/test';
import { signedHeaders } from '../pipeline.js';
import { BLOCK_GPT4, openGateFixture, type GateFixture } from '../gate-fixture.js';

// A group commit larger than the evaluator's gatesPerTransaction is written in several transactions,
// in order: a duplicate and a retry in a later transaction than their first request see it committed.
const ns = testNamespace('group-commit');
const TENANT = 'acme';
const bundle = {
  tenant_id: TENANT,
  environment: 'staging',
  workflow_access: { mode: 'allowlist', allowed_workflows: ['wf-split'] },
  policies: [BLOCK_GPT4],
};

let stack: GateFixture;

beforeAll(async () => {
  stack = await openGateFixture(ns, {
    tenant: TENANT,
    bundles: [bundle],
    evaluator: { overrides: { gatesPerTransaction: 2 } },
    tap: ['gate.decisions'],
  });
});

afterAll(async () => {
  await stack?.close();
});

const request = (stepId: string, model = 'claude') => ({
  request_id: randomUUID(),
  requested_at: new Date().toISOString(),
  workflow_id: 'wf-split',
  step_id: stepId,
  step_type: 'llm_call' as const,
  model,
});

describe('a batch larger than gatesPerTransaction', () => {
  it('is decided in transactions of at most that many, in order, each request once', async () => {
    const allows = ['a1', 'a2', 'a3', 'a4'].map((s) => request(`split-${s}`));
    const first = request('split-x', 'gpt-4');
    const retry = request('split-x', 'gpt-4');
    // One produce request: one record batch, fetched whole as one batch of one run (nothing else is sent).
    // Two per transaction: [a1, first] [first again, a2] [retry, a3] [a4].
    const bodies = [allows[0]!, first, first, allows[1]!, retry, allows[2]!, allows[3]!];
    const producer = ns.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: ns.topics['gate.requests'],
      messages: bodies.map((body) => {
        const value = Buffer.from(JSON.stringify(body));
        return { key: 'wf-split', value, headers: signedHeaders(stack.orchestrator, value) };
      }),
    });
    await producer.disconnect();
    const decisions = await stack.wire.until(() => {
      const ds = stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .filter((d) => d.step_id?.startsWith('split-'));
      return ds.length === bodies.length ? ds : undefined;
    });
    const byRequest = (id: string) => decisions.filter((d) => d.request_id === id);
    const evaluatorKey = publicKeyFromPem(stack.evaluatorKey.publicKeyPem);
    expect(decisions.map((d) => verifyReceipt(d, evaluatorKey))).toEqual(bodies.map(() => true));
    for (const a of allows) expect(byRequest(a.request_id)).toMatchObject([{ decision: 'allow' }]);
    const [once, again] = byRequest(first.request_id);
    expect(once).toMatchObject({ decision: 'block', decision_source: 'fresh' });
    expect(again).toEqual(once);
    expect(byRequest(retry.request_id)).toMatchObject([
      { decision: 'block', decision_source: 'cached', retry_context: { gate_count: 2 } },
    ]);
    const ids = [...allows, first, retry].map((b) => b.request_id);
    const { rows } = await ns.pool.query<{ transactions: number }>(
      'select count(distinct xmin::text)::int as transactions from gate_decisions where tenant_id = $1 and request_id = any($2)',
      [TENANT, ids],
    );
    expect(rows[0]!.transactions).toBe(4);
    const ledger = await ns.pool.query('select gate_count from step_ledger where tenant_id = $1 and step_id = $2', [
      TENANT,
      'split-x',
    ]);
    expect(ledger.rows).toEqual([{ gate_count: 2 }]);
  });
});
