import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RECEIPT_KEYS_PATH,
  ReceiptKeySetSchema,
  type ApprovalEvent,
  type ApprovalRequest,
  type AuditEvent,
  type GateDecision,
  type WorkflowAbortedEvent,
} from '@stepgate/contracts';
import {
  publicKeyFromPem,
  signApprovalStatement,
  verifyApprovalStatement,
  verifyReceipt,
} from '@stepgate/contracts/node';
import type { GateStepRequest } from '@stepgate/client';
import { ApprovalRefusedError, type ApproverCredential, type Approvers } from '@stepgate/approvals-client';
import { ServiceError } from '@temporalio/client';
import { unavailableOutcomeIds, type IntakeResult } from '@stepgate/approvals';
import { KillSwitchesRepository } from '@stepgate/store';
import { eventually, freePort, rejection, testNamespace } from '@stepgate/test';
import { governedDeploy } from './workflows/governed-deploy.js';
import {
  approvalPolicy,
  approvalRequestFixture,
  blockPolicy,
  dailyRateLimitPolicy,
  openApprovalsFixture,
  pendingApproval,
  withOrchestratorWorker,
  type ApprovalsFixture,
} from './approvals-fixture.js';
import { refusingTrigger, runCli, signedHeaders, withTopicConfig } from './pipeline.js';

const ns = testNamespace('approvals');
const TENANT = 'acme';
const bundle = {
  tenant_id: TENANT,
  environment: 'staging',
  workflow_access: { mode: 'open' },
  tools: [{ tool_name: 'deploy', access: 'read' }],
  policies: [
    dailyRateLimitPolicy('deploy-rate', 'deploy'),
    approvalPolicy('approve-deploys', 'deploy', { reason: 'Deploys need a human', severity: 'high' }),
    blockPolicy('no-wipes', 'wipe', 'Wipes are forbidden'),
    approvalPolicy('approve-hotfix-quickly', 'hotfix', {
      reason: 'Hotfixes need a human within seconds',
      severity: 'critical',
      timeout_seconds: 4,
    }),
  ],
};

/** Approver keys by principal: carol's is revoked, mallory holds no role (the requester's own: `stack.orchestratorCredential`). */
let stack: ApprovalsFixture<'alice' | 'bob' | 'dev-1' | 'mallory' | 'globex-boss' | 'carol'>;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  stack = await openApprovalsFixture(ns, {
    tenant: TENANT,
    approvers: {
      alice: {},
      bob: {},
      'dev-1': {},
      mallory: { roles: [] },
      'globex-boss': { tenant: 'globex' },
      carol: {},
    },
    prepare: async (keys) => {
      await ns.pool.query('update credentials set revoked_at = now() where key_id = $1', [keys.carol.key_id]);
    },
    // The orchestrator workflows these tests start name themselves in reply_to.
    allowReplyTo: true,
    bundles: [bundle],
    service: { metricsPort },
    tap: ['gate.decisions', 'approvals', 'audit', 'workflow.events', 'dlq'],
  });
});

afterAll(async () => {
  await stack?.close();
});

/** The stepgate CLI, in process, pointed at this test's services. */
const cli = (...args: string[]) => runCli(ns, args);

/** A step of a fresh governed workflow (approval ids derive from tenant, workflow and step). */
const deploy = (overrides: Partial<GateStepRequest> = {}): GateStepRequest => ({
  workflow_id: `wf-${randomUUID()}`,
  step_id: 'deploy-prod',
  step_name: 'deploy',
  step_type: 'tool_call',
  user_id: 'dev-1',
  tool_context: { tool_name: 'deploy', tool_input: { env: 'prod', api_key: 'sk-live-123' } },
  ...overrides,
});

/** Gates a step that needs approval and waits until its approval workflow answers queries. */
const pending = (step: GateStepRequest) => pendingApproval(stack, step, { outcomeMs: 30_000, startMs: 20_000 });

const refusal = (p: Promise<unknown>) => rejection(p, ApprovalRefusedError);

/** What @grpc/grpc-js rejects a call with. */
const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });

/**
 * Makes the approvals service's starts of the approvals of `workflowId` go through `fail` (given the real
 * start), as Temporal's faults would; the others start as usual. Returns what undoes it.
 */
function failStarts(workflowId: string, fail: (start: () => Promise<IntakeResult>) => Promise<IntakeResult>) {
  const service = stack.service!;
  const real = service.startApproval.bind(service);
  service.startApproval = (request, heartbeat) =>
    request.workflow_id === workflowId ? fail(() => real(request, heartbeat)) : real(request, heartbeat);
  return () => {
    service.startApproval = real;
  };
}

/** Runs `body` while a worker runs the governed-deploy orchestrator workflows (`reply_to`) of the tenant. */
const withDeployOrchestrators = <T>(body: (taskQueue: string) => Promise<T>) =>
  withOrchestratorWorker(
    ns,
    {
      tenant: TENANT,
      evaluatorKey: stack.evaluatorKey,
      workflowsPath: new URL('./workflows/governed-deploy.ts', import.meta.url),
    },
    body,
  );

/** What became of steps whose approval could not be started, by result (stepgate_approvals_unavailable_total). */
const unavailable = async (result: string) =>
  (await stack.service!.registry.getSingleMetric('stepgate_approvals_unavailable_total')!.get()).values.find(
    (v) => v.labels.result === result,
  )?.value ?? 0;

/**
 * A step pending on an approval whose request Temporal refuses for good: its tenant id (3,000 times
 * `tenantLetter`) breaks the search attribute limit. The request is the evaluator's, for that decision.
 */
async function unstartableApproval(p: { tenantLetter: string; workflowId: string }) {
  const approvalId = randomUUID();
  const decisionId = randomUUID();
  const tenant = p.tenantLetter.repeat(3_000);
  await ns.pool.query(
    `insert into step_ledger (tenant_id, workflow_id, step_id, input_fingerprint, decision, decision_body, approval_id, approval_status, first_attempt_at, last_attempt_at)
     values ($1, $2, 'deploy', 'x', 'require_approval', $3, $4, 'pending', now(), now())`,
    [tenant, p.workflowId, { decision_id: decisionId }, approvalId],
  );
  const request = approvalRequestFixture({
    approval_id: approvalId,
    tenant_id: tenant,
    workflow_id: p.workflowId,
    decision_id: decisionId,
    reason: p.workflowId,
  });
  return {
    approvalId,
    tenant,
    request,
    value: Buffer.from(JSON.stringify(request)),
    ledger: () => approvalStatusOf(tenant, approvalId),
    /** What the broker saw of it on gate.decisions. */
    decisions: () =>
      stack.wire.json<GateDecision>(ns.topics['gate.decisions']).filter((d) => d.approval_id === approvalId),
    dlq: (reason = 'APPROVAL_START_REFUSED') =>
      stack.wire.seen.filter(
        (m) => m.topic === ns.topics.dlq && m.key === approvalId && m.headers['stepgate-dlq-reason'] === reason,
      ),
  };
}

/** The approval status of the tenant's step that waits on (or waited on) the approval. */
const approvalStatusOf = async (tenant: string, approvalId: string) =>
  (
    await ns.pool.query<{ approval_status: string }>(
      'select approval_status from step_ledger where tenant_id = $1 and approval_id = $2',
      [tenant, approvalId],
    )
  ).rows[0]?.approval_status;

const auditOf = (approvalId: string) => () =>
  stack.wire
    .json<AuditEvent>(ns.topics.audit)
    .filter((a) => a.detail.approval_id === approvalId)
    .map((a) => a.action);

describe('approvals as Temporal workflows (real Temporal, Kafka, Postgres)', () => {
  it('approve: the waiting orchestrator receives allow, and a retry of the gate is allow', async () => {
    const step = deploy();
    const { id, status, outcome } = await pending(step);
    expect(status).toMatchObject({
      status: 'pending',
      tenant_id: TENANT,
      workflow_id: step.workflow_id,
      step_id: 'deploy-prod',
    });

    const started = performance.now();
    const state = await stack.approvers.approve(id, {
      credential: stack.keys.alice,
      comment: 'Change ticket CHG-1234 reviewed',
    });
    expect(state).toMatchObject({
      status: 'approved',
      decided_by: 'alice',
      comment: 'Change ticket CHG-1234 reviewed',
    });

    const d = await outcome;
    const elapsed = performance.now() - started;
    expect(d).toMatchObject({
      decision: 'allow',
      decision_source: 'approval',
      approval_id: id,
      approval_status: 'approved',
      approved_by: 'alice',
      tenant_id: TENANT,
    });
    expect(d.approved_at).toBe(state.decided_at);
    expect(verifyReceipt(d, publicKeyFromPem(stack.evaluatorKey.publicKeyPem))).toBe(true);
    // The approvals service publishes the key its receipts name, for anyone to check them with.
    const published = ReceiptKeySetSchema.parse(
      await (await fetch(`http://127.0.0.1:${metricsPort}${RECEIPT_KEYS_PATH}`)).json(),
    );
    const named = published.keys.find((k) => k.key_id === d.receipt.key_id);
    expect(named && verifyReceipt(d, publicKeyFromPem(named.public_key_pem))).toBe(true);
    console.info(`approval → orchestrator (Kafka decision): ${elapsed.toFixed(0)} ms`);

    const retry = await stack.gate.gate(step);
    expect(retry).toMatchObject({
      decision: 'allow',
      decision_source: 'cached',
      approval_status: 'approved',
      approved_by: 'alice',
    });
    const ledger = await ns.pool.query('select approval_status from step_ledger where workflow_id = $1', [
      step.workflow_id,
    ]);
    expect(ledger.rows[0]).toEqual({ approval_status: 'approved' });
    // The deploy counts against its rate limit once approved (and only then).
    const counters = await ns.pool.query<{ key: string; value: string }>(
      `select key, value from usage_counters where key like '["rate-limit","deploy-rate",%'`,
    );
    expect(counters.rows).toEqual([{ key: expect.stringContaining('dev-1'), value: '1' }]);

    expect(
      await stack.wire.until(() => (auditOf(id)().includes('ApprovalGranted') ? auditOf(id)() : undefined)),
    ).toEqual(['ApprovalRequested', 'ApprovalGranted']);
    const granted = stack.wire
      .json<AuditEvent>(ns.topics.audit)
      .find((a) => a.action === 'ApprovalGranted' && a.detail.approval_id === id)!;
    expect(granted.inputs_summary).not.toContain('sk-live-123');
    // The approval's decision and audit rows name the bundle version that asked for it.
    expect(d.policy_version).toEqual({ version: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const requested = stack.wire
      .json<AuditEvent>(ns.topics.audit)
      .find((a) => a.action === 'ApprovalRequested' && a.detail.approval_id === id)!;
    expect([granted.policy_version, requested.policy_version]).toEqual([d.policy_version, d.policy_version]);

    // A second decision after the first is refused, the workflow being closed or not.
    expect(
      (await refusal(stack.approvers.reject(id, { credential: stack.keys.bob, reason: 'Too late to change my mind' })))
        .code,
    ).toBe('APPROVAL_ALREADY_RESOLVED');
  });

  it('a kill switch engaged while an approval is pending outranks the approver: the orchestrator gets block KILL_SWITCH', async () => {
    const agent = `agent-${randomUUID()}`;
    const { id, outcome } = await pending(deploy({ agent_id: agent }));
    const switches = new KillSwitchesRepository(ns.pool);
    const engaged = await switches.engage({
      tenantId: TENANT,
      scope: { agent_id: agent, workflow_id: null, tool_name: null },
      reason: 'agent loops on deploys',
      engagedBy: 'sre-on-call',
    });
    try {
      await stack.approvers.approve(id, { credential: stack.keys.alice, comment: 'Change ticket CHG-9 reviewed' });
      const d = await outcome;
      expect(d).toMatchObject({
        decision: 'block',
        decision_source: 'approval',
        approval_id: id,
        error: { code: 'KILL_SWITCH', message: 'kill switch engaged by sre-on-call: agent loops on deploys' },
      });
      expect(verifyReceipt(d, publicKeyFromPem(stack.evaluatorKey.publicKeyPem))).toBe(true);
      const granted = await stack.wire.until(() =>
        stack.wire
          .json<AuditEvent>(ns.topics.audit)
          .find((a) => a.action === 'ApprovalGranted' && a.detail.approval_id === id),
      );
      expect(granted.detail.kill_switch).toBe(engaged.switch_id);
    } finally {
      await switches.release({ tenantId: TENANT, switchId: engaged.switch_id, releasedBy: 'test' });
    }
  });

  it('reject: block, workflow.aborted, and every later gate of the workflow is WORKFLOW_TERMINAL', async () => {
    const step = deploy();
    const { id, outcome } = await pending(step);
    await stack.approvers.reject(id, { credential: stack.keys.bob, reason: 'No deploys during the freeze' });
    const d = await outcome;
    expect(d).toMatchObject({
      decision: 'block',
      decision_source: 'approval',
      approval_status: 'rejected',
      approved_by: 'bob',
    });
    expect(d.reason).toContain('No deploys during the freeze');

    const aborted = await stack.wire.until(() =>
      stack.wire.json<WorkflowAbortedEvent>(ns.topics['workflow.events']).find((e) => e.approval_id === id),
    );
    expect(aborted).toMatchObject({
      type: 'workflow.aborted',
      tenant_id: TENANT,
      workflow_id: step.workflow_id,
      cause: 'approval_rejected',
    });

    const later = await stack.gate.gate(
      deploy({ workflow_id: step.workflow_id, step_id: 'smoke-test', step_name: 'smoke' }),
    );
    expect(later).toMatchObject({ decision: 'block', error: { code: 'WORKFLOW_TERMINAL' } });
    expect(await stack.gate.gate(step)).toMatchObject({ decision: 'block' });
    await stack.wire.until(() => (auditOf(id)().includes('WorkflowAborted') ? true : undefined));
    expect(auditOf(id)()).toEqual(expect.arrayContaining(['ApprovalRequested', 'ApprovalRejected', 'WorkflowAborted']));
  });

  it('a workflow id in mixed case: the rejection lands on its ledger row and aborts it in every case', async () => {
    const step = deploy({ workflow_id: `WF-Mixed-${randomUUID()}` });
    const { id, outcome } = await pending(step);
    await stack.approvers.reject(id, { credential: stack.keys.bob, reason: 'Not this one, mixed or not' });
    expect(await outcome).toMatchObject({ decision: 'block', approval_status: 'rejected' });
    const lower = step.workflow_id.toLowerCase();
    expect((await stack.gate.gate(deploy({ workflow_id: lower, step_id: 'after' }))).error?.code).toBe(
      'WORKFLOW_TERMINAL',
    );
    const { rows } = await ns.pool.query<{ approval_status: string }>(
      'select approval_status from step_ledger where workflow_id = $1',
      [lower],
    );
    expect(rows.map((r) => r.approval_status)).toEqual(['rejected']);
  });

  it('expiry: a short policy timeout expires to block (status expired, not rejected), with a reminder and the abort', async () => {
    const step = deploy({ step_id: 'hotfix', step_name: 'hotfix' });
    const { id, outcome } = await pending(step);
    const d = await outcome;
    expect(d).toMatchObject({ decision: 'block', decision_source: 'approval', approval_status: 'expired' });
    expect(d.approved_by).toBeUndefined();
    const reminder = stack.wire
      .json<ApprovalEvent>(ns.topics.approvals)
      .find((e) => e.type === 'approval.reminder' && e.approval_id === id);
    expect(reminder).toBeDefined();
    const aborted = await stack.wire.until(() =>
      stack.wire.json<WorkflowAbortedEvent>(ns.topics['workflow.events']).find((e) => e.approval_id === id),
    );
    expect(aborted.cause).toBe('approval_expired');
    expect(
      (
        await refusal(
          stack.approvers.approve(id, { credential: stack.keys.alice, comment: 'Approving after the deadline' }),
        )
      ).code,
    ).toBe('APPROVAL_EXPIRED');
    await stack.wire.until(() => (auditOf(id)().includes('ApprovalExpired') ? true : undefined));
    expect((await stack.gate.gate(deploy({ workflow_id: step.workflow_id, step_id: 'next' }))).error?.code).toBe(
      'WORKFLOW_TERMINAL',
    );
  });

  it('forged approvals are refused by code and the step stays pending; a proven approver decides and the statement is the evidence', async () => {
    const { id, outcome } = await pending(deploy());
    const other = await pending(deploy());
    const digest = (await stack.approvers.status(id)).action_digest!;
    // The evaluator's digest covers the request, so another step's differs.
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect((await stack.approvers.status(other.id)).action_digest).not.toBe(digest);
    const why = 'Looks good to me, ship it';
    const code = async (p: Promise<unknown>) => (await refusal(p)).code;
    const statement = (over: Record<string, string> = {}) => ({
      approval_id: id,
      action_digest: digest,
      decision: 'approve' as const,
      comment_or_reason: why,
      signed_at: new Date().toISOString(),
      key_id: stack.keys.alice.key_id,
      ...over,
    });

    // No signature: the name-only update of old.
    const named = { approver: 'alice', comment: why } as unknown as Parameters<Approvers['submit']>[2];
    expect(await code(stack.approvers.submit(id, 'approve', named))).toBe('UNAUTHENTICATED_APPROVER');
    // Alice's key id, mallory's signature.
    expect(
      await code(
        stack.approvers.submit(id, 'approve', signApprovalStatement(statement(), stack.keys.mallory.private_key)),
      ),
    ).toBe('UNAUTHENTICATED_APPROVER');
    // Signed, but by a non-approver, another tenant's approver, a revoked key, the requester.
    expect(await code(stack.approvers.approve(id, { credential: stack.keys.mallory, comment: why }))).toBe(
      'NOT_AN_APPROVER',
    );
    expect(await code(stack.approvers.approve(id, { credential: stack.keys['globex-boss'], comment: why }))).toBe(
      'WRONG_TENANT',
    );
    expect(await code(stack.approvers.approve(id, { credential: stack.keys.carol, comment: why }))).toBe('REVOKED_KEY');
    expect(await code(stack.approvers.approve(id, { credential: stack.keys['dev-1'], comment: why }))).toBe(
      'SELF_APPROVAL',
    );
    expect(await code(stack.approvers.approve(id, { credential: stack.orchestratorCredential, comment: why }))).toBe(
      'SELF_APPROVAL',
    );
    // A valid statement of alice for the other approval, replayed onto this one.
    const forOther = signApprovalStatement(
      statement({ approval_id: other.id, action_digest: (await stack.approvers.status(other.id)).action_digest! }),
      stack.keys.alice.private_key,
    );
    expect(await code(stack.approvers.submit(id, 'approve', forOther))).toBe('DIGEST_MISMATCH');
    // A digest that is not this approval's; a statement signed 10 minutes ago.
    expect(
      await code(
        stack.approvers.approve(id, { credential: stack.keys.alice, comment: why, actionDigest: '0'.repeat(64) }),
      ),
    ).toBe('DIGEST_MISMATCH');
    const stale = new Date(Date.now() - 10 * 60_000);
    expect(
      await code(stack.approvers.approve(id, { credential: stack.keys.alice, comment: why, signedAt: stale })),
    ).toBe('STALE_SIGNATURE');
    const short = await refusal(stack.approvers.approve(id, { credential: stack.keys.alice, comment: 'ok' }));
    expect(short.code).toBe('INVALID_APPROVAL_INPUT');
    expect(short.message).toContain('comment');
    // What Postgres cannot store would leave the outcome unrecordable, decided in the workflow and
    // pending in the ledger for good: refused before the update is accepted, naming the field.
    for (const [comment, kind] of [
      ['Reviewed the rollout \ud800 plan', 'lone UTF-16 surrogate'],
      ['Reviewed the rollout \u0000 plan', 'NUL character'],
    ] as const) {
      const unstorable = await refusal(stack.approvers.approve(id, { credential: stack.keys.alice, comment }));
      expect(unstorable.code).toBe('INVALID_APPROVAL_INPUT');
      expect(unstorable.message).toContain(`statement.comment_or_reason: contains a ${kind}`);
    }
    expect((await stack.approvers.status(id)).status).toBe('pending');
    expect(
      await Promise.race([outcome.then(() => 'decided'), new Promise((r) => setTimeout(() => r('pending'), 500))]),
    ).toBe('pending');

    const state = await stack.approvers.approve(id, {
      credential: stack.keys.alice,
      comment: 'Reviewed the diff and the rollout plan',
    });
    expect((await outcome).decision).toBe('allow');
    expect(state.evidence).toMatchObject({ principal: 'alice', key_id: stack.keys.alice.key_id });
    // The audit event keeps the statement: anyone with alice's public key can check who approved what.
    const granted = await stack.wire.until(() =>
      stack.wire
        .json<AuditEvent>(ns.topics.audit)
        .find((a) => a.action === 'ApprovalGranted' && a.detail.approval_id === id),
    );
    const evidence = granted.detail.evidence as {
      statement: Parameters<typeof signApprovalStatement>[0];
      signature: string;
    };
    expect(granted.detail).toMatchObject({ decided_by: 'alice', action_digest: digest });
    const { rows } = await ns.pool.query<{ public_key_pem: string }>(
      'select public_key_pem from credentials where key_id = $1',
      [stack.keys.alice.key_id],
    );
    expect(verifyApprovalStatement(evidence, publicKeyFromPem(rows[0]!.public_key_pem))).toBe(true);
    // stepgate verify checks the audit event's statement with the approver's public key.
    const dir = await mkdtemp(path.join(tmpdir(), 'stepgate-evidence-'));
    await writeFile(path.join(dir, 'granted.json'), JSON.stringify(granted));
    await writeFile(path.join(dir, 'alice.pub.pem'), rows[0]!.public_key_pem);
    const checked = await cli(
      'verify',
      path.join(dir, 'granted.json'),
      '--public-key',
      path.join(dir, 'alice.pub.pem'),
    );
    expect(checked).toMatchObject({ code: 0, stderr: '' });
    expect(checked.stdout).toContain(`approve of approval ${id}`);
    const tampered = {
      ...granted,
      detail: {
        ...granted.detail,
        evidence: { ...evidence, statement: { ...evidence.statement, approval_id: other.id } },
      },
    };
    await writeFile(path.join(dir, 'tampered.json'), JSON.stringify(tampered));
    expect(
      (await cli('verify', path.join(dir, 'tampered.json'), '--public-key', path.join(dir, 'alice.pub.pem'))).code,
    ).toBe(1);
    await stack.approvers.reject(other.id, { credential: stack.keys.bob, reason: 'Not this one, thanks' });
  });

  it('concurrent approve and reject: exactly one wins', async () => {
    const { id, outcome } = await pending(deploy());
    const results = await Promise.allSettled([
      stack.approvers.approve(id, { credential: stack.keys.alice, comment: 'Approving in a race with bob' }),
      stack.approvers.reject(id, { credential: stack.keys.bob, reason: 'Rejecting in a race with alice' }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(ApprovalRefusedError);
    expect((lost[0]!.reason as ApprovalRefusedError).code).toBe('APPROVAL_ALREADY_RESOLVED');
    const d = await outcome;
    expect(d.decision).toBe(won[0]!.value.status === 'approved' ? 'allow' : 'block');
    const decisions = await stack.wire.until(() => {
      const list = stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .filter((x) => x.approval_id === id && x.decision_source === 'approval');
      return list.length ? list : undefined;
    });
    expect(new Set(decisions.map((x) => x.decision_id)).size).toBe(1);
  });

  it('a step gated again while its approval waits (same inputs): the earlier run is ended, a statement for the earlier decision does not count, the new run decides the step', async () => {
    const step = deploy();
    const { id, status: first } = await pending(step);
    const firstRun = (await stack.temporal.workflow.getHandle(`approval-${id}`).describe()).runId;
    // The same inputs: only the decision tells the two requests apart.
    const changed = { ...step, retry_policy: 'reevaluate' as const };
    const again = await stack.gate.gate(changed);
    expect(again).toMatchObject({ decision: 'require_approval', approval_id: id });

    const second = await eventually(
      async () => {
        const s = await stack.approvers.status(id).catch(() => undefined);
        return s && s.action_digest !== first.action_digest ? s : undefined;
      },
      `approval ${id} to ask for the second decision`,
      { timeout: 20_000 },
    );
    expect(second.status).toBe('pending');
    const earlier = await stack.temporal.workflow.getHandle(`approval-${id}`, firstRun).describe();
    expect(earlier.status.name).toBe('TERMINATED');
    const listed = await stack.approvers.list({ tenant: TENANT, status: 'pending' });
    expect(listed.filter((a) => a.approval_id === id)).toHaveLength(1);

    // What the approver saw of the first request approves nothing now, not even with the same approval id.
    const stale = await refusal(
      stack.approvers.approve(id, {
        credential: stack.keys.alice,
        comment: 'Reviewed the first request only',
        actionDigest: first.action_digest!,
      }),
    );
    expect(stale.code).toBe('DIGEST_MISMATCH');

    await stack.approvers.approve(id, { credential: stack.keys.alice, comment: 'Reviewed the second request, CHG-77' });
    await expect
      .poll(
        async () =>
          (
            await ns.pool.query<{ approval_status: string | null }>(
              'select approval_status from step_ledger where workflow_id = $1',
              [step.workflow_id],
            )
          ).rows[0]?.approval_status,
        { timeout: 20_000 },
      )
      .toBe('approved');
    expect(await stack.gate.gate({ ...changed, retry_policy: 'idempotent' })).toMatchObject({
      decision: 'allow',
      approval_status: 'approved',
    });
  });

  it('an approval of a step decided otherwise since (blocked) decides nothing: it is audited as superseded, shows as superseded, and the block stands', async () => {
    const step = deploy();
    const { id } = await pending(step);
    const wipe = { ...step, step_name: 'wipe', retry_policy: 'reevaluate' as const };
    expect((await stack.gate.gate(wipe)).decision).toBe('block');
    const ledger = async () =>
      (
        await ns.pool.query<{ decision: string; approval_status: string | null }>(
          'select decision, approval_status from step_ledger where workflow_id = $1',
          [step.workflow_id],
        )
      ).rows[0];
    expect(await ledger()).toEqual({ decision: 'block', approval_status: null });

    // The run asked for the earlier decision still takes a decision, which applies to nothing.
    const state = await stack.approvers.approve(id, {
      credential: stack.keys.bob,
      comment: 'Approving the deploy I saw',
    });
    expect(state.status).toBe('approved');
    const superseded = await stack.wire.until(() =>
      stack.wire
        .json<AuditEvent>(ns.topics.audit)
        .find((a) => a.detail.approval_id === id && a.action === 'ApprovalGranted'),
    );
    expect(superseded).toMatchObject({ outcome: 'Superseded', detail: { decided_by: 'bob' } });
    // The run, its listing and the CLI say superseded, with how it had resolved and what superseded it.
    await expect.poll(async () => (await stack.approvers.get(id))?.status, { timeout: 20_000 }).toBe('superseded');
    expect(await stack.approvers.status(id)).toMatchObject({
      status: 'superseded',
      decided_by: 'bob',
      superseded: { resolution: 'approved', by_decision_id: superseded.detail.superseded_by_decision_id },
    });
    expect(superseded.detail.superseded_by_decision_id).toEqual(expect.any(String));
    const listed = await stack.approvers.list({ tenant: TENANT, status: 'superseded' });
    expect(listed.map((a) => a.approval_id)).toContain(id);
    const cliListed = await cli('approvals', 'list', '--tenant', TENANT, '--status', 'superseded', '--json');
    expect(cliListed.code).toBe(0);
    expect(JSON.parse(cliListed.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ approval_id: id, status: 'superseded' })]),
    );
    expect(await ledger()).toEqual({ decision: 'block', approval_status: null });
    expect(await stack.gate.gate({ ...wipe, retry_policy: 'idempotent' })).toMatchObject({ decision: 'block' });
    expect(
      stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .filter((d) => d.approval_id === id && d.decision_source === 'approval'),
    ).toEqual([]);
  });

  it('duplicate approval requests make one workflow', async () => {
    const { id } = await pending(deploy());
    const request = await stack.wire.until(() =>
      stack.wire
        .json<ApprovalRequest>(ns.topics.approvals)
        .find((e) => e.type === 'approval.requested' && e.approval_id === id),
    );
    // As the evaluator sends them: signed with its receipt key.
    const value = Buffer.from(JSON.stringify(request));
    const signed = { key: id, value, headers: signedHeaders(stack.evaluatorKey, value) };
    const producer = ns.kafka.producer();
    await producer.connect();
    await producer.send({ topic: ns.topics.approvals, messages: [signed, signed, signed] });
    const taken = async () =>
      (await stack.service!.registry.getSingleMetric('stepgate_approval_requests_total')!.get()).values.reduce(
        (n, v) => n + v.value,
        0,
      );
    const before = await taken();
    await producer.send({ topic: ns.topics.approvals, messages: [signed] });
    await producer.disconnect();
    await expect
      .poll(taken, { timeout: 20_000, message: 'the duplicates were not consumed' })
      .toBeGreaterThanOrEqual(before + 1);
    const runs = async () => {
      let n = 0;
      for await (const wf of stack.temporal.workflow.list({ query: `WorkflowId = 'approval-${id}'` }))
        if (wf.workflowId) n++;
      return n;
    };
    await expect.poll(runs, { timeout: 10_000, interval: 200 }).not.toBe(0);
    expect(await runs()).toBe(1);
    // The intake exports its lag per partition, as every consumer group does.
    const lag = await stack.service!.registry.getSingleMetric('stepgate_consumer_lag_messages')!.get();
    expect(lag.values.some((v) => v.labels.topic === ns.topics.approvals && v.labels.group)).toBe(true);
  });

  it('approval requests not signed by an evaluator key start nothing: unsigned, signed by the orchestrator, a forged signature go to the dlq (UNAUTHENTICATED)', async () => {
    const step = deploy();
    const { id } = await pending(step);
    const request = await stack.wire.until(() =>
      stack.wire
        .json<ApprovalRequest>(ns.topics.approvals)
        .find((e) => e.type === 'approval.requested' && e.approval_id === id),
    );
    // What someone able to write to the topic would send: the pending step's ids, their own terms.
    const forged = Buffer.from(
      JSON.stringify({
        ...request,
        requested_by: { principal: 'mallory', user_id: 'mallory', agent_id: null },
        approval_rule: { ...request.approval_rule, approvals_required: 1 },
        inputs_summary: 'harmless',
      }),
    );
    const evaluatorSigned = signedHeaders(stack.evaluatorKey, Buffer.from('something else'));
    const producer = ns.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: ns.topics.approvals,
      messages: [
        { key: id, value: forged },
        { key: id, value: forged, headers: signedHeaders(stack.orchestrator, forged) },
        { key: id, value: forged, headers: evaluatorSigned },
      ],
    });
    await producer.disconnect();
    const refused = () =>
      stack.wire.seen.filter(
        (m) => m.topic === ns.topics.dlq && m.key === id && m.headers['stepgate-dlq-reason'] === 'UNAUTHENTICATED',
      );
    await stack.wire.until(() => (refused().length === 3 ? true : undefined), 20_000);
    const listed = await stack.approvers.get(id);
    expect(listed).toMatchObject({ status: 'pending', inputs_summary: request.inputs_summary });
    expect(listed?.requested_by.principal).toBe(request.requested_by.principal);
  });

  it('lists pending approvals by tenant and status from search attributes, with the step context', async () => {
    const step = deploy();
    const { id } = await pending(step);
    const listed = await eventually(
      async () => (await stack.approvers.list({ tenant: TENANT, status: 'pending' })).find((a) => a.approval_id === id),
      'the approval to be listed',
      { timeout: 20_000, interval: 200 },
    );
    expect(listed).toMatchObject({
      tenant_id: TENANT,
      status: 'pending',
      workflow_id: step.workflow_id,
      step_id: 'deploy-prod',
      policies_matched: ['approve-deploys'],
    });
    expect(listed.inputs_summary).toContain('[REDACTED]');
    expect(listed.time_left_seconds).toBeGreaterThan(3000);
    expect(await stack.approvers.list({ tenant: 'globex', status: 'pending' })).toEqual([]);
  });

  it('a Temporal-workflow orchestrator waits durably for the outcome signal (reply_to)', async () => {
    await withDeployOrchestrators(async (taskQueue) => {
      const handle = await stack.temporal.workflow.start(governedDeploy, {
        taskQueue,
        workflowId: `orchestrator-${randomUUID()}`,
      });
      const approvalId = await stack.wire.until(
        () =>
          stack.wire
            .json<ApprovalRequest>(ns.topics.approvals)
            .find((e) => e.type === 'approval.requested' && e.workflow_id === handle.workflowId)?.approval_id,
      );
      await eventually(() => stack.approvers.status(approvalId).catch(() => undefined), 'the approval to start', {
        timeout: 20_000,
      });
      const decided = await stack.approvers.approve(approvalId, {
        credential: stack.keys.alice,
        comment: 'Approved for the orchestrator workflow',
      });
      const result = await handle.result();
      expect(result).toMatchObject({
        decision: 'allow',
        approval_status: 'approved',
        decided_by: 'alice',
        deployed: true,
      });
      console.info(
        `approval → Temporal orchestrator (signal): ${Date.parse(result.received_at!) - Date.parse(decided.decided_at!)} ms`,
      );
    });
  });

  it('the CLI lists pending approvals with their context, approves, and reports a refusal by its code', async () => {
    const step = deploy();
    const { id, outcome } = await pending(step);
    let listed = '';
    for (const end = Date.now() + 20_000; !listed.includes(id);) {
      listed = (await cli('approvals', 'list', '--tenant', TENANT, '--status', 'pending')).stdout;
      if (Date.now() > end) throw new Error(`not listed:\n${listed}`);
    }
    const entry = listed.slice(listed.indexOf(id)).split('\n\n')[0]!;
    expect(entry).toContain(`${step.workflow_id} / deploy-prod (deploy)`);
    expect(entry).toContain('approve-deploys');
    expect(entry).toMatch(/left/);
    expect(entry).not.toContain('sk-live-123');

    expect(entry).toContain(`digest    ${(await stack.approvers.status(id)).action_digest}`);

    const dir = await mkdtemp(path.join(tmpdir(), 'stepgate-approvers-'));
    const keyFile = async (k: ApproverCredential) => {
      const file = path.join(dir, `${k.principal}.json`);
      const pem = k.private_key.export({ format: 'pem', type: 'pkcs8' }).toString();
      await writeFile(
        file,
        JSON.stringify({ key_id: k.key_id, tenant_id: k.tenant_id, principal: k.principal, private_key_pem: pem }),
      );
      return file;
    };
    const self = await cli(
      'approvals',
      'approve',
      id,
      '--key',
      await keyFile(stack.keys['dev-1']),
      '--comment',
      'My own step, approving it',
    );
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('SELF_APPROVAL');
    expect((await cli('approvals', 'list', '--status', 'bogus')).code).toBe(2);
    const alice = await keyFile(stack.keys.alice);
    const posing = await cli(
      'approvals',
      'approve',
      id,
      '--key',
      alice,
      '--as',
      'bob',
      '--comment',
      'Bob says yes, honestly',
    );
    expect(posing.code).toBe(2);

    const ok = await cli('approvals', 'approve', id, '--key', alice, '--comment', 'Checked with the release manager');
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toContain(`approved approval ${id}`);
    expect(ok.stdout).toContain(stack.keys.alice.key_id);
    expect((await outcome).decision).toBe('allow');
    const again = await cli(
      'approvals',
      'reject',
      id,
      '--key',
      await keyFile(stack.keys.bob),
      '--reason',
      'Changed my mind entirely',
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('APPROVAL_ALREADY_RESOLVED');
  });

  it("uses the tenant's approval timeout when the matching policy names none", async () => {
    expect((await cli('tenants', 'set', '--tenant', TENANT, '--approval-timeout', '3')).code).toBe(0);
    try {
      const { id, outcome } = await pending(deploy());
      const d = await outcome;
      expect(d).toMatchObject({ decision: 'block', approval_status: 'expired', approval_id: id });
      const status = await stack.approvers.status(id);
      expect(Date.parse(status.expires_at) - Date.parse(status.requested_at)).toBe(3_000);
    } finally {
      expect((await cli('tenants', 'set', '--tenant', TENANT, '--approval-timeout', 'default')).code).toBe(0);
    }
  });

  it('a request Temporal refuses for good (a 3 KB tenant id breaks the search attribute limit): its step is blocked with a signed APPROVAL_UNAVAILABLE decision, the abort and the audit, and it goes to the dlq; delivered again, the same decision; unsigned, nothing; the next one is served', async () => {
    const step = await unstartableApproval({ tenantLetter: 't', workflowId: 'wf-poison' });
    const { approvalId, tenant, value, ledger, decisions, dlq } = step;
    const ids = unavailableOutcomeIds(step.request);
    const [blockedBefore, republishedBefore] = [await unavailable('blocked'), await unavailable('republished')];
    const producer = ns.kafka.producer();
    await producer.connect();
    try {
      // Unsigned, or signed by the evaluator over other bytes: refused before any start, so nobody who can
      // write to the topic can have a step blocked this way.
      await producer.send({
        topic: ns.topics.approvals,
        messages: [
          { key: approvalId, value },
          { key: approvalId, value, headers: signedHeaders(stack.evaluatorKey, Buffer.from('other bytes')) },
        ],
      });
      await stack.wire.until(() => (dlq('UNAUTHENTICATED').length === 2 ? true : undefined), 20_000);
      expect(await ledger()).toBe('pending');
      expect(decisions()).toEqual([]);

      await producer.send({
        topic: ns.topics.approvals,
        messages: [{ key: approvalId, value, headers: signedHeaders(stack.evaluatorKey, value) }],
      });
      const [refused] = await stack.wire.until(() => {
        const entries = dlq('APPROVAL_START_REFUSED');
        return entries.length ? entries : undefined;
      }, 30_000);
      expect(refused!.headers['stepgate-dlq-detail']).toContain('StepgateTenant');
      // The step was blocked before the request went to the dlq.
      expect(await ledger()).toBe('expired');
      const [decision] = await stack.wire.until(() => (decisions().length ? decisions() : undefined));
      expect(decision).toMatchObject({
        decision_id: ids.decision_id,
        tenant_id: tenant,
        workflow_id: 'wf-poison',
        step_id: 'deploy',
        decision: 'block',
        decision_source: 'approval',
        approval_status: 'expired',
        error: { code: 'APPROVAL_UNAVAILABLE' },
      });
      expect(decision!.reason).toContain('the approval could not be started (APPROVAL_START_REFUSED)');
      expect(decision!.error!.message).toBe(decision!.reason);
      expect(decision!.approved_by).toBeUndefined();
      expect(verifyReceipt(decision!, publicKeyFromPem(stack.evaluatorKey.publicKeyPem))).toBe(true);
      const aborted = await stack.wire.until(() =>
        stack.wire.json<WorkflowAbortedEvent>(ns.topics['workflow.events']).find((e) => e.approval_id === approvalId),
      );
      expect(aborted).toMatchObject({
        event_id: ids.abort_event_id,
        cause: 'approval_expired',
        workflow_id: 'wf-poison',
      });
      expect(aborted.reason).toContain('could not be started (APPROVAL_START_REFUSED)');
      const audited = () =>
        stack.wire.json<AuditEvent>(ns.topics.audit).filter((a) => a.detail.approval_id === approvalId);
      await stack.wire.until(() => (audited().length >= 2 ? true : undefined));
      expect(audited()).toEqual([
        expect.objectContaining({
          id: ids.audit_event_id,
          action: 'ApprovalExpired',
          outcome: 'Expired',
          decision_id: ids.decision_id,
          decision: 'block',
          error_code: 'APPROVAL_UNAVAILABLE',
          detail: expect.objectContaining({ dlq_reason: 'APPROVAL_START_REFUSED', decided_by: null }),
        }),
        expect.objectContaining({
          id: ids.abort_audit_event_id,
          action: 'WorkflowAborted',
          error_code: 'APPROVAL_UNAVAILABLE',
          detail: expect.objectContaining({ cause: 'approval_expired', reason: aborted.reason }),
        }),
      ]);
      const state = await ns.pool.query<{ status: string }>(
        'select status from workflow_state where tenant_id = $1 and workflow_id = $2',
        [tenant, 'wf-poison'],
      );
      expect(state.rows).toEqual([{ status: 'aborted' }]);
      expect(await unavailable('blocked')).toBe(blockedBefore + 1);

      // Delivered again (as after a crash before the offset was committed): the same decision again, no
      // second one, and no second dlq entry (its step no longer waits: the request is already resolved).
      await producer.send({
        topic: ns.topics.approvals,
        messages: [{ key: approvalId, value, headers: signedHeaders(stack.evaluatorKey, value) }],
      });
      const [first, again] = await stack.wire.until(() => (decisions().length >= 2 ? decisions() : undefined));
      expect(again).toEqual(first);
      expect(await unavailable('republished')).toBe(republishedBefore + 1);
      expect(dlq('APPROVAL_START_REFUSED')).toHaveLength(1);
      expect(await ledger()).toBe('expired');
    } finally {
      await producer.disconnect();
    }
    const { outcome, id } = await pending(deploy());
    await stack.approvers.approve(id, { credential: stack.keys.alice, comment: 'Served after the poison request' });
    expect((await outcome).decision).toBe('allow');
  });

  it('a block that cannot be recorded while Postgres answers is given up after 4 tries (failed), the step stays pending and the request goes to the dlq; delivered again once it can be, the step is blocked', async () => {
    const step = await unstartableApproval({ tenantLetter: 'u', workflowId: 'wf-unrecordable' });
    const { approvalId, request, value, ledger, dlq } = step;
    // Postgres answers, but refuses this tenant's outcome (a real error of the statement, not an outage).
    const trigger = await refusingTrigger(ns, {
      name: 'refuse_unrecordable_outcome',
      table: 'approval_outcomes',
      when: "new.tenant_id like 'uuu%'",
      message: 'outcomes of this tenant are refused',
    });
    const [failedBefore, blockedBefore] = [await unavailable('failed'), await unavailable('blocked')];
    const producer = ns.kafka.producer();
    await producer.connect();
    try {
      const send = () =>
        producer.send({
          topic: ns.topics.approvals,
          messages: [{ key: approvalId, value, headers: signedHeaders(stack.evaluatorKey, value) }],
        });
      await send();
      await stack.wire.until(() => (dlq().length === 1 ? true : undefined), 30_000);
      expect(await unavailable('failed')).toBe(failedBefore + 1);
      // The transaction that would have blocked it rolled back: nothing half-applied, nothing published.
      expect(await ledger()).toBe('pending');
      expect(
        stack.wire.json<GateDecision>(ns.topics['gate.decisions']).filter((d) => d.approval_id === approvalId),
      ).toEqual([]);

      await trigger.drop();
      await send();
      await stack.wire.until(() => (dlq().length === 2 ? true : undefined), 30_000);
      expect(await unavailable('blocked')).toBe(blockedBefore + 1);
      expect(await ledger()).toBe('expired');
      const [blocked] = await stack.wire.until(() => {
        const found = stack.wire
          .json<GateDecision>(ns.topics['gate.decisions'])
          .filter((d) => d.approval_id === approvalId);
        return found.length ? found : undefined;
      });
      expect(blocked).toMatchObject({
        decision_id: unavailableOutcomeIds(request).decision_id,
        decision: 'block',
        error: { code: 'APPROVAL_UNAVAILABLE' },
      });
    } finally {
      await producer.disconnect();
      await trigger.drop();
    }
  });

  it('a block recorded but that the broker refuses to publish is given up after 4 tries (failed), the request goes to the dlq; delivered again once it can be, the recorded block is published', async () => {
    const step = await unstartableApproval({ tenantLetter: 'p', workflowId: 'wf-unpublishable' });
    const { approvalId, request, value, ledger, dlq, decisions: published } = step;
    const [failedBefore, republishedBefore] = [await unavailable('failed'), await unavailable('republished')];
    const producer = ns.kafka.producer();
    await producer.connect();
    const send = () =>
      producer.send({
        topic: ns.topics.approvals,
        messages: [{ key: approvalId, value, headers: signedHeaders(stack.evaluatorKey, value) }],
      });
    try {
      // The broker answers, but refuses every record on gate.decisions (a real refusal, not an outage).
      await withTopicConfig(ns, ns.topics['gate.decisions'], { 'max.message.bytes': '64' }, async () => {
        await send();
        await stack.wire.until(() => (dlq().length === 1 ? true : undefined), 30_000);
        expect(await unavailable('failed')).toBe(failedBefore + 1);
        // Recorded (fail closed: a retry at the gate is refused), though nobody has heard of it yet.
        expect(await ledger()).toBe('expired');
        expect(published()).toEqual([]);
      });
      await send();
      const [blocked] = await stack.wire.until(() => (published().length ? published() : undefined), 30_000);
      expect(blocked).toMatchObject({
        decision_id: unavailableOutcomeIds(request).decision_id,
        decision: 'block',
        error: { code: 'APPROVAL_UNAVAILABLE' },
      });
      // Its block was recorded the first time: this delivery publishes it as recorded.
      expect(await unavailable('republished')).toBe(republishedBefore + 1);
    } finally {
      await producer.disconnect();
    }
  });

  it('an approval Temporal refuses to start: the orchestrator waiting on gate.decisions gets a signed block APPROVAL_UNAVAILABLE at once, and the workflow is aborted', async () => {
    const step = deploy();
    const undo = failStarts(step.workflow_id, async () => {
      throw new ServiceError('Failed to start Workflow', { cause: grpcError(3, 'search attribute too long') });
    });
    try {
      const started = performance.now();
      const d = await stack.gate.gate(step, { waitForApproval: true, timeoutMs: 30_000 });
      const request = await stack.wire.until(() =>
        stack.wire
          .json<ApprovalRequest>(ns.topics.approvals)
          .find((e) => e.type === 'approval.requested' && e.approval_id === d.approval_id),
      );
      const ids = unavailableOutcomeIds(request);
      expect(d).toMatchObject({
        decision_id: ids.decision_id,
        decision: 'block',
        decision_source: 'approval',
        approval_status: 'expired',
        tenant_id: TENANT,
        workflow_id: step.workflow_id,
        error: { code: 'APPROVAL_UNAVAILABLE' },
      });
      expect(verifyReceipt(d, publicKeyFromPem(stack.evaluatorKey.publicKeyPem))).toBe(true);
      console.info(
        `approval start refused → orchestrator (Kafka decision): ${(performance.now() - started).toFixed(0)} ms`,
      );
      // No run was started: nobody can approve it.
      expect(await stack.approvers.get(d.approval_id!)).toBeUndefined();
      expect((await stack.gate.gate({ ...step, retry_policy: 'idempotent' })).error?.code).toBe('WORKFLOW_TERMINAL');
    } finally {
      undo();
    }
  });

  it('a start whose answer was lost (it did start): nothing is blocked, since a run waits for that very decision; its approver decides and the Temporal orchestrator (reply_to) proceeds; the request is in the dlq', async () => {
    const waitingBefore = await unavailable('run_waiting');
    await withDeployOrchestrators(async (taskQueue) => {
      const workflowId = `orchestrator-${randomUUID()}`;
      // Every start starts (or finds) the run, then fails as if its answer was lost: of no known kind,
      // so the intake tries again a few times and then gives up on it.
      const undo = failStarts(workflowId, async (start) => {
        await start();
        throw new Error('the answer to the start was lost');
      });
      try {
        const handle = await stack.temporal.workflow.start(governedDeploy, { taskQueue, workflowId });
        const request = await stack.wire.until(() =>
          stack.wire
            .json<ApprovalRequest>(ns.topics.approvals)
            .find((e) => e.type === 'approval.requested' && e.workflow_id === workflowId),
        );
        const id = request.approval_id;
        await stack.wire.until(
          () =>
            stack.wire.seen.find(
              (m) =>
                m.topic === ns.topics.dlq &&
                m.key === id &&
                m.headers['stepgate-dlq-reason'] === 'APPROVAL_START_REFUSED',
            ),
          30_000,
        );
        expect(await unavailable('run_waiting')).toBe(waitingBefore + 1);
        const ledger = async () =>
          (
            await ns.pool.query<{ approval_status: string }>(
              'select approval_status from step_ledger where tenant_id = $1 and approval_id = $2',
              [TENANT, id],
            )
          ).rows;
        expect(await ledger()).toEqual([{ approval_status: 'pending' }]);
        expect((await stack.approvers.status(id)).status).toBe('pending');

        await stack.approvers.approve(id, { credential: stack.keys.alice, comment: 'The run that did start decides' });
        expect(await handle.result()).toMatchObject({ decision: 'allow', approval_status: 'approved', deployed: true });
        expect(await ledger()).toEqual([{ approval_status: 'approved' }]);
        const unavailableDecisions = stack.wire
          .json<GateDecision>(ns.topics['gate.decisions'])
          .filter((d) => d.approval_id === id && d.error?.code === 'APPROVAL_UNAVAILABLE');
        expect(unavailableDecisions).toEqual([]);
      } finally {
        undo();
      }
    });
  });
});
