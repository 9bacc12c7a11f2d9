// A deliberately incompatible approval workflow, for replay.test.ts to show that replaying the
// recorded histories does catch a change: it waits on a timer where the real one first schedules the
// `announce` activity.
import { sleep } from '@temporalio/workflow';

export async function approvalWorkflow(): Promise<void> {
  await sleep('1 minute');
}
