import { randomBytes, randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_REDACTED_KEYS,
  RECEIPT_KEYS_PATH,
  ReceiptKeySetSchema,
  type ApprovalRequest,
  type AuditEvent,
  type GateDecision,
} from '@stepgate/contracts';
import { generateSigningKey, publicKeyFromPem, verifyReceipt } from '@stepgate/contracts/node';
import { GateClient, ReceiptVerificationError } from '@stepgate/client';
import { freePort, groupCaughtUp, testNamespace } from '@stepgate/test';
import { applyBundle, whileRefusing, registerPrincipal, sendRaw, signedHeaders, type Principal } from '../pipeline.js';
import { BLOCK_GPT4, openGateFixture, type GateFixture } from '../gate-fixture.js';

// A real OpenTelemetry SDK with an in-memory exporter, registered before the evaluator starts.
const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));

const ns = testNamespace('gate-pipeline');
const TENANT = 'acme';
const bundle = {
  tenant_id: TENANT,
  environment: 'staging',
  workflow_access: {
    mode: 'allowlist',
    allowed_workflows: ['wf-allow', 'wf-retry', 'wf-approval', 'wf-terminal', 'wf-misc', 'wf-reload', 'wf-ask-again'],
  },
  tools: [
    { tool_name: 'deploy', access: 'write' },
    { tool_name: 'search', access: 'read' },
  ],
  policies: [BLOCK_GPT4],
};

/** How long this file's evaluator redoes batches Postgres refuses for its own reasons (10 s by default). */
const REDO_UNWRITABLE_MS = 6_000;

let stack: GateFixture;
let other: Principal;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  stack = await openGateFixture(ns, {
    tenant: TENANT,
    orchestrator: 'release-orchestrator',
    prepare: async () => {
      other = await registerPrincipal(ns, 'globex', 'globex-orchestrator');
    },
    bundles: [bundle],
    evaluator: {
      overrides: {
        redactKeys: [...DEFAULT_REDACTED_KEYS, 'iban'],
        metricsPort,
        redoUnwritableForMs: REDO_UNWRITABLE_MS,
      },
    },
    tap: ['gate.decisions', 'approvals', 'audit', 'dlq'],
  });
});

afterAll(async () => {
  await stack?.close();
});

const step = (overrides: Record<string, unknown> = {}) => ({
  workflow_id: 'wf-allow',
  step_id: `s-${randomUUID().slice(0, 8)}`,
  step_type: 'llm_call' as const,
  ...overrides,
});

/** Sends a crafted request and waits for the decision that answers its request_id. */
async function rawGate(
  body: Record<string, unknown>,
  headers: (value: Buffer) => Record<string, string>,
): Promise<GateDecision> {
  const value = Buffer.from(JSON.stringify(body));
  await sendRaw(ns, value, headers(value));
  return stack.wire.until(() =>
    stack.wire.json<GateDecision>(ns.topics['gate.decisions']).find((d) => d.request_id === body.request_id),
  );
}
const fresh = (overrides: Record<string, unknown> = {}) => ({
  request_id: randomUUID(),
  requested_at: new Date().toISOString(),
  ...step(),
  ...overrides,
});

/** Whether `pending` has settled after `ms`. */
async function settledWithin(pending: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  pending.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

describe('gate pipeline on real Kafka and Postgres', () => {
  it('allow, block and require_approval end to end, each with a verifiable signed receipt', async () => {
    const allowed = await stack.gate.gate(step({ model: 'claude' }));
    expect(allowed).toMatchObject({ decision: 'allow', tenant_id: TENANT, decision_source: 'fresh' });
    expect(verifyReceipt(allowed, publicKeyFromPem(stack.evaluatorKey.publicKeyPem))).toBe(true);
    expect(verifyReceipt({ ...allowed, decision: 'block' }, publicKeyFromPem(stack.evaluatorKey.publicKeyPem))).toBe(
      false,
    );

    const blocked = await stack.gate.gate(step({ model: 'gpt-4' }));
    expect(blocked.decision).toBe('block');
    expect(blocked.policies_matched.map((p) => p.policy_id)).toEqual(['block-gpt4']);
    expect(blocked.policies_evaluated.length).toBeGreaterThan(0);

    const ask = await stack.gate.gate(
      step({
        workflow_id: 'wf-approval',
        step_id: 'deploy-prod',
        step_type: 'tool_call',
        tool_context: { tool_name: 'deploy', tool_input: { token: 'hunter2', env: 'prod' } },
        user_id: 'dev-1',
      }),
    );
    expect(ask.decision).toBe('require_approval');
    expect(ask.approval_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(ask.approval_url).toBe(`https://portal.example/approvals/${ask.approval_id}`);
    const approval = await stack.wire.until(() =>
      stack.wire.json<ApprovalRequest>(ns.topics.approvals).find((a) => a.approval_id === ask.approval_id),
    );
    expect(approval).toMatchObject({
      tenant_id: TENANT,
      workflow_id: 'wf-approval',
      step_id: 'deploy-prod',
      requested_by: { principal: 'release-orchestrator', user_id: 'dev-1' },
    });
    expect(approval.inputs_summary).toContain('[REDACTED]');
    expect(approval.inputs_summary).not.toContain('hunter2');

    const audit = await stack.wire.until(() => {
      const rows = stack.wire.json<AuditEvent>(ns.topics.audit).filter((a) => a.action === 'GateEvaluated');
      return rows.length >= 3 ? rows : undefined;
    });
    expect(audit.map((a) => a.decision).sort()).toEqual(['allow', 'block', 'require_approval']);
  });

  it('clients verify receipts with the keys they are given: by key id during a rotation, and a wrong key rejects the gate', async () => {
    const retired = generateSigningKey();
    const withKeys = (keys: Record<string, string>) =>
      new GateClient({
        brokers: ns.endpoints.kafkaBrokers,
        keyId: stack.orchestrator.keyId,
        privateKeyPem: stack.orchestrator.privateKeyPem,
        evaluatorPublicKeys: keys,
        topicPrefix: ns.topicPrefix,
        timeoutMs: 20_000,
      });
    const rotating = withKeys({
      'retired-key': retired.publicKeyPem,
      [stack.evaluatorKey.keyId]: stack.evaluatorKey.publicKeyPem,
    });
    const stale = withKeys({ [stack.evaluatorKey.keyId]: retired.publicKeyPem });
    await Promise.all([rotating.connect(), stale.connect()]);
    try {
      await expect(rotating.gate(step())).resolves.toMatchObject({
        decision: 'allow',
        receipt: { key_id: stack.evaluatorKey.keyId },
      });
      // Its decision is ignored, not fatal; at the deadline the client says why nothing answered.
      const refused = await stale.gate(step(), { timeoutMs: 4_000 }).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ReceiptVerificationError);
      expect((refused as ReceiptVerificationError).decision.receipt.key_id).toBe(stack.evaluatorKey.keyId);
      expect(stale.stats.refused).toBe(1);
    } finally {
      await Promise.all([rotating.disconnect(), stale.disconnect()]);
    }
  });

  it('another step of a workflow with a pending approval gets APPROVAL_PENDING', async () => {
    const d = await stack.gate.gate(step({ workflow_id: 'wf-approval', step_id: 'after-deploy' }));
    expect(d).toMatchObject({ decision: 'block', error: { code: 'APPROVAL_PENDING' } });
  });

  it('a gate on an aborted workflow gets WORKFLOW_TERMINAL', async () => {
    await ns.pool.query(
      "insert into workflow_state (tenant_id, workflow_id, status, reason) values ($1, 'wf-terminal', 'aborted', 'approval rejected')",
      [TENANT],
    );
    const d = await stack.gate.gate(step({ workflow_id: 'wf-terminal' }));
    expect(d).toMatchObject({ decision: 'block', error: { code: 'WORKFLOW_TERMINAL' } });
    expect(d.reason).toContain('approval rejected');
  });

  it('idempotent retries return the stored decision; reevaluate evaluates again; changed input and keys are refused', async () => {
    const first = await stack.gate.gate(
      step({ workflow_id: 'wf-retry', step_id: 'r1', model: 'gpt-4', idempotency_key: 'idem-1' }),
    );
    expect(first.decision).toBe('block');
    const cached = await stack.gate.gate(
      step({ workflow_id: 'wf-retry', step_id: 'r1', model: 'gpt-4', idempotency_key: 'idem-1' }),
    );
    expect(cached).toMatchObject({ decision: 'block', decision_source: 'cached' });
    expect(cached.retry_context).toMatchObject({
      gate_count: 2,
      last_decision: 'block',
      prior_completion_status: 'gated_not_completed',
      idempotency_key: 'idem-1',
    });

    const changed = await stack.gate.gate(
      step({
        workflow_id: 'wf-retry',
        step_id: 'r1',
        model: 'gpt-4',
        idempotency_key: 'idem-1',
        step_input: { new: true },
      }),
    );
    expect(changed.error?.code).toBe('STEP_INPUT_MISMATCH');
    const otherKey = await stack.gate.gate(
      step({ workflow_id: 'wf-retry', step_id: 'r1', model: 'gpt-4', idempotency_key: 'idem-2' }),
    );
    expect(otherKey.error?.code).toBe('IDEMPOTENCY_KEY_MISMATCH');

    const again = await stack.gate.gate(
      step({
        workflow_id: 'wf-retry',
        step_id: 'r1',
        model: 'claude',
        retry_policy: 'reevaluate',
        idempotency_key: 'idem-1',
      }),
    );
    expect(again).toMatchObject({ decision: 'allow', decision_source: 'fresh' });
    expect(again.retry_context).toMatchObject({ gate_count: 3, last_decision: 'block' });

    await stack.gate.complete({ workflow_id: 'wf-retry', step_id: 'r1', output: { rows: 3 } });
    await stack.wire.until(() =>
      stack.wire.json<AuditEvent>(ns.topics.audit).find((a) => a.action === 'StepCompleted' && a.step_id === 'r1'),
    );
    const afterCompletion = await stack.gate.gate(
      step({ workflow_id: 'wf-retry', step_id: 'r1', model: 'claude', idempotency_key: 'idem-1' }),
    );
    expect(afterCompletion).toMatchObject({ decision: 'allow', decision_source: 'cached' });
    expect(afterCompletion.retry_context).toMatchObject({
      completion_count: 1,
      prior_completion_status: 'completed',
      prior_output_available: true,
      gate_count: 4,
    });
  });

  it('a redelivered request (same request_id) is answered with the same decision, not gated again', async () => {
    const body = fresh({ workflow_id: 'wf-misc', model: 'gpt-4' });
    const value = Buffer.from(JSON.stringify(body));
    await sendRaw(ns, value, signedHeaders(stack.orchestrator, value));
    await sendRaw(ns, value, signedHeaders(stack.orchestrator, value));
    const both = await stack.wire.until(() => {
      const ds = stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .filter((d) => d.request_id === body.request_id);
      return ds.length === 2 ? ds : undefined;
    });
    expect(both[0]!.decision_id).toBe(both[1]!.decision_id);
    const { rows } = await ns.pool.query('select gate_count from step_ledger where tenant_id = $1 and step_id = $2', [
      TENANT,
      body.step_id,
    ]);
    expect(rows[0]).toEqual({ gate_count: 1 });
  });

  it('a request delivered again after its decision was stored publishes its audit event (same id) and approval request again: a crash between commit and publish loses neither', async () => {
    const body = fresh({
      workflow_id: 'wf-ask-again',
      step_type: 'tool_call',
      tool_context: { tool_name: 'deploy', tool_input: { env: 'prod' } },
    });
    const value = Buffer.from(JSON.stringify(body));
    const decisionsOf = () =>
      stack.wire.json<GateDecision>(ns.topics['gate.decisions']).filter((d) => d.request_id === body.request_id);
    await sendRaw(ns, value, signedHeaders(stack.orchestrator, value));
    const [first] = await stack.wire.until(() => (decisionsOf().length === 1 ? decisionsOf() : undefined));
    expect(first!.decision).toBe('require_approval');
    // Delivered again in a later batch: answered from what was stored, as after a crash before publishing.
    // Signed by another principal of the tenant: the ask and the audit still name the first requester.
    const second = await registerPrincipal(ns, TENANT, 'second-orchestrator');
    await sendRaw(ns, value, signedHeaders(second, value));
    const both = await stack.wire.until(() => (decisionsOf().length === 2 ? decisionsOf() : undefined));
    expect(both[1]!.decision_id).toBe(first!.decision_id);
    const asks = await stack.wire.until(() => {
      const found = stack.wire
        .json<ApprovalRequest>(ns.topics.approvals)
        .filter((a) => a.approval_id === first!.approval_id);
      return found.length === 2 ? found : undefined;
    });
    expect(asks[1]).toEqual(asks[0]);
    expect(asks[0]).toMatchObject({
      decision_id: first!.decision_id,
      step_id: body.step_id,
      requested_by: { principal: 'release-orchestrator' },
    });
    const audits = await stack.wire.until(() => {
      const found = stack.wire
        .json<AuditEvent>(ns.topics.audit)
        .filter((a) => a.decision_id === first!.decision_id && a.action === 'GateEvaluated');
      return found.length === 2 ? found : undefined;
    });
    expect(audits[1]!.id).toBe(audits[0]!.id);
    expect(audits[1]!.timestamp).toBe(first!.decided_at);
    expect(audits.map((a) => a.detail.principal)).toEqual(['release-orchestrator', 'release-orchestrator']);
  });

  it('within one batch: a duplicate request and a retry of the same step see the earlier message', async () => {
    const first = fresh({ workflow_id: 'wf-misc', step_id: 'same-batch', model: 'gpt-4' });
    const retry = fresh({ workflow_id: 'wf-misc', step_id: 'same-batch', model: 'gpt-4' });
    const messages = [first, first, retry].map((body) => {
      const value = Buffer.from(JSON.stringify(body));
      return { key: 'wf-misc', value, headers: signedHeaders(stack.orchestrator, value) };
    });
    const producer = ns.kafka.producer();
    await producer.connect();
    await producer.send({ topic: ns.topics['gate.requests'], messages });
    await producer.disconnect();
    const got = await stack.wire.until(() => {
      const ds = stack.wire.json<GateDecision>(ns.topics['gate.decisions']).filter((d) => d.step_id === 'same-batch');
      return ds.length === 3 ? ds : undefined;
    });
    const [a, b, c] = got;
    expect(a!.decision_id).toBe(b!.decision_id);
    // The duplicate was answered before its first delivery's decision was signed: it carries the signature too.
    const evaluatorKey = publicKeyFromPem(stack.evaluatorKey.publicKeyPem);
    expect(got.map((d) => verifyReceipt(d, evaluatorKey))).toEqual([true, true, true]);
    expect(c).toMatchObject({
      request_id: retry.request_id,
      decision: 'block',
      decision_source: 'cached',
      retry_context: { gate_count: 2 },
    });
    const { rows } = await ns.pool.query('select gate_count from step_ledger where tenant_id = $1 and step_id = $2', [
      TENANT,
      'same-batch',
    ]);
    expect(rows[0]).toEqual({ gate_count: 2 });
  });

  it('authentication: bad signature, unknown key, missing headers and a revoked key are UNAUTHENTICATED', async () => {
    const badSig = await rawGate(fresh(), (v) => ({
      ...signedHeaders(stack.orchestrator, v),
      'stepgate-signature': signedHeaders(other, v)['stepgate-signature']!,
    }));
    // Not filed under the key's tenant: whoever sent it did not prove they hold the key.
    expect(badSig).toMatchObject({ decision: 'block', tenant_id: null, error: { code: 'UNAUTHENTICATED' } });
    const unknown = await rawGate(fresh(), (v) => ({
      ...signedHeaders(stack.orchestrator, v),
      'stepgate-key-id': 'key-nobody-00000000',
    }));
    expect(unknown).toMatchObject({
      tenant_id: null,
      error: { code: 'UNAUTHENTICATED', message: expect.stringContaining('unknown key id') },
    });
    const none = await rawGate(fresh(), () => ({}));
    expect(none.error?.code).toBe('UNAUTHENTICATED');

    const revoked = await registerPrincipal(ns, TENANT, 'old-bot');
    await ns.pool.query('update credentials set revoked_at = now() where key_id = $1', [revoked.keyId]);
    const r = await rawGate(fresh(), (v) => signedHeaders(revoked, v));
    expect(r.error).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('revoked') });
    const audit = await stack.wire.until(() =>
      stack.wire.json<AuditEvent>(ns.topics.audit).find((a) => a.detail.request_id === r.request_id),
    );
    expect(audit.action).toBe('AuthenticationFailed');
  });

  it("the tenant is the credential's: a differing tenant_id in the body is a spoof", async () => {
    const spoof = await rawGate(fresh({ tenant_id: 'globex' }), (v) => signedHeaders(stack.orchestrator, v));
    expect(spoof).toMatchObject({ decision: 'block', tenant_id: TENANT, error: { code: 'TENANT_MISMATCH' } });
    const audit = await stack.wire.until(() =>
      stack.wire.json<AuditEvent>(ns.topics.audit).find((a) => a.detail.request_id === spoof.request_id),
    );
    expect(audit).toMatchObject({
      action: 'AuthenticationFailed',
      error_code: 'TENANT_MISMATCH',
      detail: { claimed_tenant_id: 'globex' },
    });
    // A credential of another tenant gets that tenant's (absent) bundle, never acme's.
    const globex = await rawGate(fresh(), (v) => signedHeaders(other, v));
    expect(globex).toMatchObject({ tenant_id: 'globex', error: { code: 'NO_POLICY_BUNDLE' } });
  });

  it('a stored bundle that does not validate blocks every step with INVALID_POLICY_BUNDLE, and the worker goes on', async () => {
    const initech = await registerPrincipal(ns, 'initech', 'initech-orchestrator');
    await ns.pool.query(
      `insert into policy_bundles (tenant_id, version, bundle, sha256) values ('initech', 1, '{"tenant_id": "initech"}', 'x')`,
    );
    const d = await rawGate(fresh(), (v) => signedHeaders(initech, v));
    expect(d).toMatchObject({ decision: 'block', tenant_id: 'initech', error: { code: 'INVALID_POLICY_BUNDLE' } });
    expect(JSON.stringify(d.error?.details)).toContain('workflow_access');
    expect((await stack.gate.gate(step())).decision).toBe('allow');
  });

  it('audit summaries mask the configured keys besides the default ones', async () => {
    const d = await stack.gate.gate(
      step({ step_input: { iban: 'DE89370400440532013000', password: 'hunter2', amount: 12 } }),
    );
    const audit = await stack.wire.until(() =>
      stack.wire.json<AuditEvent>(ns.topics.audit).find((a) => a.decision_id === d.decision_id),
    );
    expect(audit.inputs_summary).toContain('iban: "[REDACTED]"');
    expect(audit.inputs_summary).toContain('password: "[REDACTED]"');
    expect(audit.inputs_summary).toContain('amount: 12');
    expect(audit.inputs_summary).not.toContain('DE89');
  });

  it('a NUL character anywhere in a request is refused by field, and the worker goes on', async () => {
    const d = await rawGate(fresh({ workflow_id: 'wf-allow\u0000x', step_input: { ok: 1 } }), (v) =>
      signedHeaders(stack.orchestrator, v),
    );
    expect(d).toMatchObject({ decision: 'block', error: { code: 'INVALID_REQUEST' } });
    expect(d.error?.message).toContain('workflow_id: contains a NUL character');
    const nested = await rawGate(fresh({ step_input: { notes: ['fine', 'bad\u0000'] } }), (v) =>
      signedHeaders(stack.orchestrator, v),
    );
    expect(nested.error?.message).toContain('step_input.notes[1]');
    expect((await stack.gate.gate(step())).decision).toBe('allow');
  });

  it('a request whose ledger write Postgres refuses is blocked (ENGINE_ERROR, fail closed, without echoing the database text) and the partition goes on', async () => {
    await whileRefusing(
      ns,
      {
        name: 'refuse_poison',
        table: 'step_ledger',
        when: "new.workflow_id = 'wf-poison'",
        message: 'poison row refused',
      },
      async () => {
        const [poisoned, fine] = await Promise.all([
          stack.gate.gate(step({ workflow_id: 'wf-poison' })),
          stack.gate.gate(step({ workflow_id: 'wf-poison', step_id: 'x' })),
        ]);
        for (const d of [poisoned, fine]) {
          expect(d).toMatchObject({ decision: 'block', error: { code: 'ENGINE_ERROR' } });
          // Postgres's own text is logged, never echoed to the orchestrator.
          expect(d.error?.message).toBe('the request could not be recorded');
        }
        expect((await stack.gate.gate(step())).decision).toBe('allow');
      },
    );
  });

  it('a request whose ledger write fails for the moment (a deadlock, 40P01) is not blocked: its batch is redone and it is decided once the failure passes', async () => {
    await whileRefusing(
      ns,
      {
        name: 'fail_for_now',
        table: 'step_ledger',
        when: "new.step_id = 'transient-step'",
        message: 'deadlock for now',
        errcode: '40P01',
      },
      async (trigger) => {
        const pending = stack.gate.gate(step({ workflow_id: 'wf-misc', step_id: 'transient-step' }));
        // Redone, not answered: no ENGINE_ERROR block while the failure lasts.
        expect(await settledWithin(pending, 3_000)).toBe(false);
        await trigger.drop();
        const d = await pending;
        expect(d.error).toBeUndefined();
        expect(d.decision).toBe('allow');
        const { rows } = await ns.pool.query(`select gate_count from step_ledger where step_id = 'transient-step'`);
        expect(rows).toEqual([{ gate_count: 1 }]);
      },
    );
  });

  it('a batch Postgres cannot record for its own reasons (25006, as a read-only node answers after a failover) is redone, not blocked, and decided once Postgres writes again', async () => {
    await whileRefusing(
      ns,
      {
        name: 'read_only_for_now',
        table: 'step_ledger',
        when: "new.step_id like 'read-only-%'",
        message: 'cannot execute INSERT in a read-only transaction',
        errcode: '25006',
      },
      async (trigger) => {
        const pending = Promise.all(
          ['read-only-a', 'read-only-b'].map((id) => stack.gate.gate(step({ workflow_id: 'wf-misc', step_id: id }))),
        );
        expect(await settledWithin(pending, REDO_UNWRITABLE_MS / 2)).toBe(false);
        await trigger.drop();
        for (const d of await pending) {
          expect(d.error).toBeUndefined();
          expect(d.decision).toBe('allow');
        }
        const { rows } = await ns.pool.query(
          `select step_id, gate_count from step_ledger where step_id like 'read-only-%' order by step_id`,
        );
        expect(rows).toEqual([
          { step_id: 'read-only-a', gate_count: 1 },
          { step_id: 'read-only-b', gate_count: 1 },
        ]);
      },
    );
  });

  it('a request Postgres keeps refusing for no data reason (42804, an error no class names) is redone for redoUnwritableForMs, then blocked (ENGINE_ERROR) while its batch neighbour is decided, and the next gate is not held', async () => {
    await whileRefusing(
      ns,
      {
        name: 'refuse_for_no_data_reason',
        table: 'step_ledger',
        when: "new.step_id = 'no-data-reason'",
        message: 'datatype mismatch for no reason of the data',
        errcode: '42804',
      },
      async () => {
        const started = Date.now();
        const [refused, neighbour] = [
          stack.gate.gate(step({ workflow_id: 'wf-misc', step_id: 'no-data-reason' })),
          stack.gate.gate(step({ workflow_id: 'wf-misc' })),
        ];
        expect(await settledWithin(refused, REDO_UNWRITABLE_MS / 2)).toBe(false);
        const d = await refused;
        expect(Date.now() - started).toBeGreaterThan(REDO_UNWRITABLE_MS);
        expect(d).toMatchObject({
          decision: 'block',
          error: { code: 'ENGINE_ERROR', message: 'the request could not be recorded' },
        });
        expect((await neighbour).decision).toBe('allow');
        // Nothing holds the partition now: a new gate is decided at once.
        const next = stack.gate.gate(step({ workflow_id: 'wf-misc' }));
        expect(await settledWithin(next, REDO_UNWRITABLE_MS / 2)).toBe(true);
        expect((await next).decision).toBe('allow');
      },
    );
  });

  it('stale requests are refused as replays', async () => {
    const stale = await rawGate(fresh({ requested_at: new Date(Date.now() - 10 * 60_000).toISOString() }), (v) =>
      signedHeaders(stack.orchestrator, v),
    );
    expect(stale.error?.code).toBe('STALE_REQUEST');
  });

  it('invalid and oversize values get INVALID_REQUEST naming the field; unattributable ones land in dlq and the worker keeps going', async () => {
    const invalid = await rawGate(fresh({ step_type: 'teleport', idempotency_key: 'k'.repeat(300) }), (v) =>
      signedHeaders(stack.orchestrator, v),
    );
    expect(invalid.error?.code).toBe('INVALID_REQUEST');
    expect(invalid.error?.message).toContain('step_type');
    expect(invalid.error?.message).toContain('idempotency_key');

    const big = await rawGate(fresh({ step_input: { blob: 'x'.repeat(300 * 1024) } }), (v) =>
      signedHeaders(stack.orchestrator, v),
    );
    expect(big.error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('bytes') });

    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const tooDeep = await rawGate(fresh({ step_input: deep }), (v) => signedHeaders(stack.orchestrator, v));
    expect(tooDeep.error?.message).toContain('levels deep');

    await sendRaw(ns, '{ this is not json', {}, 'garbage-1');
    await sendRaw(ns, JSON.stringify({ no: 'request id' }), {}, 'garbage-2');
    const dead = await stack.wire.until(() => {
      const d = stack.wire.seen.filter((m) => m.topic === ns.topics.dlq);
      return d.length >= 2 ? d : undefined;
    });
    expect(dead.map((m) => m.headers['stepgate-dlq-reason']).sort()).toEqual(['NOT_UTF8_JSON', 'NO_REQUEST_ID']);
    expect(dead.find((m) => m.key === 'garbage-1')!.value!.toString()).toBe('{ this is not json');
    // The worker is still deciding.
    expect((await stack.gate.gate(step())).decision).toBe('allow');
  });

  it('a workflow outside the allowlist is blocked by workflow access', async () => {
    const d = await stack.gate.gate(step({ workflow_id: 'payroll-export' }));
    expect(d.decision).toBe('block');
    expect(d.reason).toContain('allowlist');
  });

  it('hot reload: a new bundle version applies to the next gate without a restart', async () => {
    expect((await stack.gate.gate(step({ workflow_id: 'wf-reload', model: 'o3' }))).decision).toBe('allow');
    await applyBundle(ns, {
      ...bundle,
      policies: [
        ...bundle.policies,
        {
          name: 'block-o3',
          type: 'context_aware',
          category: 'dynamic-security',
          priority: 1,
          conditions: [{ field: 'context.model', operator: 'equals', value: 'o3' }],
          actions: [{ type: 'block' }],
        },
      ],
    });
    const deadline = Date.now() + 15_000;
    let decision = 'allow';
    while (decision === 'allow' && Date.now() < deadline)
      decision = (await stack.gate.gate(step({ workflow_id: 'wf-reload', model: 'o3' }))).decision;
    expect(decision).toBe('block');
  });

  it('exposes Prometheus metrics (decisions by outcome, latency histograms, time per batch stage, consumer lag) and its public receipt keys', async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(/stepgate_decisions_total\{decision="allow",source="fresh",error_code=""\} \d+/);
    expect(text).toMatch(
      /stepgate_decisions_total\{decision="block",source="fresh",error_code="UNAUTHENTICATED"\} \d+/,
    );
    expect(text).toContain('stepgate_evaluation_seconds_bucket');
    expect(text).toContain('stepgate_gate_end_to_end_seconds_count');
    for (const stage of ['intake', 'decide', 'publish'])
      expect(text).toMatch(new RegExp(`stepgate_gate_batch_stage_seconds_count\\{stage="${stage}"\\} [1-9]`));
    expect(text).toContain(
      `stepgate_consumer_lag_messages{group="${ns.groupPrefix}evaluator",topic="${ns.topics['gate.requests']}"`,
    );
    expect(text).toMatch(/stepgate_dlq_total\{reason="NOT_UTF8_JSON"\} 1/);

    // Anyone holding a decision can check it with the key the evaluator publishes.
    const keys = ReceiptKeySetSchema.parse(
      await (await fetch(`http://127.0.0.1:${metricsPort}${RECEIPT_KEYS_PATH}`)).json(),
    );
    expect(keys.keys.map((k) => k.key_id)).toEqual([stack.evaluatorKey.keyId]);
    const decision = await stack.gate.gate(step());
    expect(verifyReceipt(decision, publicKeyFromPem(keys.keys[0]!.public_key_pem))).toBe(true);
  });

  it('serves /healthz and /readyz (consumers joined, Postgres answering), on the loopback interface only', async () => {
    const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      ready: true,
      checks: { gate_consumer: true, policy_consumer: true, postgres: true },
    });
    const address = (await import('node:os')).networkInterfaces();
    const external = Object.values(address)
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) await expect(fetch(`http://${external.address}:${metricsPort}/healthz`)).rejects.toThrow();
  });

  it('each gate is an OpenTelemetry span, a child of the request traceparent, continued on the decision', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentSpanId = randomBytes(8).toString('hex');
    const d = await rawGate(fresh({ model: 'gpt-4' }), (v) => ({
      ...signedHeaders(stack.orchestrator, v),
      traceparent: `00-${traceId}-${parentSpanId}-01`,
    }));
    const span = spans.getFinishedSpans().find((s) => s.attributes['stepgate.request_id'] === d.request_id);
    expect(span).toBeDefined();
    expect(span!.name).toBe('stepgate.gate');
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(span!.parentSpanContext?.spanId).toBe(parentSpanId);
    expect(span!.attributes).toMatchObject({
      'stepgate.tenant_id': TENANT,
      'stepgate.decision': 'block',
      'stepgate.decision_source': 'fresh',
    });
    const message = stack.wire.seen.find(
      (m) => m.topic === ns.topics['gate.decisions'] && m.value!.toString().includes(d.request_id),
    );
    expect(message!.headers.traceparent).toBe(`00-${traceId}-${span!.spanContext().spanId}-01`);
  });

  it('commits the group offsets of what it published, so a restarted or rebalanced worker resumes where it stopped', async () => {
    await Promise.all(Array.from({ length: 20 }, () => stack.gate.gate(step({ model: 'claude' }))));
    await expect
      .poll(() => groupCaughtUp(ns, `${ns.groupPrefix}evaluator`, ns.topics['gate.requests']), { timeout: 20_000 })
      .toBe(true);
  });
});
