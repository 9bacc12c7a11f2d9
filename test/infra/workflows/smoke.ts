// Workflow code: deterministic, bundled apart from the activities and the worker.
import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type * as activities from '../activities/smoke.js';

export const approveSignal = defineSignal<[string]>('approve');
export const stateQuery = defineQuery<string>('state');

const { describeApproval } = proxyActivities<typeof activities>({ startToCloseTimeout: '10 seconds' });

export async function smokeWorkflow(subject: string): Promise<string> {
  let approver: string | undefined;
  let state = 'waiting';
  setHandler(approveSignal, (by) => {
    approver = by;
  });
  setHandler(stateQuery, () => state);
  await condition(() => approver !== undefined);
  state = 'approved';
  return describeApproval(subject, approver!);
}
