/**
 * The approval workflow on Temporal's time-skipping test server, with its activities mocked (they are
 * the workflow's boundary: Postgres and Kafka stay out of a workflow test). Shared by the workflow
 * tests and the script that records the replay fixtures.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ApprovalRequest, DecisionBody } from '@stepgate/contracts';
import { timeSkippingEnvironment } from '@stepgate/test/time-skipping';
import { generateSigningKey, privateKeyFromPem } from '@stepgate/contracts/node';
import {
  proveApprover,
  type ApprovalActivities,
  type ApproverKeys,
  type KillSwitchVerdict,
  type LegacyOutcomeRecord,
  type OutcomeInput,
  type OutcomeRecord,
} from '../src/activities.js';
import { Approvers, type ApproverCredential } from '@stepgate/approvals-client';
import { approvalWorkflow } from '../src/workflows/approval.js';
import {
  approvalWorkflowId,
  GOVERNED_WORKFLOW_ATTRIBUTE,
  STATUS_ATTRIBUTE,
  TENANT_ATTRIBUTE,
  type ApprovalInput,
} from '@stepgate/approvals-client/definitions';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../src/workflows/index.ts', import.meta.url));

/** The workflow code as the worker runs it (workspace packages resolved to their TypeScript sources). */
export function bundleApprovalWorkflow(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    webpackConfigHook: (config) => ({
      ...config,
      resolve: { ...config.resolve, conditionNames: ['source', '...'] },
    }),
  });
}

/** A time-skipping environment whose server knows the approval workflow's search attributes. */
export function approvalTestEnvironment(): Promise<TestWorkflowEnvironment> {
  return timeSkippingEnvironment([TENANT_ATTRIBUTE.name, STATUS_ATTRIBUTE.name, GOVERNED_WORKFLOW_ATTRIBUTE.name]);
}

export const REQUESTER = { principal: 'orchestrator', user_id: 'dev-1', agent_id: 'agent-7' };
/** Principals holding the approver role in the mocked role lookup. */
export const APPROVERS = new Set(['alice', 'bob', 'dev-1', 'globex-boss', 'carol']);

/** The mocked credential table: one key per principal (tenant acme unless said; carol's key is revoked). */
const KEY_TABLE = new Map<
  string,
  { tenantId: string; principal: string; publicKeyPem: string; revokedAt: Date | null }
>();

function testKey(principal: string, tenant = 'acme', revoked = false): ApproverCredential {
  const key = generateSigningKey();
  const keyId = `sgk_${tenant}_${principal}`;
  KEY_TABLE.set(keyId, {
    tenantId: tenant,
    principal,
    publicKeyPem: key.publicKeyPem,
    revokedAt: revoked ? new Date(0) : null,
  });
  return { key_id: keyId, tenant_id: tenant, principal, private_key: privateKeyFromPem(key.privateKeyPem) };
}

/** Approver keys of the mocked credential table, by principal. */
export const KEYS = {
  alice: testKey('alice'),
  bob: testKey('bob'),
  'dev-1': testKey('dev-1'),
  orchestrator: testKey('orchestrator'),
  mallory: testKey('mallory'),
  'globex-boss': testKey('globex-boss', 'globex'),
  carol: testKey('carol', 'acme', true),
  /** An approval gateway (the control plane): attests signed-in people. */
  portal: testKey('portal'),
  /** Holds release-manager only: eligible once an approval escalates to that role. */
  erin: testKey('erin'),
};

/** Extra roles in the mocked role lookup (approval gateways, escalation roles). */
export const EXTRA_ROLES = new Map<string, string[]>([
  ['portal', ['approval_gateway']],
  ['erin', ['release-manager']],
]);

const mockKeys: ApproverKeys = {
  byKeyId: async (keyId) => KEY_TABLE.get(keyId),
  rolesOf: async (p) =>
    KEY_TABLE.has(`sgk_${p.tenantId}_${p.principal}`)
      ? [...(APPROVERS.has(p.principal) ? ['approver'] : []), ...(EXTRA_ROLES.get(p.principal) ?? [])]
      : [],
};

/** An approval request made at `nowMs` that expires `timeoutMs` later. */
export function approvalInput(
  nowMs: number,
  options: {
    timeoutMs?: number;
    reminderFraction?: number | null;
    replyTo?: ApprovalRequest['reply_to'];
    rule?: ApprovalRequest['approval_rule'];
  } = {},
): ApprovalInput {
  const requestedAt = new Date(nowMs);
  const timeoutMs = options.timeoutMs ?? 3_600_000;
  const request: ApprovalRequest = {
    type: 'approval.requested',
    approval_id: randomUUID(),
    tenant_id: 'acme',
    workflow_id: `wf-${randomUUID()}`,
    step_id: 'deploy-prod',
    step_name: 'deploy',
    step_type: 'tool_call',
    request_id: randomUUID(),
    decision_id: randomUUID(),
    requested_by: REQUESTER,
    reason: 'Deploys need a human',
    severity: 'high',
    timeout_seconds: timeoutMs / 1000,
    policies_matched: [
      {
        policy_id: 'approve-deploys',
        policy_name: 'approve-deploys',
        action: 'require_approval',
        reason: 'Deploys need a human',
        severity: 'high',
        allow_override: null,
      },
    ],
    inputs_summary: '{"env":"prod"}',
    reply_to: options.replyTo ?? null,
    requested_at: requestedAt.toISOString(),
    usage_increments: [],
    ...(options.rule ? { approval_rule: options.rule } : {}),
  };
  return {
    request,
    expires_at: new Date(nowMs + timeoutMs).toISOString(),
    reminder_fraction: options.reminderFraction === undefined ? 0.5 : options.reminderFraction,
    cancel_orchestrator_on_reject: false,
  };
}

type Calls = { [K in keyof ApprovalActivities]: Array<Parameters<ApprovalActivities[K]>[0]> };

/**
 * Activities that record their calls. `holdOutcome` keeps `recordOutcome` from returning until
 * `releaseOutcome()`: the workflow then stays open after it resolved, so late updates reach it.
 * `supersede`: `recordOutcome` finds the step decided again since (the outcome applies to nothing).
 * `killSwitch`: the verdict `recordOutcome` takes. `legacyOutcome`: it answers as before it took one
 * (the decision, or null when superseded).
 */
export function mockActivities(
  options: {
    holdOutcome?: boolean;
    webhooks?: string[];
    failWebhooks?: boolean;
    supersede?: boolean;
    killSwitch?: KillSwitchVerdict;
    legacyOutcome?: boolean;
  } = {},
) {
  const calls: Calls = {
    announce: [],
    isApprover: [],
    proveApprover: [],
    remind: [],
    recordVote: [],
    escalate: [],
    webhookTargets: [],
    deliverWebhook: [],
    auditWebhookFailure: [],
    recordOutcome: [],
    publishOutcome: [],
    notifyOrchestrator: [],
  };
  let release!: () => void;
  const released = options.holdOutcome ? new Promise<void>((r) => (release = r)) : Promise.resolve();
  const activities: ApprovalActivities = {
    async announce(input) {
      calls.announce.push(input);
    },
    async isApprover(input) {
      calls.isApprover.push(input);
      return input.tenant_id === 'acme' && APPROVERS.has(input.principal);
    },
    async proveApprover(input) {
      calls.proveApprover.push(input);
      return proveApprover(mockKeys, input.signed);
    },
    async remind(input) {
      calls.remind.push(input);
    },
    async recordVote(input) {
      calls.recordVote.push(input);
    },
    async escalate(input) {
      calls.escalate.push(input);
    },
    async webhookTargets(input) {
      calls.webhookTargets.push(input);
      return options.webhooks ?? [];
    },
    async deliverWebhook(input) {
      calls.deliverWebhook.push(input);
      if (options.failWebhooks) throw ApplicationFailure.nonRetryable('receiver down', 'WEBHOOK_DELIVERY_FAILED');
      return 'delivered';
    },
    async auditWebhookFailure(input) {
      calls.auditWebhookFailure.push(input);
    },
    async recordOutcome(o) {
      calls.recordOutcome.push(o);
      await released;
      if (options.legacyOutcome)
        return (options.supersede ? null : decisionFor(o)) satisfies LegacyOutcomeRecord as unknown as OutcomeRecord;
      return options.supersede
        ? { applied: false, superseded_by_decision_id: SUPERSEDING_DECISION_ID }
        : { applied: true, decision: decisionFor(o), kill_switch: options.killSwitch ?? null };
    },
    async publishOutcome(input) {
      calls.publishOutcome.push(input);
    },
    async notifyOrchestrator(input) {
      calls.notifyOrchestrator.push(input);
      return 'signalled';
    },
  };
  return { activities, calls, releaseOutcome: () => release?.() };
}

/** The step's decision that supersedes outcomes in the mocks' `supersede`. */
export const SUPERSEDING_DECISION_ID = '00000000-0000-4000-8000-00000000d00d';

function decisionFor(o: OutcomeInput): DecisionBody {
  const r = o.request;
  return {
    request_id: r.request_id,
    decision_id: o.decision_id,
    tenant_id: r.tenant_id,
    workflow_id: r.workflow_id,
    step_id: r.step_id,
    decision: o.status === 'approved' ? 'allow' : 'block',
    reason: `${o.status} (mocked recordOutcome)`,
    policies_evaluated: r.policies_matched,
    policies_matched: r.policies_matched,
    approval_id: r.approval_id,
    approval_status: o.status,
    ...(o.decided_by ? { approved_by: o.decided_by, approved_at: o.decided_at } : {}),
    retry_context: null,
    decision_source: 'approval',
    decided_at: o.decided_at,
  };
}

export interface ApprovalRun {
  id: string;
  handle: WorkflowHandleWithFirstExecutionRunId<typeof approvalWorkflow>;
  /** Approve, reject and status as the CLI does them, scoped to the run's task queue. */
  approvers: Approvers;
}

/**
 * Starts one approval workflow (id `approval-<approval_id>`, as the service does) on a fresh worker and
 * task queue of the environment, and keeps the worker running while `body` drives it.
 */
export async function withApproval(
  env: TestWorkflowEnvironment,
  workflowBundle: WorkflowBundleWithSourceMap,
  input: ApprovalInput,
  activities: ApprovalActivities,
  body: (run: ApprovalRun) => Promise<void>,
): Promise<void> {
  const taskQueue = `approval-test-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle,
    activities,
  });
  await worker.runUntil(async () => {
    const id = input.request.approval_id;
    const handle = await env.client.workflow.start(approvalWorkflow, {
      taskQueue,
      workflowId: approvalWorkflowId(id),
      args: [input],
    });
    await body({ id, handle, approvers: new Approvers(env.client, taskQueue) });
  });
}
