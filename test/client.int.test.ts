import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GateClient, RefusedLocallyError, GateTimeoutError } from '@stepgate/client';
import { MAX_VALUE_BYTES, refusalDecision, type DecisionBody } from '@stepgate/contracts';
import { privateKeyFromPem, signDecision } from '@stepgate/contracts/node';
import { testNamespace } from '@stepgate/test';
import { clientOptions, registerPrincipal, tap, withTopicConfig, type Principal } from './pipeline.js';
import { openGateFixture, type GateFixture } from './gate-fixture.js';

const ns = testNamespace('gate-client');
const TENANT = 'acme';
let stack: GateFixture;

beforeAll(async () => {
  stack = await openGateFixture(ns, {
    tenant: TENANT,
    bundles: [
      {
        tenant_id: TENANT,
        environment: 'staging',
        workflow_access: { mode: 'allowlist', allowed_workflows: ['wf'] },
        policies: [],
      },
    ],
  });
});

afterAll(async () => {
  await stack?.close();
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

    const decision = await stack.gate.gate({ workflow_id: 'wf', step_id: `s-${randomUUID()}`, step_type: 'llm_call' });
    expect(decision.decision).toBe('allow');
    await expect.poll(() => stack.gate.stats.undecodable, { timeout: 20_000 }).toBe(partitions.length * garbage.length);
  });
});

/** Gates a step whose input is `blobBytes` long; what it failed with, and how long that took. */
async function gateFailure(blobBytes: number): Promise<{ failure: unknown; ms: number }> {
  const started = Date.now();
  const failure = await stack.gate
    .gate(
      {
        workflow_id: 'wf',
        step_id: `s-${randomUUID()}`,
        step_type: 'llm_call',
        step_input: { blob: 'x'.repeat(blobBytes) },
      },
      { timeoutMs: 1_500 },
    )
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  return { failure, ms: Date.now() - started };
}

describe('GateClient when a request cannot be answered or is refused by the broker', () => {
  it('a request over the evaluator’s 256 KiB is not sent: RefusedLocallyError (INVALID_REQUEST) at once, no wait behind', async () => {
    const { failure, ms } = await gateFailure(MAX_VALUE_BYTES);
    expect(failure).toBeInstanceOf(RefusedLocallyError);
    expect(failure).toMatchObject({ code: 'INVALID_REQUEST', path: '(root)' });
    expect(ms).toBeLessThan(1_500);
  });

  it('rejects a gate the broker refuses at once with the broker’s error, leaves no wait behind, and gates the next one', async () => {
    // Under the evaluator's cap, over this topic's (lowered for the test): sent, and refused by the broker.
    await withTopicConfig(ns, ns.topics['gate.requests'], { 'max.message.bytes': '65536' }, async () => {
      const { failure, ms } = await gateFailure(128 * 1024);
      expect(failure).toBeInstanceOf(Error);
      expect(failure).not.toBeInstanceOf(GateTimeoutError);
      expect(failure).not.toBeInstanceOf(RefusedLocallyError);
      expect(ms).toBeLessThan(1_500);
    });
    // Past the refused gate's timeout: its wait was ended, so no timer rejects with nobody listening.
    await new Promise((r) => setTimeout(r, 2_000));
    const next = await stack.gate.gate({ workflow_id: 'wf', step_id: `s-${randomUUID()}`, step_type: 'llm_call' });
    expect(next.decision).toBe('allow');
  });
});

describe('GateClient against answers it did not get from an evaluator', () => {
  // A namespace no evaluator reads: the test answers the requests itself, signed with the receipt key.
  const quiet = testNamespace('gate-client-quiet');
  let orchestrator: Principal;
  let receiptKey: Principal;
  let tenantClient: GateClient;
  let requests: Awaited<ReturnType<typeof tap>>;
  let answered = 0;

  beforeAll(async () => {
    await quiet.migrate();
    await quiet.createTopics();
    requests = await tap(quiet, [quiet.topics['gate.requests']]);
    receiptKey = await registerPrincipal(quiet, 'stepgate', 'evaluator');
    orchestrator = await registerPrincipal(quiet, TENANT, 'orchestrator');
    tenantClient = new GateClient({
      ...clientOptions(quiet, orchestrator, receiptKey),
      tenantId: TENANT,
      decisionTopic: 'shared',
    });
    await tenantClient.connect();
  });

  afterAll(async () => {
    await tenantClient?.disconnect();
    await requests?.stop();
    await quiet.cleanup();
  });

  /** The next request the client sends, and a decision body that answers it. */
  async function answerNextRequest(): Promise<{ body: DecisionBody; publish: (v: unknown) => Promise<void> }> {
    const request = await requests.until(() => requests.seen[answered]);
    answered++;
    const parsed = JSON.parse(request.value!.toString()) as {
      request_id: string;
      workflow_id: string;
      step_id: string;
    };
    const body: DecisionBody = {
      ...refusalDecision({
        request_id: parsed.request_id,
        request_sha256: createHash('sha256').update(request.value!).digest('hex'),
        tenant_id: TENANT,
        workflow_id: parsed.workflow_id,
        step_id: parsed.step_id,
        code: 'ENGINE_ERROR',
        message: 'unused',
        now: Date.now(),
      }),
      decision: 'allow',
      reason: 'answered by the test',
    };
    delete body.error;
    return {
      body,
      publish: async (v) => {
        const producer = quiet.kafka.producer();
        await producer.connect();
        await producer.send({
          topic: quiet.topics['gate.decisions'],
          messages: [{ key: parsed.workflow_id, value: JSON.stringify(v) }],
        });
        await producer.disconnect();
      },
    };
  }

  it('verifies a receipt over the record as sent: a field this client does not know still verifies', async () => {
    const gated = tenantClient.gate({ workflow_id: 'wf', step_id: `s-${randomUUID()}`, step_type: 'llm_call' });
    const { body, publish } = await answerNextRequest();
    const signer = { keyId: receiptKey.keyId, key: privateKeyFromPem(receiptKey.privateKeyPem) };
    await publish(signDecision({ ...body, field_of_a_newer_evaluator: { x: 1 } } as DecisionBody, signer));
    await expect(gated).resolves.toMatchObject({ decision: 'allow', reason: 'answered by the test' });
  });

  it("ignores a properly signed decision for its request that names another tenant, and takes its own tenant's", async () => {
    const before = tenantClient.stats.refused;
    const gated = tenantClient.gate({ workflow_id: 'wf', step_id: `s-${randomUUID()}`, step_type: 'llm_call' });
    const { body, publish } = await answerNextRequest();
    const signer = { keyId: receiptKey.keyId, key: privateKeyFromPem(receiptKey.privateKeyPem) };
    await publish(signDecision({ ...body, tenant_id: 'globex', reason: 'another tenant' }, signer));
    await expect.poll(() => tenantClient.stats.refused).toBe(before + 1);
    await publish(signDecision(body, signer));
    await expect(gated).resolves.toMatchObject({ tenant_id: TENANT, reason: 'answered by the test' });
  });
});
