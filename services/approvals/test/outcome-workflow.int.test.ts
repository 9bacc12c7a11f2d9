// What the approval workflow does with recordOutcome's answer, on Temporal's time-skipping test server
// with mocked activities: the kill-switch verdict it took is what the publication and the signal get,
// and a superseded outcome shows as superseded (query, search attribute).
import { describe, expect, it } from 'vitest';
import type { Approvers } from '@stepgate/approvals-client';
import { STATUS_ATTRIBUTE, statusQuery } from '@stepgate/approvals-client/definitions';
import { approvalInput, KEYS, mockActivities, SUPERSEDING_DECISION_ID } from './workflow-env.js';
import { approvalWorkflowSuite } from './workflow-suite.js';

const { env, withApproval } = approvalWorkflowSuite();

const replyTo = {
  temporal_workflow_id: 'orchestrator-1',
  temporal_namespace: 'default',
  signal_name: 'stepgate.decision',
};
const killSwitch = { switch_id: '00000000-0000-4000-8000-0000000000aa', message: 'kill switch engaged by sre: loops' };

async function approve(approvers: Approvers, id: string) {
  const signedAt = new Date(await env.currentTimeMs());
  return approvers.approve(id, { credential: KEYS.alice, comment: 'Change ticket CHG-1234 reviewed', signedAt });
}

describe('approval workflow: the recorded outcome decides the effects (time-skipping test server, mocked activities)', () => {
  it.each([
    ['an engaged kill switch covered it', killSwitch],
    ['no kill switch covered it', null],
  ])(
    'the verdict recordOutcome took (%s) is passed to publishOutcome and notifyOrchestrator alike',
    async (_, verdict) => {
      const mocks = mockActivities(verdict ? { killSwitch: verdict } : {});
      await withApproval(
        approvalInput(await env.currentTimeMs(), { replyTo }),
        mocks,
        async ({ handle, approvers, id }) => {
          await approve(approvers, id);
          await handle.result();
        },
      );
      expect(mocks.calls.publishOutcome).toEqual([expect.objectContaining({ kill_switch: verdict })]);
      expect(mocks.calls.notifyOrchestrator).toEqual([expect.objectContaining({ kill_switch: verdict })]);
    },
  );

  it('recordOutcome answering as before it took a verdict (a decision): both get none, and check the switches', async () => {
    const mocks = mockActivities({ legacyOutcome: true });
    await withApproval(
      approvalInput(await env.currentTimeMs(), { replyTo }),
      mocks,
      async ({ handle, approvers, id }) => {
        await approve(approvers, id);
        expect(await handle.result()).toMatchObject({ status: 'approved' });
      },
    );
    expect(mocks.calls.publishOutcome).toHaveLength(1);
    expect(mocks.calls.publishOutcome[0]).not.toHaveProperty('kill_switch');
    expect(mocks.calls.notifyOrchestrator).toHaveLength(1);
    expect(mocks.calls.notifyOrchestrator[0]).not.toHaveProperty('kill_switch');
  });

  it('a superseded outcome: the query and the search attribute (what listings read) say superseded; nothing is published or signalled', async () => {
    const mocks = mockActivities({ supersede: true });
    await withApproval(
      approvalInput(await env.currentTimeMs(), { replyTo }),
      mocks,
      async ({ handle, approvers, id }) => {
        expect((await approve(approvers, id)).status).toBe('approved'); // the update answers before the outcome is recorded
        expect(await handle.result()).toMatchObject({ status: 'superseded' });
        expect(await handle.query(statusQuery)).toMatchObject({
          status: 'superseded',
          decided_by: 'alice',
          superseded: { resolution: 'approved', by_decision_id: SUPERSEDING_DECISION_ID },
        });
        expect((await handle.describe()).typedSearchAttributes.get(STATUS_ATTRIBUTE)).toBe('superseded');
      },
    );
    expect(mocks.calls.publishOutcome).toEqual([]);
    expect(mocks.calls.notifyOrchestrator).toEqual([]);
  });

  it('superseded as recordOutcome answered before (null): the query says superseded, by an unknown decision', async () => {
    const mocks = mockActivities({ supersede: true, legacyOutcome: true });
    await withApproval(approvalInput(await env.currentTimeMs()), mocks, async ({ handle, approvers, id }) => {
      await approve(approvers, id);
      await handle.result();
      expect(await handle.query(statusQuery)).toMatchObject({
        status: 'superseded',
        superseded: { resolution: 'approved', by_decision_id: null },
      });
    });
    expect(mocks.calls.publishOutcome).toEqual([]);
  });
});
