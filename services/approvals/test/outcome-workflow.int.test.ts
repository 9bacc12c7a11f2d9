// What the approval workflow does with recordOutcome's answer, on Temporal's time-skipping test server
// with mocked activities: the kill-switch verdict it took is what the publication and the signal get.
import { describe, expect, it } from 'vitest';
import type { Approvers } from '@stepgate/approvals-client';
import { approvalInput, KEYS, mockActivities } from './workflow-env.js';
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
});
