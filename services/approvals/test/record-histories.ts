/**
 * Re-records the replay fixtures in test/histories/ from the CURRENT approval workflow, on the
 * time-skipping test server with mocked activities:
 *
 *   node --conditions=source --import tsx services/approvals/test/record-histories.ts [name ...]
 *
 * With STEPGATE_RECORD_ON=<host:port> the histories are recorded on that (running) Temporal server
 * in real time instead, e.g. when the test server's JVM cannot start in the SDK's 5 s on a busy machine.
 *
 * Only re-record when a workflow change is meant to be incompatible (no approval of the old code can
 * still be running); otherwise keep the old fixtures and add new ones: they are what replay.test.ts
 * proves the new code still replays.
 */
import { writeFile } from 'node:fs/promises';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { HISTORY_SCENARIOS } from './history-scenarios.js';
import { approvalTestEnvironment, bundleApprovalWorkflow, mockActivities, withApproval } from './workflow-env.js';

const names = process.argv.slice(2);
for (const name of names)
  if (!(name in HISTORY_SCENARIOS))
    throw new Error(`no scenario ${name}; known: ${Object.keys(HISTORY_SCENARIOS).join(', ')}`);

const existing = process.env.STEPGATE_RECORD_ON;
const [env, workflowBundle] = await Promise.all([
  existing ? TestWorkflowEnvironment.createFromExistingServer({ address: existing }) : approvalTestEnvironment(),
  bundleApprovalWorkflow(),
]);
try {
  for (const [name, scenario] of Object.entries(HISTORY_SCENARIOS)) {
    if (names.length && !names.includes(name)) continue;
    const mocks = mockActivities(scenario.mocks);
    await withApproval(
      env,
      workflowBundle,
      scenario.input(await env.currentTimeMs()),
      mocks.activities,
      async (run) => {
        await scenario.drive(run, { env, mocks });
        const history = await run.handle.fetchHistory();
        const file = new URL(`./histories/${name}.json`, import.meta.url);
        await writeFile(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`);
        console.info(`recorded ${name}: ${history.events?.length ?? 0} events`);
      },
    );
  }
} finally {
  await env.teardown();
}
