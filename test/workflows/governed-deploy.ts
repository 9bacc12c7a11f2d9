// An orchestrator that is itself a Temporal workflow: it gates its deploy step through stepgate and,
// when a human must decide, waits durably for the approval's outcome signal.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import { listenForApprovals } from '@stepgate/client/temporal/workflow';
import type { createGateActivities } from '@stepgate/client/temporal/activities';

const { gateStep } = proxyActivities<ReturnType<typeof createGateActivities>>({ startToCloseTimeout: '1 minute' });

export interface DeployResult {
  decision: string;
  approval_status?: string;
  decided_by?: string | null;
  /** Workflow time when the outcome signal was handled. */
  received_at?: string;
  deployed: boolean;
}

export async function governedDeploy(): Promise<DeployResult> {
  const approvals = listenForApprovals();
  const gated = await gateStep({
    workflow_id: workflowInfo().workflowId,
    step_id: 'deploy',
    step_name: 'deploy',
    step_type: 'tool_call',
    user_id: 'dev-1',
    tool_context: { tool_name: 'deploy', tool_input: { env: 'prod' } },
  });
  if (gated.decision !== 'require_approval') return { decision: gated.decision, deployed: gated.decision === 'allow' };
  const outcome = await approvals.waitFor(gated.approval_id!, '2 minutes');
  return {
    decision: outcome.decision,
    approval_status: outcome.approval_status,
    decided_by: outcome.decided_by,
    received_at: new Date().toISOString(),
    deployed: outcome.decision === 'allow',
  };
}
