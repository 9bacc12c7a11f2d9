// The approval workflow alone, on Temporal's time-skipping test server with mocked activities: expiry
// and reminders are checked at their exact workflow times without waiting for them in real time.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalErrorCode } from '@stepgate/contracts';
import { ApprovalRefusedError } from '@stepgate/approvals-client';
import { statusQuery, type ApprovalInput } from '@stepgate/approvals-client/definitions';
import {
  approvalInput,
  approvalTestEnvironment,
  bundleApprovalWorkflow,
  mockActivities,
  withApproval as runApproval,
  type ApprovalRun,
} from './workflow-env.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  [env, workflowBundle] = await Promise.all([approvalTestEnvironment(), bundleApprovalWorkflow()]);
});

afterAll(async () => {
  await env?.teardown();
});

const withApproval = (
  input: ApprovalInput,
  mocks: ReturnType<typeof mockActivities>,
  body: (run: ApprovalRun) => Promise<void>,
) => runApproval(env, workflowBundle, input, mocks.activities, body);

async function refusalCode(p: Promise<unknown>): Promise<ApprovalErrorCode> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApprovalRefusedError);
  return (err as ApprovalRefusedError).code;
}

const msAfter = (later: string, earlier: string | number) =>
  Date.parse(later) - (typeof earlier === 'number' ? earlier : Date.parse(earlier));

describe('approval workflow (time-skipping test server, mocked activities)', () => {
  it('approve before expiry: the update returns the approved state; the outcome is recorded and published as approved, once', async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs());
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      const state = await approvers.approve(id, 'alice', '  Change ticket CHG-1234 reviewed  ');
      expect(state).toMatchObject({
        status: 'approved',
        decided_by: 'alice',
        comment: 'Change ticket CHG-1234 reviewed',
      });
      expect(await handle.result()).toMatchObject({ status: 'approved', decided_by: 'alice' });
    });
    expect(mocks.calls.announce).toHaveLength(1);
    expect(mocks.calls.isApprover).toEqual([{ tenant_id: 'acme', principal: 'alice' }]);
    expect(mocks.calls.recordOutcome).toEqual([
      expect.objectContaining({ status: 'approved', decided_by: 'alice', comment: 'Change ticket CHG-1234 reviewed' }),
    ]);
    expect(mocks.calls.publishOutcome).toHaveLength(1);
    expect(mocks.calls.publishOutcome[0]!.decision).toMatchObject({ decision: 'allow', approval_status: 'approved' });
    expect(mocks.calls.remind).toEqual([]);
    expect(mocks.calls.notifyOrchestrator).toEqual([]);
  });

  it('reject: the outcome is recorded as rejected with the reason, and the reply_to orchestrator is notified', async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs(), { replyTo: replyTo() });
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      expect(await approvers.reject(id, 'bob', 'No deploys during the freeze')).toMatchObject({ status: 'rejected' });
      expect(await handle.result()).toMatchObject({
        status: 'rejected',
        decided_by: 'bob',
        comment: 'No deploys during the freeze',
      });
    });
    expect(mocks.calls.recordOutcome).toEqual([
      expect.objectContaining({ status: 'rejected', decided_by: 'bob', comment: 'No deploys during the freeze' }),
    ]);
    expect(mocks.calls.publishOutcome[0]!.decision).toMatchObject({ decision: 'block', approval_status: 'rejected' });
    expect(mocks.calls.notifyOrchestrator).toEqual([
      { outcome: expect.objectContaining({ status: 'rejected' }), cancel: false },
    ]);
  });

  it('expiry: still pending a minute before expires_at, expired at expires_at (no decider), no reminder when none is configured', async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs(), { timeoutMs: HOUR, reminderFraction: null });
    await withApproval(input, mocks, async ({ handle }) => {
      await env.sleep(HOUR - MINUTE);
      expect((await handle.query(statusQuery)).status).toBe('pending');
      const state = await handle.result();
      expect(state).toMatchObject({ status: 'expired', decided_by: null, comment: null });
      const late = msAfter(state.decided_at!, input.expires_at);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThan(1_000);
    });
    expect(mocks.calls.recordOutcome).toEqual([expect.objectContaining({ status: 'expired', decided_by: null })]);
    expect(mocks.calls.publishOutcome[0]!.decision).toMatchObject({ decision: 'block', approval_status: 'expired' });
    expect(mocks.calls.remind).toEqual([]);
  });

  it('reminder: sent once at reminder_fraction of the wait, not before; an approval after it still counts', async () => {
    const mocks = mockActivities();
    const now = await env.currentTimeMs();
    const input = approvalInput(now, { timeoutMs: HOUR, reminderFraction: 0.5 });
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      await env.sleep(29 * MINUTE);
      expect(mocks.calls.remind).toEqual([]);
      await env.sleep(2 * MINUTE);
      await expect.poll(() => mocks.calls.remind.length).toBe(1);
      const reminder = mocks.calls.remind[0]!;
      expect(reminder).toMatchObject({ request: { approval_id: id }, expires_at: input.expires_at });
      const late = msAfter(reminder.reminded_at, now + 30 * MINUTE);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThan(1_000);
      await approvers.approve(id, 'alice', 'Seen the reminder, approving');
      expect((await handle.result()).status).toBe('approved');
    });
    expect(mocks.calls.remind).toHaveLength(1);
    expect(mocks.calls.recordOutcome).toEqual([expect.objectContaining({ status: 'approved' })]);
  });

  it('an expiry after a reminder: one reminder at the fraction, then expired', async () => {
    const mocks = mockActivities();
    const now = await env.currentTimeMs();
    const input = approvalInput(now, { timeoutMs: HOUR, reminderFraction: 0.75 });
    await withApproval(input, mocks, async ({ handle }) => {
      expect((await handle.result()).status).toBe('expired');
    });
    expect(mocks.calls.remind).toHaveLength(1);
    const late = msAfter(mocks.calls.remind[0]!.reminded_at, now + 45 * MINUTE);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(1_000);
    expect(mocks.calls.recordOutcome).toEqual([expect.objectContaining({ status: 'expired' })]);
  });

  it('refuses self-approval (principal, user or agent), a non-approver and short or missing input by their codes; the approval stays pending', async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs());
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      const why = 'Looks fine to me, approving';
      expect(await refusalCode(approvers.approve(id, 'orchestrator', why))).toBe('SELF_APPROVAL');
      expect(await refusalCode(approvers.approve(id, 'dev-1', why))).toBe('SELF_APPROVAL');
      expect(await refusalCode(approvers.reject(id, 'agent-7', why))).toBe('SELF_APPROVAL');
      expect(await refusalCode(approvers.approve(id, 'mallory', why))).toBe('NOT_AN_APPROVER');
      expect(await refusalCode(approvers.approve(id, 'alice', 'ok'))).toBe('INVALID_APPROVAL_INPUT');
      expect(await refusalCode(approvers.reject(id, '', why))).toBe('INVALID_APPROVAL_INPUT');
      expect(await refusalCode(approvers.reject(id, '   ', why))).toBe('INVALID_APPROVAL_INPUT');
      expect((await handle.query(statusQuery)).status).toBe('pending');
      await approvers.approve(id, 'alice', 'Reviewed the diff and the rollout plan');
      expect(await handle.result()).toMatchObject({ status: 'approved', decided_by: 'alice' });
    });
    expect(mocks.calls.recordOutcome).toHaveLength(1);
  });

  it('after a decision, approve and reject are refused with APPROVAL_ALREADY_RESOLVED, while the workflow runs and once it closed', async () => {
    const mocks = mockActivities({ holdOutcome: true });
    const input = approvalInput(await env.currentTimeMs());
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      await approvers.approve(id, 'alice', 'Change ticket CHG-1234 reviewed');
      await expect.poll(() => mocks.calls.recordOutcome.length).toBe(1); // the workflow runs on, held there
      expect(await refusalCode(approvers.reject(id, 'bob', 'Too late to change my mind'))).toBe(
        'APPROVAL_ALREADY_RESOLVED',
      );
      expect(await refusalCode(approvers.approve(id, 'bob', 'Approving a second time'))).toBe(
        'APPROVAL_ALREADY_RESOLVED',
      );
      mocks.releaseOutcome();
      expect(await handle.result()).toMatchObject({ status: 'approved', decided_by: 'alice' });
      expect(await refusalCode(approvers.reject(id, 'bob', 'Rejecting the closed one'))).toBe(
        'APPROVAL_ALREADY_RESOLVED',
      );
    });
    expect(mocks.calls.recordOutcome).toHaveLength(1);
  });

  it('after expiry, approve and reject are refused with APPROVAL_EXPIRED, while the workflow runs and once it closed', async () => {
    const mocks = mockActivities({ holdOutcome: true });
    const input = approvalInput(await env.currentTimeMs(), { timeoutMs: HOUR, reminderFraction: null });
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      // Skip exactly to expires_at: the held activity locks time skipping, so a sleep past it would be real.
      await env.sleep(Date.parse(input.expires_at) - (await env.currentTimeMs()));
      await expect.poll(() => mocks.calls.recordOutcome.length).toBe(1); // expired, held in recordOutcome
      expect(await refusalCode(approvers.approve(id, 'alice', 'Approving after the deadline'))).toBe(
        'APPROVAL_EXPIRED',
      );
      expect(await refusalCode(approvers.reject(id, 'bob', 'Rejecting after the deadline'))).toBe('APPROVAL_EXPIRED');
      mocks.releaseOutcome();
      expect((await handle.result()).status).toBe('expired');
      expect(await refusalCode(approvers.approve(id, 'alice', 'Approving the closed one'))).toBe('APPROVAL_EXPIRED');
    });
  });
});

function replyTo() {
  return { temporal_workflow_id: 'orchestrator-1', temporal_namespace: 'default', signal_name: 'stepgate.decision' };
}
