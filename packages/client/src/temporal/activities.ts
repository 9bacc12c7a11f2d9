// For orchestrators that are Temporal workflows: the gate as an activity. The activity names its own
// workflow in `reply_to`, so the approvals service signals the workflow with the approval's outcome.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { GateDecision } from '@stepgate/contracts';
import type { GateClient, GateStepRequest } from '../gate-client.js';
import { RefusedLocallyError } from '../local-refusal.js';
import { DEFAULT_DECISION_SIGNAL } from './workflow.js';

export type GatedStep = Pick<GateDecision, 'decision' | 'reason' | 'request_id' | 'decision_id'> & {
  approval_id?: string;
  error_code?: string;
};

export function createGateActivities(client: GateClient, signalName = DEFAULT_DECISION_SIGNAL) {
  return {
    /** Retries are safe: a retried gate of the same step returns the stored decision (`idempotent`). */
    async gateStep(step: GateStepRequest): Promise<GatedStep> {
      const info = Context.current().info;
      const workflowId = info.workflowExecution?.workflowId;
      const d = await gateOrFail(client, {
        retry_policy: 'idempotent',
        ...(workflowId
          ? {
              reply_to: {
                temporal_workflow_id: workflowId,
                temporal_namespace: info.workflowNamespace,
                signal_name: signalName,
              },
            }
          : {}),
        ...step,
      });
      return {
        decision: d.decision,
        reason: d.reason,
        request_id: d.request_id,
        decision_id: d.decision_id,
        ...(d.approval_id ? { approval_id: d.approval_id } : {}),
        ...(d.error ? { error_code: d.error.code } : {}),
      };
    },
  };
}

/**
 * A request the client refuses before sending would be refused on every attempt: it fails the activity
 * for good (type `RefusedLocallyError`, its code and field in `details`) instead of retrying.
 */
async function gateOrFail(client: GateClient, request: GateStepRequest): Promise<GateDecision> {
  try {
    return await client.gate(request);
  } catch (err) {
    if (!(err instanceof RefusedLocallyError)) throw err;
    throw ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: true,
      details: [{ code: err.code, path: err.path }],
      cause: err,
    });
  }
}
