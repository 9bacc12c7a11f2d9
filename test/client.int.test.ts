import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateClient } from '@stepgate/client';
import type { Evaluator } from '@stepgate/evaluator';
import { testNamespace } from '@stepgate/test';
import { applyBundle, client, registerPrincipal, startEvaluator, type Principal } from './pipeline.js';

const ns = testNamespace('gate-client');
const TENANT = 'acme';
let evaluatorKey: Principal;
let evaluator: Evaluator;
let gate: GateClient;

beforeAll(async () => {
  await ns.migrate();
  await ns.createTopics();
  evaluatorKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
  const orchestrator = await registerPrincipal(ns, TENANT, 'orchestrator');
  await applyBundle(ns, {
    tenant_id: TENANT,
    environment: 'staging',
    workflow_access: { mode: 'allowlist', allowed_workflows: ['wf'] },
    policies: [],
  });
  evaluator = startEvaluator(ns, evaluatorKey);
  await evaluator.start();
  gate = client(ns, orchestrator, evaluatorKey);
  await gate.connect();
});

afterAll(async () => {
  await gate?.disconnect();
  await evaluator?.stop();
  await ns.cleanup();
});

describe('GateClient on real Kafka', () => {
  it('skips and counts records on gate.decisions that are not decisions; a gate on the same partitions still resolves', async () => {
    const metadata = await ns.withAdmin((a) => a.fetchTopicMetadata({ topics: [ns.topics['gate.decisions']] }));
    const partitions = metadata.topics[0]!.partitions.map((p) => p.partitionId);
    const garbage = [
      'not json',
      Buffer.from([0xff, 0xfe, 0x00, 0x1b]),
      '['.repeat(100_000) + ']'.repeat(100_000),
      JSON.stringify({ request_id: 'r', decision: 'allow' }),
      '',
    ];
    const producer = ns.kafka.producer();
    await producer.connect();
    for (const partition of partitions)
      await producer.send({
        topic: ns.topics['gate.decisions'],
        messages: garbage.map((value) => ({ partition, key: 'x', value })),
      });
    await producer.disconnect();

    const decision = await gate.gate({ workflow_id: 'wf', step_id: `s-${randomUUID()}`, step_type: 'llm_call' });
    expect(decision.decision).toBe('allow');
    await expect.poll(() => gate.stats.undecodable, { timeout: 20_000 }).toBe(partitions.length * garbage.length);
  });
});
