// Who may decide an approval, on the real stack (Temporal, Kafka, Postgres): quorums of distinct proven
// approvers, escalation to a second role, statements of an approval gateway attesting a signed-in
// person, reply_to limited to what the tenant allows, and an approval that survives a cancellation request.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalEvent, AuditEvent, WorkflowAbortedEvent } from '@stepgate/contracts';
import type { GateClient, GateStepRequest } from '@stepgate/client';
import { ApprovalRefusedError, approvalWorkflowId } from '@stepgate/approvals-client';
import { eventually, rejection, testNamespace } from '@stepgate/test';
import {
  approvalPolicy,
  openApprovalsFixture,
  openBundle,
  pendingApproval,
  type ApprovalsFixture,
} from './approvals-fixture.js';
import { client, registerPrincipal, type Principal } from './pipeline.js';

const ns = testNamespace('approvals-quorum');
const TENANT = 'acme';
/** A tenant that allows no reply_to (the default). */
const CLOSED_TENANT = 'initech';
const approval = (name: string, config: Record<string, unknown>) =>
  approvalPolicy(name, name, { reason: `${name} needs a human`, ...config });
const bundle = (tenant: string) =>
  openBundle(tenant, [
    approval('deploy', { approvals_required: 2 }),
    // Reminder at half the timeout (the service's default fraction): the escalation fires at ~10 s.
    approval('hotfix', { timeout_seconds: 20, escalate_to_role: 'release-manager' }),
    approval('migrate', {}),
  ]);

let stack: ApprovalsFixture<'alice' | 'bob' | 'erin' | 'portal' | 'mallory'>;
let closedGate: GateClient;

beforeAll(async () => {
  let closedOrchestrator: Principal;
  stack = await openApprovalsFixture(ns, {
    tenant: TENANT,
    approvers: {
      alice: {},
      bob: {},
      erin: { roles: ['release-manager'] },
      portal: { roles: ['approval_gateway'] },
      mallory: { roles: [] },
    },
    prepare: async () => {
      closedOrchestrator = await registerPrincipal(ns, CLOSED_TENANT, 'orchestrator');
    },
    allowReplyTo: true,
    bundles: [bundle(TENANT), bundle(CLOSED_TENANT)],
    tap: ['approvals', 'audit', 'workflow.events'],
  });
  closedGate = client(ns, closedOrchestrator!, stack.evaluatorKey);
  await closedGate.connect();
}, 180_000);

afterAll(async () => {
  await closedGate?.disconnect();
  await stack?.close();
});

const step = (name: string, overrides: Partial<GateStepRequest> = {}): GateStepRequest => ({
  workflow_id: `orchestrator-${randomUUID()}`,
  step_id: `${name}-1`,
  step_name: name,
  step_type: 'tool_call',
  user_id: 'dev-1',
  tool_context: { tool_name: name, tool_input: { env: 'prod' } },
  ...overrides,
});

const pending = (s: GateStepRequest) => pendingApproval(stack, s, { outcomeMs: 60_000, startMs: 30_000 });

const refusalCode = async (p: Promise<unknown>): Promise<string> => (await rejection(p, ApprovalRefusedError)).code;

const comment = 'Reviewed the change and the rollout plan';
const person = (principal: string, roles: string[] = ['approver']) => ({
  issuer: 'https://login.example',
  subject: `sub-${principal}`,
  principal,
  roles,
});
const auditOf = (id: string) => stack.wire.json<AuditEvent>(ns.topics.audit).filter((a) => a.detail.approval_id === id);

describe('quorum (approvals_required: 2)', () => {
  it('the first approval leaves the step pending with who approved; the same approver twice is refused; a second approver releases it', async () => {
    const { id, outcome } = await pending(step('deploy'));
    expect(await stack.approvers.status(id)).toMatchObject({
      approvals_required: 2,
      approvals: [],
      eligible_roles: ['approver'],
    });

    const first = await stack.approvers.approve(id, { credential: stack.keys.alice, comment });
    expect(first).toMatchObject({ status: 'pending', approvals: [{ principal: 'alice' }] });
    expect(await refusalCode(stack.approvers.approve(id, { credential: stack.keys.alice, comment }))).toBe(
      'DUPLICATE_APPROVER',
    );
    expect(await stack.approvers.status(id)).toMatchObject({ status: 'pending', approvals: [{ principal: 'alice' }] });

    await stack.approvers.approve(id, { credential: stack.keys.bob, comment });
    expect(await outcome).toMatchObject({ decision: 'allow', approval_status: 'approved', approved_by: 'bob' });
    const granted = await stack.wire.until(() => auditOf(id).find((a) => a.action === 'ApprovalGranted'));
    expect((granted.detail.approvals as Array<{ principal: string }>).map((v) => v.principal)).toEqual([
      'alice',
      'bob',
    ]);
    expect(auditOf(id).map((a) => a.action)).toContain('ApprovalVoteRecorded');
  });

  it('one reject by a proven approver rejects after an approval, and aborts the workflow', async () => {
    const s = step('deploy');
    const { id, outcome } = await pending(s);
    await stack.approvers.approve(id, { credential: stack.keys.alice, comment });
    await stack.approvers.reject(id, { credential: stack.keys.bob, reason: 'Not during the change freeze' });
    expect(await outcome).toMatchObject({ decision: 'block', approval_status: 'rejected', approved_by: 'bob' });
    const aborted = await stack.wire.until(() =>
      stack.wire.json<WorkflowAbortedEvent>(ns.topics['workflow.events']).find((e) => e.approval_id === id),
    );
    expect(aborted.cause).toBe('approval_rejected');
    expect((await stack.gate.gate(step('deploy', { workflow_id: s.workflow_id, step_id: 'after' }))).error?.code).toBe(
      'WORKFLOW_TERMINAL',
    );
  });
});

describe('escalation (escalate_to_role: release-manager)', () => {
  it('undecided at the reminder: approval.escalated is published and audited, the status shows it, and a release manager may approve', async () => {
    const { id, outcome } = await pending(step('hotfix'));
    expect(await refusalCode(stack.approvers.approve(id, { credential: stack.keys.erin, comment }))).toBe(
      'NOT_AN_APPROVER',
    );
    const escalated = await stack.wire.until(
      () =>
        stack.wire
          .json<ApprovalEvent>(ns.topics.approvals)
          .find((e) => e.type === 'approval.escalated' && e.approval_id === id),
      30_000,
    );
    expect(escalated).toMatchObject({
      escalated_to_role: 'release-manager',
      eligible_roles: ['approver', 'release-manager'],
    });
    expect(await stack.approvers.status(id)).toMatchObject({ escalated: { to_role: 'release-manager' } });
    await stack.approvers.approve(id, { credential: stack.keys.erin, comment });
    expect(await outcome).toMatchObject({ decision: 'allow', approved_by: 'erin' });
    await stack.wire.until(() => auditOf(id).find((a) => a.action === 'ApprovalEscalated'));
  });
});

describe('approval-gateway statements', () => {
  it("a gateway's statement approves as the person it attests; the orchestrator gets allow", async () => {
    const { id, outcome } = await pending(step('migrate'));
    const state = await stack.approvers.approve(id, {
      credential: stack.keys.portal,
      comment,
      attestedUser: person('bob'),
    });
    expect(state.evidence).toMatchObject({
      principal: 'bob',
      gateway_principal: 'portal',
      attested_user: { issuer: 'https://login.example', subject: 'sub-bob' },
    });
    expect(await outcome).toMatchObject({ decision: 'allow', approved_by: 'bob' });
  });

  it('refused and still pending: an attestation signed by a key that is no gateway, a gateway key attesting nobody, the requester attested', async () => {
    const { id, outcome } = await pending(step('migrate'));
    expect(
      await refusalCode(
        stack.approvers.approve(id, { credential: stack.keys.alice, comment, attestedUser: person('bob') }),
      ),
    ).toBe('NOT_A_GATEWAY');
    expect(
      await refusalCode(
        stack.approvers.approve(id, { credential: stack.keys.mallory, comment, attestedUser: person('bob') }),
      ),
    ).toBe('NOT_A_GATEWAY');
    expect(await refusalCode(stack.approvers.approve(id, { credential: stack.keys.portal, comment }))).toBe(
      'GATEWAY_MUST_ATTEST',
    );
    expect(
      await refusalCode(
        stack.approvers.approve(id, { credential: stack.keys.portal, comment, attestedUser: person('dev-1') }),
      ),
    ).toBe('SELF_APPROVAL');
    expect(await stack.approvers.status(id)).toMatchObject({ status: 'pending' });
    await stack.approvers.reject(id, { credential: stack.keys.alice, reason: 'Cleaning up after the refusals' });
    expect(await outcome).toMatchObject({ decision: 'block' });
  });
});

describe('reply_to', () => {
  const replyTo = (workflowId: string, namespace = 'default') => ({
    temporal_workflow_id: workflowId,
    temporal_namespace: namespace,
    signal_name: 'stepgate.decision',
  });

  it("refused at intake with REPLY_TO_NOT_ALLOWED outside the tenant's namespaces and prefixes, and by default", async () => {
    const refusals = await Promise.all([
      // Another approval workflow (or anything not an orchestrator of the tenant's).
      stack.gate.gate(step('migrate', { reply_to: replyTo(approvalWorkflowId(randomUUID())) })),
      stack.gate.gate(step('migrate', { reply_to: replyTo(`orchestrator-${randomUUID()}`, 'payments-prod') })),
      // A tenant that configured nothing allows no reply_to at all.
      closedGate.gate(step('migrate', { reply_to: replyTo(`orchestrator-${randomUUID()}`) })),
    ]);
    for (const d of refusals) expect(d).toMatchObject({ decision: 'block', error: { code: 'REPLY_TO_NOT_ALLOWED' } });
    expect(refusals[0].error!.message).toContain('reply_to.temporal_workflow_id');
    expect(refusals[1].error!.message).toContain('reply_to.temporal_namespace');
  });

  it('an allowed reply_to is taken', async () => {
    const d = await stack.gate.gate(step('migrate', { reply_to: replyTo(`orchestrator-${randomUUID()}`) }));
    expect(d.decision).toBe('require_approval');
    await eventually(() => stack.approvers.status(d.approval_id!).catch(() => undefined), 'the approval', {
      timeout: 30_000,
    });
    await stack.approvers.reject(d.approval_id!, {
      credential: stack.keys.alice,
      reason: 'Only checking reply_to here',
    });
  });
});

describe('cancellation', () => {
  it('an approval workflow survives a cancellation request: it stays pending and a later approval releases the step', async () => {
    const { id, outcome } = await pending(step('migrate'));
    const handle = stack.temporal.workflow.getHandle(approvalWorkflowId(id));
    await handle.cancel();
    await eventually(async () => {
      const history = await handle.fetchHistory();
      return history.events?.some((e) => e.workflowExecutionCancelRequestedEventAttributes) ? true : undefined;
    }, 'the cancel request in the history');
    expect(await stack.approvers.status(id)).toMatchObject({ status: 'pending' });
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await stack.approvers.approve(id, { credential: stack.keys.alice, comment });
    expect(await outcome).toMatchObject({ decision: 'allow', approved_by: 'alice' });
    await eventually(
      async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined),
      'the approval workflow to complete',
    );
  });
});
