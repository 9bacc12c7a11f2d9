// For orchestrators that are Temporal workflows: wait durably for the outcome of a stepgate approval.
// Workflow-sandbox safe (imports only @temporalio/workflow and types).
import { condition, defineSignal, setHandler } from '@temporalio/workflow';
import type { ApprovalOutcomeSignal } from '@stepgate/contracts';

export const DEFAULT_DECISION_SIGNAL = 'stepgate.decision';

export class ApprovalWaitTimeout extends Error {
  constructor(readonly approvalId: string) {
    super(`no outcome for approval ${approvalId} in time`);
    this.name = 'ApprovalWaitTimeout';
  }
}

/**
 * Call once at the start of the workflow (before gating): registers the signal handler, so an outcome
 * that arrives before the workflow waits for it is kept, and returns a way to wait for one approval.
 */
export function listenForApprovals(signalName = DEFAULT_DECISION_SIGNAL) {
  const outcomes = new Map<string, ApprovalOutcomeSignal>();
  setHandler(defineSignal<[ApprovalOutcomeSignal]>(signalName), (outcome) => {
    outcomes.set(outcome.approval_id, outcome);
  });
  return {
    /** Resolves with the outcome (allow or block); throws ApprovalWaitTimeout after `timeout`, if given. */
    async waitFor(approvalId: string, timeout?: string | number): Promise<ApprovalOutcomeSignal> {
      const arrived = () => outcomes.has(approvalId);
      if (timeout === undefined) await condition(arrived);
      else if (!(await condition(arrived, timeout))) throw new ApprovalWaitTimeout(approvalId);
      return outcomes.get(approvalId)!;
    },
  };
}
