/**
 * The paths through the approval workflow whose histories are kept as replay fixtures
 * (test/histories/<name>.json, written by record-histories.ts, replayed by replay.test.ts).
 *
 * approved, rejected-with-reply-to, reminded-then-approved and not-an-approver-then-approved.json were
 * recorded before signed approvals (decisions by name, no `signed-approvals` patch marker): they stay as
 * fixtures, proving approvals started on the old code still replay, but can no longer be recorded.
 *
 * signed-*.json, expired-without-reminder.json and reminded-then-expired-with-reply-to.json were recorded
 * before quorums, escalation, webhooks and the cancel-proof scope (no `webhooks-and-cancel-proof`
 * marker): keep them as they are; re-recording them would lose the proof that approvals started on
 * that code complete on this one. The scenarios below them are recorded on the current code, except:
 *
 * approved-then-superseded-with-reply-to.json was recorded before recordOutcome took the kill-switch
 * verdict and superseded runs showed their status (its recordOutcome answered null; no
 * `superseded-status` marker, no search-attribute upsert after it): keep it as it is too.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ApprovalInput } from '@stepgate/approvals-client/definitions';
import { approvalInput, KEYS, type ApprovalRun, type mockActivities } from './workflow-env.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;

export interface HistoryScenario {
  input(nowMs: number): ApprovalInput;
  /** How the mocked activities behave (webhooks to notify, deliveries failing). */
  mocks?: Parameters<typeof mockActivities>[0];
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

/** Signs as `who` at the test server's time. */
const signedBy = async (env: TestWorkflowEnvironment, who: keyof typeof KEYS) => ({
  credential: KEYS[who],
  signedAt: new Date(await env.currentTimeMs()),
});

const quorum = (n: number, escalateTo: string | null = null) => ({
  approvals_required: n,
  approver_role: 'approver',
  escalate_to_role: escalateTo,
});

export const HISTORY_SCENARIOS: Record<string, HistoryScenario> = {
  'signed-approved': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR }),
    async drive({ id, handle, approvers }, { env }) {
      await approvers.approve(id, { ...(await signedBy(env, 'alice')), comment: 'Change ticket CHG-1234 reviewed' });
      await handle.result();
    },
  },
  'signed-rejected-with-reply-to': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, replyTo }),
    async drive({ id, handle, approvers }, { env }) {
      await approvers.reject(id, { ...(await signedBy(env, 'bob')), reason: 'No deploys during the freeze' });
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
  'signed-reminded-then-approved': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, reminderFraction: 0.5 }),
    async drive({ id, handle, approvers }, { env, mocks }) {
      await env.sleep(31 * MINUTE);
      await until(() => mocks.calls.remind.length === 1, 'the reminder');
      await approvers.approve(id, { ...(await signedBy(env, 'alice')), comment: 'Seen the reminder, approving' });
      await handle.result();
    },
  },
  // Refusals decided inside the update handler (after the credential lookup) are in the history; the
  // validator's (no signature, digest, staleness, short comments) are not.
  'signed-refusals-then-approved': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR }),
    async drive({ id, handle, approvers }, { env }) {
      for (const who of ['mallory', 'globex-boss', 'carol', 'dev-1'] as const)
        await approvers.approve(id, { ...(await signedBy(env, who)), comment: 'Looks good to me, ship it' }).then(
          () => Promise.reject(new Error(`${who} was let approve`)),
          () => undefined,
        );
      await approvers.approve(id, {
        ...(await signedBy(env, 'alice')),
        comment: 'Reviewed the diff and the rollout plan',
      });
      await handle.result();
    },
  },
  'quorum-duplicate-then-approved-with-webhooks': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, rule: quorum(2) }),
    mocks: { webhooks: ['whk_a', 'whk_b'] },
    async drive({ id, handle, approvers }, { env }) {
      const comment = 'Reviewed the diff and the rollout plan';
      await approvers.approve(id, { ...(await signedBy(env, 'alice')), comment });
      await approvers.approve(id, { ...(await signedBy(env, 'alice')), comment }).then(
        () => Promise.reject(new Error('alice was let approve twice')),
        () => undefined,
      );
      await approvers.approve(id, { ...(await signedBy(env, 'bob')), comment });
      await handle.result();
    },
  },
  // Short enough to record in real time too (STEPGATE_RECORD_ON).
  'escalated-then-gateway-approved-webhook-failing': {
    input: (now) =>
      approvalInput(now, { timeoutMs: 60_000, reminderFraction: 0.25, rule: quorum(1, 'release-manager') }),
    mocks: { webhooks: ['whk_a'], failWebhooks: true },
    async drive({ id, handle, approvers }, { env, mocks }) {
      await env.sleep(16_000);
      await until(() => mocks.calls.escalate.length === 1, 'the escalation');
      await approvers.approve(id, {
        ...(await signedBy(env, 'portal')),
        attestedUser: {
          issuer: 'https://login.example',
          subject: 'sub-erin',
          principal: 'erin',
          roles: ['release-manager'],
        },
        comment: 'Escalated to me; approving the hotfix',
      });
      await handle.result();
    },
  },
  'approved-then-superseded-with-reply-to': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, replyTo }),
    mocks: { supersede: true },
    async drive({ id, handle, approvers }, { env }) {
      await approvers.approve(id, { ...(await signedBy(env, 'alice')), comment: 'Approving the deploy I saw' });
      await handle.result();
    },
  },
  'rejected-then-superseded': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR }),
    mocks: { supersede: true },
    async drive({ id, handle, approvers }, { env }) {
      await approvers.reject(id, { ...(await signedBy(env, 'bob')), reason: 'Rejecting the deploy I saw' });
      await handle.result();
    },
  },
  'approved-kill-switched-with-reply-to': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR, replyTo }),
    mocks: { killSwitch: { switch_id: '00000000-0000-4000-8000-0000000000ff', message: 'kill switch engaged: test' } },
    async drive({ id, handle, approvers }, { env }) {
      await approvers.approve(id, { ...(await signedBy(env, 'alice')), comment: 'Change ticket CHG-1234 reviewed' });
      await handle.result();
    },
  },
  'cancel-requested-then-rejected': {
    input: (now) => approvalInput(now, { timeoutMs: HOUR }),
    async drive({ id, handle, approvers }, { env }) {
      await approvers.status(id);
      await handle.cancel();
      await env.sleep(MINUTE);
      await approvers.reject(id, { ...(await signedBy(env, 'bob')), reason: 'Rejected after the cancel request' });
      await handle.result();
    },
  },
};
