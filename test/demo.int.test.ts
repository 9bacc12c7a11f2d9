import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowAbortedEvent } from '@stepgate/contracts';
import { AuditService } from '@stepgate/audit';
import { eventually, testNamespace } from '@stepgate/test';
import { openApprovalsFixture, type ApprovalsFixture } from './approvals-fixture.js';
import { auditConfig } from './pipeline.js';
import { runDemo } from '../examples/demo/orchestrator.js';

// The `npm run dev` flow through every service on the real infrastructure: the evaluator, the
// approvals service on Temporal, the audit service into Postgres.
const ns = testNamespace('demo');
const bundle = JSON.parse(readFileSync(new URL('../examples/demo/bundle.json', import.meta.url), 'utf8')) as {
  tenant_id: string;
};
let stack: ApprovalsFixture<'alice' | 'bob'>;

beforeAll(async () => {
  stack = await openApprovalsFixture(ns, {
    tenant: 'demo',
    orchestrator: 'release-orchestrator',
    approvers: { alice: {}, bob: {} },
    bundles: [bundle],
    alongside: () => [new AuditService(auditConfig(ns))],
    tap: ['workflow.events'],
  });
});

afterAll(async () => {
  await stack?.close();
});

async function decideWhenStarted(approvalId: string, decide: (id: string) => Promise<unknown>): Promise<void> {
  await eventually(() => stack.approvers.status(approvalId).catch(() => undefined), `approval ${approvalId} to start`);
  await decide(approvalId);
}

/** The workflow's audited actions in order, once there are at least `atLeast` of them. */
async function auditActions(workflowId: string, atLeast: number): Promise<string[]> {
  return eventually(
    async () => {
      const { rows } = await ns.pool.query<{ action: string }>(
        'select action from audit_log where tenant_id = $1 and workflow_id = $2 order by seq',
        ['demo', workflowId],
      );
      return rows.length >= atLeast ? rows.map((r) => r.action) : undefined;
    },
    `${atLeast} audit rows of ${workflowId}`,
    { interval: 200 },
  );
}

describe('the demo flow through every service', () => {
  it('approved: allow, block (destructive SQL), block (background write), approval → allow, allow; all audited', async () => {
    const { workflowId, steps } = await runDemo({
      gate: stack.gate,
      log: () => undefined,
      onApprovalNeeded: (id) =>
        decideWhenStarted(id, (a) =>
          stack.approvers.approve(a, { credential: stack.keys.alice, comment: 'Release plan reviewed and approved' }),
        ),
    });
    expect(steps.map((s) => [s.name, s.decision, s.policy ?? s.error_code])).toEqual([
      ['summarize-ticket', 'allow', null],
      ['clean-up-orders', 'block', 'block-dangerous-sql'],
      ['sync-crm-overnight', 'block', null],
      ['deploy-to-production', 'require_approval', 'approve-production-deploys'],
      ['deploy-to-production', 'allow', 'approve-production-deploys'],
      ['announce-release', 'allow', null],
    ]);
    expect(steps[2]!.reason).toContain('background');
    expect(steps[4]!.approval_status).toBe('approved');

    const actions = await auditActions(workflowId, 11);
    expect(actions.filter((a) => a === 'GateEvaluated')).toHaveLength(6); // five steps, the deploy gated twice (ask, then wait)
    expect(actions).toEqual(expect.arrayContaining(['ApprovalRequested', 'ApprovalGranted', 'StepCompleted']));
    const verified = await ns.pool.query<{ n: number }>(
      "select count(*)::int as n from audit_log where tenant_id = 'demo' and row_hash is not null",
    );
    expect(verified.rows[0]!.n).toBeGreaterThanOrEqual(11);
  });

  it('rejected: the deploy is blocked, the workflow aborted, its next step refused; all audited', async () => {
    const { workflowId, steps } = await runDemo({
      gate: stack.gate,
      log: () => undefined,
      onApprovalNeeded: (id) =>
        decideWhenStarted(id, (a) =>
          stack.approvers.reject(a, { credential: stack.keys.bob, reason: 'Release freeze until Monday' }),
        ),
    });
    expect(steps.slice(3).map((s) => [s.name, s.decision, s.error_code])).toEqual([
      ['deploy-to-production', 'require_approval', null],
      ['deploy-to-production', 'block', null],
      ['announce-release', 'block', 'WORKFLOW_TERMINAL'],
    ]);
    const aborted = await stack.wire.until(() =>
      stack.wire.json<WorkflowAbortedEvent>(ns.topics['workflow.events']).find((e) => e.workflow_id === workflowId),
    );
    expect(aborted).toMatchObject({ cause: 'approval_rejected', tenant_id: 'demo' });
    const actions = await auditActions(workflowId, 10);
    expect(actions).toEqual(expect.arrayContaining(['ApprovalRequested', 'ApprovalRejected', 'WorkflowAborted']));
  });
});
