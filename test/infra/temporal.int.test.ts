import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
import * as activities from './activities/smoke.js';
import { approveSignal, smokeWorkflow, stateQuery } from './workflows/smoke.js';

const ns = testNamespace('temporal-smoke');
afterAll(() => ns.cleanup());

describe('temporal (real dev server, real worker)', () => {
  it('starts a workflow, signals it, and a real worker completes it', async () => {
    const workerConnection = await NativeConnection.connect({ address: ns.endpoints.temporalAddress });
    const worker = await Worker.create({
      connection: workerConnection,
      taskQueue: ns.taskQueue,
      workflowsPath: fileURLToPath(new URL('./workflows/smoke.ts', import.meta.url)),
      activities,
    });
    const connection = await Connection.connect({ address: ns.endpoints.temporalAddress });
    const client = new Client({ connection });
    try {
      const result = await worker.runUntil(async () => {
        const handle = await client.workflow.start(smokeWorkflow, {
          taskQueue: ns.taskQueue,
          workflowId: `smoke-${randomUUID()}`,
          args: ['deploy-to-prod'],
        });
        expect(await handle.query(stateQuery)).toBe('waiting');
        await handle.signal(approveSignal, 'alice');
        return handle.result();
      });
      expect(result).toBe('deploy-to-prod approved by alice');
    } finally {
      await connection.close();
      await workerConnection.close();
    }
  });
});
