// Replays the recorded histories of the approval workflow (test/histories/*.json, written by
// record-histories.ts) against the current workflow code: a change that would break approvals already
// running on the old code fails here with a nondeterminism error.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_SCENARIOS } from './history-scenarios.js';
import { bundleApprovalWorkflow } from './workflow-env.js';

const HISTORIES = new URL('./histories/', import.meta.url);
const fixtures = readdirSync(HISTORIES)
  .filter((f) => f.endsWith('.json'))
  .sort();
const history = (file: string): unknown => JSON.parse(readFileSync(new URL(file, HISTORIES), 'utf8'));

let current: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  current = await bundleApprovalWorkflow();
}, 120_000);

describe('approval workflow replay over recorded histories', () => {
  it('has a recorded history for every scenario of record-histories.ts', () => {
    expect(fixtures).toEqual(expect.arrayContaining(Object.keys(HISTORY_SCENARIOS).map((name) => `${name}.json`)));
  });

  it.each(fixtures)('the current workflow code replays %s deterministically', async (file) => {
    await Worker.runReplayHistory({ workflowBundle: current }, history(file), file);
  });

  it('a workflow that issues different commands fails to replay a recorded history with DeterminismViolationError', async () => {
    const changed = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./changed-workflow.ts', import.meta.url)),
    });
    const replay = Worker.runReplayHistory({ workflowBundle: changed }, history(fixtures[0]!), fixtures[0]);
    await expect(replay).rejects.toBeInstanceOf(DeterminismViolationError);
  }, 120_000);
});
