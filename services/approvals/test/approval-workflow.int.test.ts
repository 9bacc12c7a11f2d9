// The approval workflow alone, on Temporal's time-skipping test server with mocked activities: expiry
// and reminders are checked at their exact workflow times without waiting for them in real time.
import { describe, expect, it } from 'vitest';
import type { Approvers } from '@stepgate/approvals-client';
import { signApprovalStatement } from '@stepgate/contracts/node';
import { statusQuery, type ApproveInput } from '@stepgate/approvals-client/definitions';
import { approvalInput, KEYS, mockActivities } from './workflow-env.js';
import { approvalWorkflowSuite, refusalCode } from './workflow-suite.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;

const { env, withApproval } = approvalWorkflowSuite();

/** Signs as `who` at the test server's time (time skipping moves it away from the wall clock). */
async function approve(approvers: Approvers, id: string, who: keyof typeof KEYS, comment: string) {
  return approvers.approve(id, { credential: KEYS[who], comment, signedAt: new Date(await env.currentTimeMs()) });
}
async function reject(approvers: Approvers, id: string, who: keyof typeof KEYS, reason: string) {
  return approvers.reject(id, { credential: KEYS[who], reason, signedAt: new Date(await env.currentTimeMs()) });
}

const msAfter = (later: string, earlier: string | number) =>
  Date.parse(later) - (typeof earlier === 'number' ? earlier : Date.parse(earlier));

describe('approval workflow (time-skipping test server, mocked activities)', () => {
  it('approve before expiry: the update returns the approved state; the outcome is recorded and published as approved, once', async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs());
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      const state = await approve(approvers, id, 'alice', '  Change ticket CHG-1234 reviewed  ');
      expect(state).toMatchObject({
        status: 'approved',
        decided_by: 'alice',
        comment: 'Change ticket CHG-1234 reviewed',
      });
      expect(await handle.result()).toMatchObject({ status: 'approved', decided_by: 'alice' });
    });
    expect(mocks.calls.announce).toHaveLength(1);
    expect(mocks.calls.isApprover).toEqual([]);
    expect(mocks.calls.proveApprover).toEqual([
      { signed: expect.objectContaining({ statement: expect.objectContaining({ key_id: KEYS.alice.key_id }) }) },
    ]);
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
      expect(await reject(approvers, id, 'bob', 'No deploys during the freeze')).toMatchObject({ status: 'rejected' });
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
      { outcome: expect.objectContaining({ status: 'rejected' }), cancel: false, kill_switch: null },
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
      await approve(approvers, id, 'alice', 'Seen the reminder, approving');
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

  it('refuses forged and unfit statements by their codes; the approval stays pending; a proper signature decides and is kept as evidence', async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs());
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      const why = 'Looks fine to me, approving';
      const digest = (await handle.query(statusQuery)).action_digest!;
      expect(digest).toMatch(/^[0-9a-f]{64}$/);
      const now = async () => new Date(await env.currentTimeMs());
      const statement = async (over: Partial<ApproveInput['statement']> = {}) => ({
        approval_id: id,
        action_digest: digest,
        decision: 'approve' as const,
        comment_or_reason: why,
        signed_at: (await now()).toISOString(),
        key_id: KEYS.alice.key_id,
        ...over,
      });
      // No signature at all: the old name-only update.
      const named = { approver: 'alice', comment: why } as unknown as ApproveInput;
      expect(await refusalCode(approvers.submit(id, 'approve', named))).toBe('UNAUTHENTICATED_APPROVER');
      // A statement naming alice's key, signed by mallory's; a key id no credential has.
      const forged = signApprovalStatement(await statement(), KEYS.mallory.private_key);
      expect(await refusalCode(approvers.submit(id, 'approve', forged))).toBe('UNAUTHENTICATED_APPROVER');
      const unknown = signApprovalStatement(await statement({ key_id: 'sgk_acme_nobody' }), KEYS.alice.private_key);
      expect(await refusalCode(approvers.submit(id, 'approve', unknown))).toBe('UNAUTHENTICATED_APPROVER');
      // Alice's signature, then the comment changed.
      const signed = signApprovalStatement(await statement(), KEYS.alice.private_key);
      const altered = { ...signed, statement: { ...signed.statement, comment_or_reason: 'Something else entirely' } };
      expect(await refusalCode(approvers.submit(id, 'approve', altered))).toBe('UNAUTHENTICATED_APPROVER');
      // Properly signed, by the wrong people.
      expect(await refusalCode(approve(approvers, id, 'mallory', why))).toBe('NOT_AN_APPROVER');
      expect(await refusalCode(approve(approvers, id, 'globex-boss', why))).toBe('WRONG_TENANT');
      expect(await refusalCode(approve(approvers, id, 'carol', why))).toBe('REVOKED_KEY');
      expect(await refusalCode(approve(approvers, id, 'orchestrator', why))).toBe('SELF_APPROVAL');
      expect(await refusalCode(approve(approvers, id, 'dev-1', why))).toBe('SELF_APPROVAL');
      // Alice's signature over something else: another approval, another digest, another time, another decision.
      const elsewhere = signApprovalStatement(
        await statement({ approval_id: '00000000-0000-4000-8000-000000000000' }),
        KEYS.alice.private_key,
      );
      expect(await refusalCode(approvers.submit(id, 'approve', elsewhere))).toBe('DIGEST_MISMATCH');
      const cred = KEYS.alice;
      expect(
        await refusalCode(
          approvers.approve(id, {
            credential: cred,
            comment: why,
            actionDigest: 'f'.repeat(64),
            signedAt: await now(),
          }),
        ),
      ).toBe('DIGEST_MISMATCH');
      const stale = new Date((await env.currentTimeMs()) - 6 * MINUTE);
      expect(await refusalCode(approvers.approve(id, { credential: cred, comment: why, signedAt: stale }))).toBe(
        'STALE_SIGNATURE',
      );
      const future = new Date((await env.currentTimeMs()) + 6 * MINUTE);
      expect(await refusalCode(approvers.approve(id, { credential: cred, comment: why, signedAt: future }))).toBe(
        'STALE_SIGNATURE',
      );
      const rejection = signApprovalStatement(await statement({ decision: 'reject' }), cred.private_key);
      expect(await refusalCode(approvers.submit(id, 'approve', rejection))).toBe('INVALID_APPROVAL_INPUT');
      expect(await refusalCode(approve(approvers, id, 'alice', 'ok'))).toBe('INVALID_APPROVAL_INPUT');
      expect((await handle.query(statusQuery)).status).toBe('pending');

      const state = await approve(approvers, id, 'alice', 'Reviewed the diff and the rollout plan');
      expect(state.evidence).toMatchObject({
        principal: 'alice',
        key_id: cred.key_id,
        alg: 'Ed25519',
        statement: { approval_id: id, action_digest: digest, decision: 'approve' },
      });
      expect(await handle.result()).toMatchObject({ status: 'approved', decided_by: 'alice' });
    });
    expect(mocks.calls.recordOutcome).toEqual([
      expect.objectContaining({ decided_by: 'alice', evidence: expect.objectContaining({ principal: 'alice' }) }),
    ]);
  });

  it('after a decision, approve and reject are refused with APPROVAL_ALREADY_RESOLVED, while the workflow runs and once it closed', async () => {
    const mocks = mockActivities({ holdOutcome: true });
    const input = approvalInput(await env.currentTimeMs());
    await withApproval(input, mocks, async ({ handle, approvers, id }) => {
      await approve(approvers, id, 'alice', 'Change ticket CHG-1234 reviewed');
      await expect.poll(() => mocks.calls.recordOutcome.length).toBe(1); // the workflow runs on, held there
      expect(await refusalCode(reject(approvers, id, 'bob', 'Too late to change my mind'))).toBe(
        'APPROVAL_ALREADY_RESOLVED',
      );
      expect(await refusalCode(approve(approvers, id, 'bob', 'Approving a second time'))).toBe(
        'APPROVAL_ALREADY_RESOLVED',
      );
      mocks.releaseOutcome();
      expect(await handle.result()).toMatchObject({ status: 'approved', decided_by: 'alice' });
      expect(await refusalCode(reject(approvers, id, 'bob', 'Rejecting the closed one'))).toBe(
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
      expect(await refusalCode(approve(approvers, id, 'alice', 'Approving after the deadline'))).toBe(
        'APPROVAL_EXPIRED',
      );
      expect(await refusalCode(reject(approvers, id, 'bob', 'Rejecting after the deadline'))).toBe('APPROVAL_EXPIRED');
      mocks.releaseOutcome();
      expect((await handle.result()).status).toBe('expired');
      expect(await refusalCode(approve(approvers, id, 'alice', 'Approving the closed one'))).toBe('APPROVAL_EXPIRED');
    });
  });
});

function replyTo() {
  return { temporal_workflow_id: 'orchestrator-1', temporal_namespace: 'default', signal_name: 'stepgate.decision' };
}
