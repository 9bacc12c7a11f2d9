import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@stepgate/contracts';
import { testNamespace } from '@stepgate/test';
import {
  applyBundle,
  client,
  registerPrincipal,
  signedHeaders,
  startEvaluator,
  tap,
  type Principal,
} from '../pipeline.js';
import type { GateClient } from '@stepgate/client';
import type { Evaluator } from '@stepgate/evaluator';

const ns = testNamespace('completions');
const TENANT = 'acme';
let orchestrator: Principal;
let evaluator: Evaluator;
let gate: GateClient;
let wire: Awaited<ReturnType<typeof tap>>;

beforeAll(async () => {
  await ns.migrate();
  await ns.createTopics();
  const evaluatorKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
  orchestrator = await registerPrincipal(ns, TENANT, 'orchestrator');
  await applyBundle(ns, { tenant_id: TENANT, environment: 'staging', workflow_access: { mode: 'open' }, policies: [] });
  evaluator = startEvaluator(ns, evaluatorKey);
  await evaluator.start();
  gate = client(ns, orchestrator, evaluatorKey);
  await gate.connect();
  wire = await tap(ns, [ns.topics.audit]);
});

afterAll(async () => {
  await wire?.stop();
  await gate?.disconnect();
  await evaluator?.stop();
  await ns.cleanup();
});

describe('step completions', () => {
  it('a redelivered completion (same completion_id) counts once', async () => {
    expect(await gate.gate({ workflow_id: 'wf-c', step_id: 's1', step_type: 'llm_call' })).toMatchObject({
      decision: 'allow',
    });

    const completion = {
      workflow_id: 'wf-c',
      step_id: 's1',
      completion_id: randomUUID(),
      completed_at: new Date().toISOString(),
      output: { rows: 1 },
    };
    const value = Buffer.from(JSON.stringify(completion));
    const producer = ns.kafka.producer();
    await producer.connect();
    for (let i = 0; i < 3; i++)
      await producer.send({
        topic: ns.topics['step.completions'],
        messages: [{ key: 'wf-c', value, headers: signedHeaders(orchestrator, value) }],
      });
    await producer.disconnect();

    await wire.until(() => {
      const done = wire.json<AuditEvent>(ns.topics.audit).filter((a) => a.action === 'StepCompleted');
      return done.length >= 3 ? done : undefined;
    });
    const { rows } = await ns.pool.query(
      'select completion_count, prior_output_available from step_ledger where tenant_id = $1 and workflow_id = $2',
      [TENANT, 'wf-c'],
    );
    expect(rows).toEqual([{ completion_count: 1, prior_output_available: true }]);
  });
});
