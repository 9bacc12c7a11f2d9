import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicsFor, type DecisionBody } from '@stepgate/contracts';
import { testNamespace } from '@stepgate/test';
import {
  OutboxRelay,
  StepLedgerRepository,
  ReplyToPrefixOverlapError,
  UnknownTenantError,
  storeOn,
  withTransaction,
  type RelayedMessage,
} from '../src/index.js';

const ns = testNamespace('store');
const topics = topicsFor('p.');

beforeAll(() => ns.migrate());
afterAll(() => ns.cleanup());

async function gatedStep(tenant: string, workflow: string, step: string): Promise<void> {
  await ns.pool.query(
    `insert into step_ledger (tenant_id, workflow_id, step_id, input_fingerprint, decision, decision_body, first_attempt_at, last_attempt_at)
     values ($1, $2, $3, 'f', 'allow', '{}', now(), now())`,
    [tenant, workflow, step],
  );
}

const completionCount = async (tenant: string, workflow: string, step: string) =>
  (
    await ns.pool.query<{ completion_count: number; prior_output_available: boolean }>(
      'select completion_count, prior_output_available from step_ledger where tenant_id = $1 and workflow_id = $2 and step_id = $3',
      [tenant, workflow, step],
    )
  ).rows[0];

describe('completions', () => {
  it('count once per completion_id, however often (and however concurrently) one is delivered', async () => {
    await gatedStep('acme', 'wf', 's1');
    const ledger = new StepLedgerRepository(ns.pool);
    const completion = { tenantId: 'acme', workflowId: 'wf', stepId: 's1', completionId: randomUUID() };
    expect(await ledger.recordCompletion({ ...completion, outputAvailable: false })).toBe('counted');
    const again = await Promise.all(
      Array.from({ length: 4 }, () => ledger.recordCompletion({ ...completion, outputAvailable: true })),
    );
    expect(again).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate']);
    expect(await completionCount('acme', 'wf', 's1')).toEqual({ completion_count: 1, prior_output_available: false });

    // Another completion of the step (a retried step that ran again) counts.
    expect(await ledger.recordCompletion({ ...completion, completionId: randomUUID(), outputAvailable: true })).toBe(
      'counted',
    );
    expect(await completionCount('acme', 'wf', 's1')).toEqual({ completion_count: 2, prior_output_available: true });
    // The same completion id in another tenant is another completion.
    await gatedStep('globex', 'wf', 's1');
    expect(await ledger.recordCompletion({ ...completion, tenantId: 'globex', outputAvailable: false })).toBe(
      'counted',
    );
  });

  it('of an unknown step are reported, not recorded (a later gate of that step is counted normally)', async () => {
    const ledger = new StepLedgerRepository(ns.pool);
    const completion = { tenantId: 'acme', workflowId: 'wf', stepId: 'later', completionId: randomUUID() };
    expect(await ledger.recordCompletion({ ...completion, outputAvailable: false })).toBe('unknown_step');
    await gatedStep('acme', 'wf', 'later');
    expect(await ledger.recordCompletion({ ...completion, outputAvailable: false })).toBe('counted');
  });
});

describe('approval outcomes', () => {
  it('are recorded once under their decision id, per tenant: a second record answers the first', async () => {
    const ledger = new StepLedgerRepository(ns.pool);
    const decisionId = randomUUID();
    const ref = { tenantId: 'acme', workflowId: 'wf', stepId: 's1', approvalId: randomUUID(), decisionId };
    const body = (decision: 'allow' | 'block') => ({ decision_id: decisionId, decision }) as unknown as DecisionBody;
    const first = { decision: body('allow'), killSwitch: { switchId: randomUUID(), message: 'kill switch engaged' } };
    expect(await ledger.appliedOutcome({ tenantId: 'acme', decisionId })).toBeUndefined();
    expect(await ledger.recordAppliedOutcome({ ...ref, outcome: first })).toEqual(first);
    const again = await ledger.recordAppliedOutcome({ ...ref, outcome: { decision: body('block'), killSwitch: null } });
    expect(again).toEqual(first);
    expect(await ledger.appliedOutcome({ tenantId: 'acme', decisionId })).toEqual(first);
    expect(await ledger.appliedOutcome({ tenantId: 'globex', decisionId })).toBeUndefined();
  });
});

describe('retention', () => {
  it('deletes ended usage windows, old decisions and completion ids, and sent outbox rows; nothing else', async () => {
    const now = Math.floor(Date.now() / 1000);
    const windowKey = (kind: string, window: number, start: number) => `${kind}:p:alice|deploy:${window}:${start}`;
    const ended = [windowKey('rate-limit', 60, now - 7200), windowKey('budget', 3600, now - 3 * 3600)];
    const kept = [
      windowKey('rate-limit', 60, now - 30), // current window
      windowKey('budget', 86400, now - 3600), // a day's window, begun an hour ago
      windowKey('rate-limit', 60, now - 60 * 30), // ended 29 min ago: within the grace period
      'delegation-spend:d-1', // no window: delegation spend is for the delegation's life
      'rate-limit:odd', // not a key the engine makes: left alone
    ];
    for (const key of [...ended, ...kept])
      await ns.pool.query("insert into usage_counters (tenant_id, key, value) values ('ret', $1, 1)", [key]);

    const oldRequest = randomUUID();
    const newRequest = randomUUID();
    await ns.pool.query(
      `insert into gate_decisions (tenant_id, request_id, decision, decided_at) values
       ('ret', $1, '{}', now() - interval '2 days'), ('ret', $2, '{}', now() - interval '1 hour')`,
      [oldRequest, newRequest],
    );
    const oldCompletion = randomUUID();
    const newCompletion = randomUUID();
    await ns.pool.query(
      `insert into applied_completions (tenant_id, completion_id, workflow_id, step_id, applied_at) values
       ('ret', $1, 'wf', 's', now() - interval '2 days'), ('ret', $2, 'wf', 's', now() - interval '1 hour')`,
      [oldCompletion, newCompletion],
    );
    await ns.pool.query(
      `insert into outbox (topic, key, value, sent_at) values
       ('audit', 'ret', 'old', now() - interval '8 days'), ('audit', 'ret', 'recent', now() - interval '1 day'),
       ('audit', 'ret', 'unsent-old', null)`,
    );
    await ns.pool.query("update outbox set created_at = now() - interval '30 days' where value = 'unsent-old'");

    const store = storeOn(ns.pool);
    const day = new Date(Date.now() - 86_400_000);
    expect(await store.ledger.pruneUsageCounters({ endedBefore: new Date(Date.now() - 3_600_000) })).toBe(2);
    expect(await store.ledger.pruneGateDecisions({ decidedBefore: day })).toBe(1);
    expect(await store.ledger.pruneAppliedCompletions({ appliedBefore: day })).toBe(1);
    expect(await store.outbox.pruneSent({ sentBefore: new Date(Date.now() - 7 * 86_400_000) })).toBe(1);

    const left = async (sql: string) => (await ns.pool.query<{ v: string }>(sql)).rows.map((r) => r.v).sort();
    expect(await left("select key as v from usage_counters where tenant_id = 'ret'")).toEqual([...kept].sort());
    expect(await left("select request_id::text as v from gate_decisions where tenant_id = 'ret'")).toEqual([
      newRequest,
    ]);
    expect(await left("select completion_id::text as v from applied_completions where tenant_id = 'ret'")).toEqual([
      newCompletion,
    ]);
    expect(await left("select value as v from outbox where key = 'ret'")).toEqual(['recent', 'unsent-old']);
    await ns.pool.query("delete from outbox where key = 'ret'");
  });
});

describe('the outbox relay', () => {
  it('publishes each row once, in order per topic and key, with relays running concurrently', async () => {
    // 60 changes, each writing a notice and an audit event in its own transaction, over 3 keys.
    for (let i = 0; i < 60; i++)
      await withTransaction(ns.pool, (db) =>
        storeOn(db).outbox.enqueue([
          { topic: 'policies', key: `t${i % 3}`, value: { n: i } },
          { topic: 'audit', key: `t${i % 3}`, value: { n: i }, headers: { h: String(i) } },
        ]),
      );
    const published: RelayedMessage[] = [];
    const publish = async (messages: RelayedMessage[]) => {
      await new Promise((r) => setTimeout(r, Math.random() * 20));
      published.push(...messages);
    };
    const relays = Array.from({ length: 3 }, () => new OutboxRelay({ pool: ns.pool, topics, publish, batchSize: 7 }));
    await Promise.all(relays.map((r) => r.drain()));
    await Promise.all(relays.map((r) => r.drain())); // rows deferred behind another relay's claim

    expect(published).toHaveLength(120);
    expect(new Set(published.map((m) => `${m.topic}/${m.value}`)).size).toBe(120);
    for (const topic of [topics.policies, topics.audit])
      for (const key of ['t0', 't1', 't2']) {
        const ns_ = published
          .filter((m) => m.topic === topic && m.key === key)
          .map((m) => (JSON.parse(m.value) as { n: number }).n);
        expect(ns_).toEqual([...ns_].sort((a, b) => a - b));
        expect(ns_).toHaveLength(20);
      }
    expect(published.find((m) => m.topic === topics.audit && m.value === '{"n":5}')?.headers).toEqual({ h: '5' });
    expect(await storeOn(ns.pool).outbox.unsentCount()).toBe(0);
  });

  it('leaves rows unsent when publishing fails, and sends them on the next round', async () => {
    await storeOn(ns.pool).outbox.enqueue([{ topic: 'audit', key: 'x', value: 'v' }]);
    const failing = new OutboxRelay({
      pool: ns.pool,
      topics,
      publish: () => Promise.reject(new Error('broker unreachable')),
    });
    await expect(failing.relayOnce()).rejects.toThrow('broker unreachable');
    expect(await storeOn(ns.pool).outbox.unsentCount()).toBe(1);
    const sent: RelayedMessage[] = [];
    const ok = new OutboxRelay({ pool: ns.pool, topics, publish: async (m) => void sent.push(...m) });
    expect(await ok.drain()).toBe(1);
    expect(sent).toEqual([{ topic: 'p.audit', key: 'x', value: 'v', headers: {} }]);
  });
});

describe('tenants and thresholds', () => {
  it('refuse a change for an unknown tenant with a typed error', async () => {
    const store = storeOn(ns.pool);
    await expect(store.tenants.update({ tenantId: 'nobody', displayName: 'x' })).rejects.toBeInstanceOf(
      UnknownTenantError,
    );
    await expect(
      store.alertThresholds.set({ tenantId: 'nobody', rule: 'block_spike', threshold: 3, windowSeconds: 60 }),
    ).rejects.toBeInstanceOf(UnknownTenantError);
  });

  it('two tenants given overlapping reply_to prefixes at the same time: the second change waits for the first and is refused', async () => {
    const store = storeOn(ns.pool);
    await store.tenants.ensure('north');
    await store.tenants.ensure('south');
    let commitFirst!: () => void;
    const firstHolds = new Promise<void>((r) => (commitFirst = r));
    let firstChecked!: () => void;
    const checked = new Promise<void>((r) => (firstChecked = r));
    const first = withTransaction(ns.pool, async (tx) => {
      await storeOn(tx).tenants.update({
        tenantId: 'north',
        replyToNamespaces: ['default'],
        replyToWorkflowPrefixes: ['shared-'],
      });
      firstChecked();
      await firstHolds;
    });
    await checked;
    const second = withTransaction(ns.pool, (tx) =>
      storeOn(tx).tenants.update({
        tenantId: 'south',
        replyToNamespaces: ['default'],
        replyToWorkflowPrefixes: ['shared-south-'],
      }),
    );
    let secondSettled = false;
    void second.then(
      () => (secondSettled = true),
      () => (secondSettled = true),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(secondSettled).toBe(false);
    commitFirst();
    await first;
    await expect(second).rejects.toBeInstanceOf(ReplyToPrefixOverlapError);
  });
});
