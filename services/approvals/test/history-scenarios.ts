/**
 * The paths through the approval workflow whose histories are kept as replay fixtures
 * (test/histories/<name>.json, written by record-histories.ts, replayed by replay.test.ts).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ApprovalInput } from '@stepgate/approvals-client/definitions';
import { approvalInput, type ApprovalRun, type mockActivities } from './workflow-env.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;

export interface HistoryScenario {
  input(nowMs: number): ApprovalInput;
  /** Drives the started workflow to its end. */
  drive(
    run: ApprovalRun,
    ctx: { env: TestWorkflowEnvironment; mocks: ReturnType<typeof mockActivities> },
  ): Promise<void>;
}

const replyTo = {
  temporal_workflow_id: 'orchestrator-1',
  temporal_namespace: 'default',
  signal_name: 'stepgate.decision',
};

async function until(check: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 20_000; !check();) {
    if (Date.now() > end) throw new Error(`${what}: not within 20 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const HISTORY_SCENARIOS: Record<string, HistoryScenario> = {
  approved: {
    input: (now) => approvalInput(now, { timeoutMs: HOUR }),
    async drive({ id, handle, approvers }) {
      await approvers.approve(id, 'alice', 'Change ticket CHG-1234 reviewed');
      await handle.result();
    },
  },
  'rejected-with-reply-to': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, replyTo }),
    async drive({ id, handle, approvers }) {
      await approvers.reject(id, 'bob', 'No deploys during the freeze');
      await handle.result();
    },
  },
  'expired-without-reminder': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, reminderFraction: null }),
    async drive({ handle }) {
      await handle.result();
    },
  },
  'reminded-then-expired-with-reply-to': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, reminderFraction: 0.5, replyTo }),
    async drive({ handle }) {
      await handle.result();
    },
  },
  'reminded-then-approved': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, reminderFraction: 0.5 }),
    async drive({ id, handle, approvers }, { env, mocks }) {
      await env.sleep(31 * MINUTE);
      await until(() => mocks.calls.remind.length === 1, 'the reminder');
      await approvers.approve(id, 'alice', 'Seen the reminder, approving');
      await handle.result();
    },
  },
  // A refusal decided inside the update handler (after the role lookup) is in the history; the
  // validator's refusals (self-approval, short comments) are not.
  'not-an-approver-then-approved': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR }),
    async drive({ id, handle, approvers }) {
      await approvers.approve(id, 'mallory', 'Looks good to me, ship it').then(
        () => Promise.reject(new Error('mallory was let approve')),
        () => undefined,
      );
      await approvers.approve(id, 'alice', 'Reviewed the diff and the rollout plan');
      await handle.result();
    },
  },
};
