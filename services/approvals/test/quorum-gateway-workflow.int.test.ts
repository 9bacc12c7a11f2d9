// Quorums, escalation, approval-gateway statements, cancellation and webhook notifications of the
// approval workflow, on Temporal's time-skipping test server with mocked activities.
import { describe, expect, it } from 'vitest';
import type { AttestedUser } from '@stepgate/contracts';
import type { Approvers } from '@stepgate/approvals-client';
import { signApprovalStatement } from '@stepgate/contracts/node';
import { approvalInput, KEYS, mockActivities } from './workflow-env.js';
import { approvalWorkflowSuite, refusalCode } from './workflow-suite.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;

const { env, withApproval } = approvalWorkflowSuite();

async function approve(approvers: Approvers, id: string, who: keyof typeof KEYS, attestedUser?: AttestedUser) {
  return approvers.approve(id, {
    credential: KEYS[who],
    comment: 'Reviewed the change and the rollout plan',
    signedAt: new Date(await env.currentTimeMs()),
    ...(attestedUser ? { attestedUser } : {}),
  });
}

const person = (principal: string, roles = ['approver'], subject = `sub-${principal}`): AttestedUser => ({
  issuer: 'https://login.example',
  subject,
  principal,
  roles,
});

const quorum = (n: number, extra: { escalate_to_role?: string | null; approver_role?: string } = {}) => ({
  approvals_required: n,
  approver_role: extra.approver_role ?? 'approver',
  escalate_to_role: extra.escalate_to_role ?? null,
});

describe('quorum', () => {
  it('2 of N: the first approval leaves it pending with who approved so far; the second distinct approver releases it', async () => {
    const mocks = mockActivities();
    await withApproval(approvalInput(await env.currentTimeMs(), { rule: quorum(2) }), mocks, async (run) => {
      const first = await approve(run.approvers, run.id, 'alice');
      expect(first).toMatchObject({ status: 'pending', approvals_required: 2, approvals: [{ principal: 'alice' }] });
      expect(await run.approvers.status(run.id)).toMatchObject({ approvals: [{ principal: 'alice' }] });
      expect(await refusalCode(approve(run.approvers, run.id, 'alice'))).toBe('DUPLICATE_APPROVER');
      const second = await approve(run.approvers, run.id, 'bob');
      expect(second).toMatchObject({ status: 'approved', decided_by: 'bob' });
      expect(second.approvals!.map((v) => v.principal)).toEqual(['alice', 'bob']);
      await run.handle.result();
    });
    expect(mocks.calls.recordVote).toEqual([expect.objectContaining({ principal: 'alice', approvals: 1 })]);
    expect(mocks.calls.recordOutcome).toEqual([
      expect.objectContaining({
        status: 'approved',
        approvals: [expect.objectContaining({ principal: 'alice' }), expect.objectContaining({ principal: 'bob' })],
      }),
    ]);
  });

  it('one reject rejects, whatever approvals came before', async () => {
    const mocks = mockActivities();
    await withApproval(approvalInput(await env.currentTimeMs(), { rule: quorum(3) }), mocks, async (run) => {
      await approve(run.approvers, run.id, 'alice');
      const rejected = await run.approvers.reject(run.id, {
        credential: KEYS.bob,
        reason: 'Not during the change freeze',
        signedAt: new Date(await env.currentTimeMs()),
      });
      expect(rejected).toMatchObject({ status: 'rejected', decided_by: 'bob' });
      await run.handle.result();
    });
  });

  it('the same person through the gateway after approving with a key of the same principal is a duplicate', async () => {
    const mocks = mockActivities();
    await withApproval(approvalInput(await env.currentTimeMs(), { rule: quorum(2) }), mocks, async (run) => {
      await approve(run.approvers, run.id, 'alice');
      expect(await refusalCode(approve(run.approvers, run.id, 'portal', person('alice')))).toBe('DUPLICATE_APPROVER');
      await approve(run.approvers, run.id, 'portal', person('bob'));
      await run.handle.result();
    });
  });

  it("the policy's approver role decides who is eligible", async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs(), { rule: quorum(1, { approver_role: 'release-manager' }) });
    await withApproval(input, mocks, async (run) => {
      expect(await refusalCode(approve(run.approvers, run.id, 'alice'))).toBe('NOT_AN_APPROVER');
      expect(await approve(run.approvers, run.id, 'erin')).toMatchObject({ status: 'approved', decided_by: 'erin' });
      await run.handle.result();
    });
  });
});

describe('escalation', () => {
  it('when the reminder fires undecided, the escalation role becomes eligible, published and in the status', async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs(), {
      timeoutMs: HOUR,
      reminderFraction: 0.5,
      rule: quorum(1, { escalate_to_role: 'release-manager' }),
    });
    await withApproval(input, mocks, async (run) => {
      expect(await refusalCode(approve(run.approvers, run.id, 'erin'))).toBe('NOT_AN_APPROVER');
      await env.sleep(31 * MINUTE);
      const status = await run.approvers.status(run.id);
      expect(status).toMatchObject({
        status: 'pending',
        escalated: { to_role: 'release-manager' },
        eligible_roles: ['approver', 'release-manager'],
      });
      expect(await approve(run.approvers, run.id, 'erin')).toMatchObject({ status: 'approved', decided_by: 'erin' });
      await run.handle.result();
    });
    expect(mocks.calls.escalate).toEqual([
      expect.objectContaining({
        escalated_to_role: 'release-manager',
        eligible_roles: ['approver', 'release-manager'],
      }),
    ]);
  });

  it('an approval decided before the reminder does not escalate', async () => {
    const mocks = mockActivities();
    const input = approvalInput(await env.currentTimeMs(), {
      rule: quorum(1, { escalate_to_role: 'release-manager' }),
    });
    await withApproval(input, mocks, async (run) => {
      await approve(run.approvers, run.id, 'alice');
      await run.handle.result();
    });
    expect(mocks.calls.escalate).toEqual([]);
  });
});

describe('approval-gateway statements', () => {
  it('a gateway statement approves as the attested person, with issuer and subject in the evidence', async () => {
    const mocks = mockActivities();
    await withApproval(approvalInput(await env.currentTimeMs()), mocks, async (run) => {
      const state = await approve(run.approvers, run.id, 'portal', person('bob'));
      expect(state).toMatchObject({
        status: 'approved',
        decided_by: 'bob',
        evidence: {
          principal: 'bob',
          gateway_principal: 'portal',
          attested_user: { issuer: 'https://login.example', subject: 'sub-bob', principal: 'bob' },
        },
      });
      await run.handle.result();
    });
  });

  it('refused: attested by a key that is no gateway, a gateway key attesting nobody, a person without the role, the requester, a malformed attestation', async () => {
    const mocks = mockActivities();
    await withApproval(approvalInput(await env.currentTimeMs()), mocks, async (run) => {
      expect(await refusalCode(approve(run.approvers, run.id, 'alice', person('bob')))).toBe('NOT_A_GATEWAY');
      expect(await refusalCode(approve(run.approvers, run.id, 'portal'))).toBe('GATEWAY_MUST_ATTEST');
      expect(await refusalCode(approve(run.approvers, run.id, 'portal', person('bob', ['viewer'])))).toBe(
        'NOT_AN_APPROVER',
      );
      // The requesting user (dev-1) signed in at the provider: subject or principal, refused either way.
      expect(await refusalCode(approve(run.approvers, run.id, 'portal', person('dev-1')))).toBe('SELF_APPROVAL');
      expect(
        await refusalCode(approve(run.approvers, run.id, 'portal', person('someone', ['approver'], 'dev-1'))),
      ).toBe('SELF_APPROVAL');
      const malformed = signApprovalStatement(
        {
          approval_id: run.id,
          action_digest: (await run.approvers.status(run.id)).action_digest!,
          decision: 'approve',
          comment_or_reason: 'Reviewed the change and the rollout plan',
          signed_at: new Date(await env.currentTimeMs()).toISOString(),
          key_id: KEYS.portal.key_id,
          attested_user: { ...person('bob'), roles: 'approver' } as unknown as AttestedUser,
        },
        KEYS.portal.private_key,
      );
      expect(await refusalCode(run.approvers.submit(run.id, 'approve', malformed))).toBe('INVALID_APPROVAL_INPUT');
      expect(await run.approvers.status(run.id)).toMatchObject({ status: 'pending' });
      await approve(run.approvers, run.id, 'portal', person('bob'));
      await run.handle.result();
    });
  });
});

describe('cancellation', () => {
  it('a cancellation request is a no-op: the approval still waits, and a later approval decides it', async () => {
    const mocks = mockActivities();
    await withApproval(approvalInput(await env.currentTimeMs()), mocks, async (run) => {
      await run.approvers.status(run.id);
      await run.handle.cancel();
      await env.sleep(MINUTE);
      expect(await run.approvers.status(run.id)).toMatchObject({ status: 'pending' });
      expect(await approve(run.approvers, run.id, 'alice')).toMatchObject({ status: 'approved' });
      expect(await run.handle.result()).toMatchObject({ status: 'approved', decided_by: 'alice' });
    });
    expect(mocks.calls.publishOutcome).toHaveLength(1);
  });
});

describe('webhook notifications', () => {
  it('requested, reminded, escalated and decided go to every webhook; a delivery that fails for good is audited and the approval goes on', async () => {
    const mocks = mockActivities({ webhooks: ['whk_one', 'whk_two'], failWebhooks: true });
    const input = approvalInput(await env.currentTimeMs(), {
      timeoutMs: HOUR,
      rule: quorum(1, { escalate_to_role: 'release-manager' }),
    });
    await withApproval(input, mocks, async (run) => {
      await env.sleep(31 * MINUTE);
      await approve(run.approvers, run.id, 'alice');
      expect(await run.handle.result()).toMatchObject({ status: 'approved' });
    });
    const sent = mocks.calls.deliverWebhook.map((d) => `${d.event}:${d.webhook_id}`).sort();
    expect(sent).toEqual(
      ['approval.requested', 'approval.reminded', 'approval.escalated', 'approval.decided']
        .flatMap((e) => [`${e}:whk_one`, `${e}:whk_two`])
        .sort(),
    );
    expect(mocks.calls.deliverWebhook.find((d) => d.event === 'approval.decided')!.state).toMatchObject({
      status: 'approved',
    });
    expect(mocks.calls.auditWebhookFailure).toHaveLength(8);
    expect(new Set(mocks.calls.deliverWebhook.map((d) => d.delivery_id)).size).toBe(8);
  });
});
