// An orchestrator workflow that gates its deploy and then only ends when it is cancelled: it shows
// that the approvals service, when so configured, cancels a reply_to workflow whose step was rejected.
import { condition, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ApprovalOutcomeSignal } from '@stepgate/contracts';
import { listenForApprovals } from '@stepgate/client/temporal/workflow';
import type { createGateActivities } from '@stepgate/client/temporal/activities';

const { gateStep } = proxyActivities<ReturnType<typeof createGateActivities>>({ startToCloseTimeout: '1 minute' });
export const outcomeQuery = defineQuery<ApprovalOutcomeSignal | null>('outcome');

export async function deployUntilCancelled(): Promise<void> {
  const approvals = listenForApprovals();
  let outcome: ApprovalOutcomeSignal | null = null;
  setHandler(outcomeQuery, () => outcome);
  const gated = await gateStep({
    workflow_id: workflowInfo().workflowId,
    step_id: 'deploy',
    step_name: 'deploy',
    step_type: 'tool_call',
    user_id: 'dev-1',
  });
  outcome = await approvals.waitFor(gated.approval_id!);
  await condition(() => false);
}
