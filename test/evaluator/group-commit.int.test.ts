import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateDecision } from '@stepgate/contracts';
import { publicKeyFromPem, verifyReceipt } from '@stepgate/contracts/node';
import { testNamespace } from '@stepgate/test';
import { refusingTrigger, signedHeaders } from '../pipeline.js';
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
    evaluator: { overrides: { gatesPerTransaction: 8 } },
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

/** Sends the bodies in one produce request: one record batch, fetched whole as one batch of one run. */
async function sendTogether(bodies: object[]) {
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
}

async function decisionsOf(prefix: string, count: number) {
  return stack.wire.until(() => {
    const ds = stack.wire.json<GateDecision>(ns.topics['gate.decisions']).filter((d) => d.step_id?.startsWith(prefix));
    return ds.length === count ? ds : undefined;
  });
}

/** How many transactions wrote the decisions of these requests (rows of one transaction share its xmin). */
async function transactionsOf(requestIds: string[]): Promise<number> {
  const { rows } = await ns.pool.query<{ transactions: number }>(
    'select count(distinct xmin::text)::int as transactions from gate_decisions where tenant_id = $1 and request_id = any($2)',
    [TENANT, requestIds],
  );
  return rows[0]!.transactions;
}

describe('a batch larger than gatesPerTransaction', () => {
  it('is decided in transactions of at most that many, in order, each request once', async () => {
    const allows = Array.from({ length: 14 }, (_, i) => request(`split-a${i}`));
    const first = request('split-x', 'gpt-4');
    const retry = request('split-x', 'gpt-4');
    // Eight per transaction: [a0..a6, first] [first again, a7..a13] [retry].
    const bodies = [...allows.slice(0, 7), first, first, ...allows.slice(7), retry];
    await sendTogether(bodies);
    const decisions = await decisionsOf('split-', bodies.length);
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
    expect(await transactionsOf([...allows, first, retry].map((b) => b.request_id))).toBe(3);
    const ledger = await ns.pool.query('select gate_count from step_ledger where tenant_id = $1 and step_id = $2', [
      TENANT,
      'split-x',
    ]);
    expect(ledger.rows).toEqual([{ gate_count: 2 }]);
  });
});

describe('a transaction that fails while Postgres answers', () => {
  it('is split in halves down to the request at fault, which alone is blocked (ENGINE_ERROR): a few transactions, not one per request', async () => {
    const trigger = await refusingTrigger(ns, {
      name: 'refuse_split_poison',
      table: 'step_ledger',
      when: "new.step_id = 'halves-poison'",
      message: 'poison row refused',
    });
    try {
      const bodies = Array.from({ length: 8 }, (_, i) => request(i === 5 ? 'halves-poison' : `halves-${i}`));
      await sendTogether(bodies);
      const decisions = await decisionsOf('halves-', bodies.length);
      const poison = decisions.find((d) => d.step_id === 'halves-poison');
      expect(poison).toMatchObject({ decision: 'block', error: { code: 'ENGINE_ERROR' } });
      expect(decisions.filter((d) => d.decision === 'allow')).toHaveLength(7);
      // [0-7] fails; [0-3] commits; [4-7] fails; [4,5] fails; [4] commits; [5] is blocked; [6,7] commits.
      const good = bodies.filter((b) => b.step_id !== 'halves-poison').map((b) => b.request_id);
      expect(await transactionsOf(good)).toBe(3);
    } finally {
      await trigger.drop();
    }
  });
});
