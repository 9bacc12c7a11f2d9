/**
 * One time-skipping environment and one bundle of the approval workflow per test file, opened in
 * beforeAll and torn down in afterAll. Apart from workflow-env.ts because it imports vitest (the
 * replay recorder, a plain script, uses workflow-env.ts).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll } from 'vitest';
import { rejection } from '@stepgate/test/rejection';
import type { ApprovalErrorCode } from '@stepgate/contracts';
import { ApprovalRefusedError } from '@stepgate/approvals-client';
import type { ApprovalInput } from '@stepgate/approvals-client/definitions';
import {
  approvalTestEnvironment,
  bundleApprovalWorkflow,
  withApproval,
  type ApprovalRun,
  type mockActivities,
} from './workflow-env.js';

/** The test server's clock: its time and the time skipping it does while nothing else is pending. */
export type WorkflowClock = Pick<TestWorkflowEnvironment, 'currentTimeMs' | 'sleep'>;

export interface ApprovalWorkflowSuite {
  /** Usable in tests (not at module level): the environment is opened in beforeAll. */
  env: WorkflowClock;
  /** Starts one approval workflow on a fresh worker of the suite's environment and runs `body` against it. */
  withApproval: (
    input: ApprovalInput,
    mocks: ReturnType<typeof mockActivities>,
    body: (run: ApprovalRun) => Promise<void>,
  ) => Promise<void>;
}

/** Registers the suite's beforeAll and afterAll; call it at the top level of a test file. */
export function approvalWorkflowSuite(): ApprovalWorkflowSuite {
  let opened: TestWorkflowEnvironment | undefined;
  let workflowBundle: WorkflowBundleWithSourceMap;
  const environment = () => {
    if (!opened) throw new Error('approvalWorkflowSuite: the environment is opened in beforeAll');
    return opened;
  };

  beforeAll(async () => {
    [opened, workflowBundle] = await Promise.all([approvalTestEnvironment(), bundleApprovalWorkflow()]);
  });
  afterAll(async () => {
    await opened?.teardown();
  });

  return {
    env: {
      currentTimeMs: () => environment().currentTimeMs(),
      sleep: (duration) => environment().sleep(duration),
    },
    withApproval: (input, mocks, body) => withApproval(environment(), workflowBundle, input, mocks.activities, body),
  };
}

/** The code of the ApprovalRefusedError that `p` rejects with (fails the test if it resolves or rejects otherwise). */
export async function refusalCode(p: Promise<unknown>): Promise<ApprovalErrorCode> {
  return (await rejection(p, ApprovalRefusedError)).code;
}
