import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateDecision } from '@stepgate/contracts';
import { ApprovalsService } from '@stepgate/approvals';
import { eventually, Relay, testNamespace } from '@stepgate/test';
import { deployUntilCancelled, outcomeQuery } from './workflows/wait-for-cancel.js';
import {
  approvalPolicy,
  openApprovalsFixture,
  openBundle,
  withOrchestratorWorker,
  type ApprovalsFixture,
} from './approvals-fixture.js';
import { approvalsConfig } from './pipeline.js';

const ns = testNamespace('approvals-restart');
const TENANT = 'acme';
const PENDING = 100;
const root = fileURLToPath(new URL('..', import.meta.url));

let stack: ApprovalsFixture<'alice'>;
let child: ChildProcess | undefined;
let replacement: ApprovalsService | undefined;

beforeAll(async () => {
  stack = await openApprovalsFixture(ns, {
    tenant: TENANT,
    approvers: { alice: {} },
    // The orchestrator workflows these tests start name themselves in reply_to.
    allowReplyTo: true,
    bundles: [openBundle(TENANT, [approvalPolicy('approve-deploys', 'deploy', { reason: 'Deploys need a human' })])],
    // The test runs the service: a child process it kills, then a replacement.
    service: false,
    tap: ['gate.decisions'],
  });
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await replacement?.stop();
  await stack?.close();
});

/** The approvals service as its own process (`services/approvals/src/main.ts`), configured by env only. */
function spawnApprovals(): ChildProcess {
  const dir = mkdtempSync(path.join(tmpdir(), 'stepgate-approvals-'));
  const keyFile = path.join(dir, 'signing.pem');
  writeFileSync(keyFile, stack.evaluatorKey.privateKeyPem, { mode: 0o600 });
  const config = approvalsConfig(ns, stack.evaluatorKey);
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'services/approvals/src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      KAFKA_BROKERS: config.kafkaBrokers.join(','),
      DATABASE_URL: config.databaseUrl,
      STEPGATE_DB_SCHEMA: config.databaseSchema,
      STEPGATE_TOPIC_PREFIX: config.topicPrefix,
      STEPGATE_APPROVALS_GROUP: config.groupId,
      TEMPORAL_ADDRESS: config.temporalAddress,
      STEPGATE_APPROVALS_TASK_QUEUE: config.taskQueue,
      STEPGATE_SIGNING_KEY_FILE: keyFile,
      STEPGATE_SIGNING_KEY_ID: config.signingKeyId,
      STEPGATE_SESSION_TIMEOUT_MS: String(config.sessionTimeoutMs),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return proc;
}

describe('approvals survive the worker being killed', () => {
  it(`kills the service while ${PENDING} approvals are pending; a new one resolves all of them correctly`, async () => {
    const t0 = performance.now();
    const lap = (what: string) => console.info(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    child = spawnApprovals();
    const asked = await Promise.all(
      Array.from({ length: PENDING }, (_, i) =>
        stack.gate.gate({
          workflow_id: `wf-${i}-${randomUUID()}`,
          step_id: 'deploy-prod',
          step_name: 'deploy',
          step_type: 'tool_call',
          user_id: 'dev-1',
        }),
      ),
    );
    expect(asked.filter((d) => d.decision !== 'require_approval')).toEqual([]);
    const ids = asked.map((d) => d.approval_id!);
    const allAnswerPending = (what: string) =>
      eventually(
        async () => {
          const states = await Promise.all(ids.map((id) => stack.approvers.status(id).catch(() => undefined)));
          return states.every((s) => s?.status === 'pending') ? true : undefined;
        },
        what,
        { timeout: 90_000, interval: 250 },
      );

    // Every approval workflow runs (its status query answers) on the child's worker.
    await allAnswerPending('all approvals pending');

    lap('all pending');
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;

    replacement = new ApprovalsService(
      approvalsConfig(ns, stack.evaluatorKey, { instanceId: `${ns.id}-replacement`, cancelOrchestratorOnReject: true }),
    );
    await replacement.start();

    lap('replacement started');
    // Queries fail fast (FAILED_PRECONDITION, no poller seen) until the replacement's worker has polled
    // every task-queue partition; approving reads the digest through one, so wait for them to answer.
    await allAnswerPending('all approvals answer on the replacement');
    // Even approvals are approved, odd ones rejected.
    const decide = (id: string, i: number) =>
      i % 2 === 0
        ? stack.approvers.approve(id, { credential: stack.keys.alice, comment: `Approved after the restart #${i}` })
        : stack.approvers.reject(id, { credential: stack.keys.alice, reason: `Rejected after the restart #${i}` });
    for (let i = 0; i < ids.length; i += 20) await Promise.all(ids.slice(i, i + 20).map((id, j) => decide(id, i + j)));

    lap('all decided');
    const outcomes = await eventually(
      async () => {
        const byId = new Map(
          stack.wire
            .json<GateDecision>(ns.topics['gate.decisions'])
            .filter((d) => d.decision_source === 'approval')
            .map((d) => [d.approval_id!, d]),
        );
        return ids.every((id) => byId.has(id)) ? byId : undefined;
      },
      'all approval decisions',
      { timeout: 90_000, interval: 250 },
    );
    lap('all outcomes published');
    ids.forEach((id, i) =>
      expect(outcomes.get(id)).toMatchObject({
        decision: i % 2 === 0 ? 'allow' : 'block',
        approval_status: i % 2 === 0 ? 'approved' : 'rejected',
        approved_by: 'alice',
      }),
    );

    const ledger = await ns.pool.query<{ approval_status: string; n: number }>(
      'select approval_status, count(*)::int as n from step_ledger where tenant_id = $1 group by 1 order by 1',
      [TENANT],
    );
    expect(ledger.rows).toEqual([
      { approval_status: 'approved', n: PENDING / 2 },
      { approval_status: 'rejected', n: PENDING / 2 },
    ]);
    const aborted = await ns.pool.query<{ n: number }>(
      "select count(*)::int as n from workflow_state where status = 'aborted'",
    );
    expect(aborted.rows[0]!.n).toBe(PENDING / 2);
  }, 240_000);

  it('with cancelOrchestratorOnReject, a rejected step also cancels the reply_to Temporal workflow', async () => {
    // The replacement service runs with the option on (set when it was started above).
    await withOrchestratorWorker(
      ns,
      {
        tenant: TENANT,
        evaluatorKey: stack.evaluatorKey,
        workflowsPath: new URL('./workflows/wait-for-cancel.ts', import.meta.url),
      },
      async (taskQueue) => {
        const handle = await stack.temporal.workflow.start(deployUntilCancelled, {
          taskQueue,
          workflowId: `orchestrator-${randomUUID()}`,
        });
        const approvalId = await eventually(
          async () => {
            const { rows } = await ns.pool.query<{ approval_id: string }>(
              "select approval_id from step_ledger where workflow_id = $1 and approval_status = 'pending'",
              [handle.workflowId],
            );
            const id = rows[0]?.approval_id;
            return id && (await stack.approvers.status(id).catch(() => undefined)) ? id : undefined;
          },
          'the approval',
          { timeout: 90_000, interval: 250 },
        );
        await stack.approvers.reject(approvalId, {
          credential: stack.keys.alice,
          reason: 'Rejected: cancel the orchestrator too',
        });
        await expect(handle.result()).rejects.toThrow();
        expect((await handle.describe()).status.name).toBe('CANCELLED');
        expect(await handle.query(outcomeQuery)).toMatchObject({
          approval_id: approvalId,
          decision: 'block',
          approval_status: 'rejected',
          decided_by: 'alice',
        });
      },
    );
  });

  it('stopping the service while Postgres is unreachable and a request waits for it takes seconds, not the outage; the next instance starts the approval', async () => {
    // Last: it stops the replacement, and runs an instance whose Postgres goes through a relay.
    await replacement?.stop();
    replacement = undefined;
    const url = new URL(ns.endpoints.databaseUrl);
    const relay = new Relay({ host: url.hostname, port: Number(url.port || 5432) });
    await relay.open();
    url.port = String(relay.port);
    const held = new ApprovalsService(
      approvalsConfig(ns, stack.evaluatorKey, { instanceId: `${ns.id}-held`, databaseUrl: url.toString() }),
    );
    await held.start();
    await relay.cut();
    const asked = await stack.gate.gate({
      workflow_id: `wf-held-${randomUUID()}`,
      step_id: 'deploy-prod',
      step_name: 'deploy',
      step_type: 'tool_call',
      user_id: 'dev-1',
    });
    expect(asked.decision).toBe('require_approval');
    // The scenario, not a synchronisation: the request meets Postgres unreachable and waits for it.
    await new Promise((r) => setTimeout(r, 3_000));
    const stopping = performance.now();
    await held.stop();
    // Before, the stop waited for the request's handler, which waited for Postgres: for the outage.
    expect(performance.now() - stopping).toBeLessThan(15_000);

    await relay.open();
    replacement = new ApprovalsService(approvalsConfig(ns, stack.evaluatorKey, { instanceId: `${ns.id}-after` }));
    await replacement.start();
    await eventually(
      async () =>
        (await stack.approvers.status(asked.approval_id!).catch(() => undefined))?.status === 'pending'
          ? true
          : undefined,
      'the approval started by the next instance',
      { timeout: 60_000, interval: 250 },
    );
    await relay.cut();
  }, 120_000);
});
