import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@stepgate/contracts';
import { testNamespace } from '@stepgate/test';
import { signedHeaders } from '../pipeline.js';
import { openGateFixture, type GateFixture } from '../gate-fixture.js';

const ns = testNamespace('completions');
const TENANT = 'acme';
let stack: GateFixture;

beforeAll(async () => {
  stack = await openGateFixture(ns, {
    tenant: TENANT,
    bundles: [{ tenant_id: TENANT, environment: 'staging', workflow_access: { mode: 'open' }, policies: [] }],
    tap: ['audit'],
  });
});

afterAll(async () => {
  await stack?.close();
});

describe('step completions', () => {
  it('a redelivered completion (same completion_id) counts once', async () => {
    expect(await stack.gate.gate({ workflow_id: 'wf-c', step_id: 's1', step_type: 'llm_call' })).toMatchObject({
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
        messages: [{ key: 'wf-c', value, headers: signedHeaders(stack.orchestrator, value) }],
      });
    await producer.disconnect();

    await stack.wire.until(() => {
      const done = stack.wire.json<AuditEvent>(ns.topics.audit).filter((a) => a.action === 'StepCompleted');
      return done.length >= 3 ? done : undefined;
    });
    const { rows } = await ns.pool.query(
      'select completion_count, prior_output_available from step_ledger where tenant_id = $1 and workflow_id = $2',
      [TENANT, 'wf-c'],
    );
    expect(rows).toEqual([{ completion_count: 1, prior_output_available: true }]);
  });
});
