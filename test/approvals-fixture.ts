/**
 * The stack the approval tests run on: the gate fixture's (namespace, evaluator, a tenant's orchestrator
 * and gate client, a tap) with registered approvers, the approvals service (unless the test runs its
 * own) and an approver-side Temporal client; and the orchestrator workflows' worker.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Client as TemporalClient } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createGateActivities } from '@stepgate/client/temporal/activities';
import { ApprovalsService, type ApprovalsConfig } from '@stepgate/approvals';
import { approverCredential, type ApproverCredential, type Approvers } from '@stepgate/approvals-client';
import type { GateStepRequest } from '@stepgate/client';
import type { ApprovalRequest } from '@stepgate/contracts';
import { eventually, type TestNamespace } from '@stepgate/test';
import { openGateFixture, type GateFixture, type GateFixtureOptions, type Startable } from './gate-fixture.js';
import {
  allowReplyTo,
  approvalsConfig,
  approversFor,
  client,
  registerApprover,
  registerPrincipal,
  type Principal,
} from './pipeline.js';

export interface ApprovalsFixtureOptions<Approver extends string> extends Omit<GateFixtureOptions, 'prepare'> {
  /** Registered before the services start: roles default to `approver`, the tenant to `tenant`. */
  approvers: Record<Approver, { roles?: string[]; tenant?: string }>;
  /** Lets `tenant`'s requests name the default reply_to allowance (orchestrator workflows name themselves). */
  allowReplyTo?: boolean;
  /** Runs once the principals are registered, before the bundles are applied and the services start. */
  prepare?: (keys: Record<Approver, ApproverCredential>) => Promise<void>;
  /** Overrides of the approvals service's config; `false` when the test runs the service itself. */
  service?: Partial<ApprovalsConfig> | false;
}

export interface ApprovalsFixture<Approver extends string> extends GateFixture {
  /** The orchestrator's key loaded as an approver credential (to try approving one's own step). */
  orchestratorCredential: ApproverCredential;
  keys: Record<Approver, ApproverCredential>;
  /** Signs with the evaluator's key; undefined when the options said `service: false`. */
  service: ApprovalsService | undefined;
  approvers: Approvers;
  temporal: TemporalClient;
}

/** Opens the stack on `ns`; a failed open closes what it had started. */
export async function openApprovalsFixture<Approver extends string>(
  ns: TestNamespace,
  options: ApprovalsFixtureOptions<Approver>,
): Promise<ApprovalsFixture<Approver>> {
  const keys = {} as Record<Approver, ApproverCredential>;
  let service: ApprovalsService | undefined;
  const gateFixture = await openGateFixture(ns, {
    ...options,
    prepare: async () => {
      for (const [principal, { roles, tenant }] of Object.entries(options.approvers) as Array<
        [Approver, { roles?: string[]; tenant?: string }]
      >)
        keys[principal] = await registerApprover(ns, tenant ?? options.tenant, principal, roles);
      if (options.allowReplyTo) await allowReplyTo(ns, options.tenant);
      await options.prepare?.(keys);
    },
    alongside: (evaluatorKey): Startable[] => {
      if (options.service !== false)
        service = new ApprovalsService(approvalsConfig(ns, evaluatorKey, options.service ?? {}));
      return [...(service ? [service] : []), ...(options.alongside?.(evaluatorKey) ?? [])];
    },
  });
  try {
    const { approvers, client: temporal, close: closeApprovers } = await approversFor(ns);
    const { evaluatorKey, orchestrator, evaluator, gate } = gateFixture;
    return {
      evaluatorKey,
      orchestrator,
      evaluator,
      gate,
      get wire() {
        return gateFixture.wire;
      },
      orchestratorCredential: approverCredential({
        key_id: orchestrator.keyId,
        tenant_id: options.tenant,
        principal: options.orchestrator ?? 'orchestrator',
        private_key_pem: orchestrator.privateKeyPem,
      }),
      keys,
      service,
      approvers,
      temporal,
      close: async () => {
        await closeApprovers();
        await gateFixture.close();
      },
    };
  } catch (err) {
    await gateFixture.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Gates `step`, which needs approval (asserted), starts waiting for its outcome (`outcome`, for the tests
 * that await it) and waits until its approval workflow answers queries.
 */
export async function pendingApproval(
  stack: Pick<GateFixture, 'gate'> & { approvers: Approvers },
  step: GateStepRequest,
  timeouts: { outcomeMs: number; startMs: number },
) {
  const asked = await stack.gate.gate(step);
  expect(asked.decision).toBe('require_approval');
  const id = asked.approval_id!;
  const outcome = stack.gate.gate({ ...step }, { waitForApproval: true, timeoutMs: timeouts.outcomeMs });
  outcome.catch(() => undefined); // awaited by the tests that need it; the others must not leave it unhandled
  const status = await eventually(() => stack.approvers.status(id).catch(() => undefined), `approval ${id} to start`, {
    timeout: timeouts.startMs,
  });
  return { id, asked, status, outcome };
}

/**
 * Runs `body` while a worker on its own task queue (`<ns task queue>-orchestrators`) runs the orchestrator
 * workflows of `workflowsPath` with gate activities of a fresh `tenant` principal, `temporal-orchestrator`.
 */
export async function withOrchestratorWorker<T>(
  ns: TestNamespace,
  options: { tenant: string; evaluatorKey: Principal; workflowsPath: URL },
  body: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const orchestratorKey = await registerPrincipal(ns, options.tenant, 'temporal-orchestrator');
  const gateClient = client(ns, orchestratorKey, options.evaluatorKey);
  await gateClient.connect();
  const connection = await NativeConnection.connect({ address: ns.endpoints.temporalAddress });
  const taskQueue = `${ns.taskQueue}-orchestrators`;
  try {
    const worker = await Worker.create({
      connection,
      taskQueue,
      workflowsPath: fileURLToPath(options.workflowsPath),
      activities: createGateActivities(gateClient),
      // Resolve workspace packages to their TypeScript sources, as the rest of the tests do.
      bundlerOptions: {
        webpackConfigHook: (config) => ({
          ...config,
          resolve: { ...config.resolve, conditionNames: ['source', '...'] },
        }),
      },
    });
    return await worker.runUntil(() => body(taskQueue));
  } finally {
    await gateClient.disconnect();
    await connection.close();
  }
}

/** A context-aware policy that acts on the steps named `stepName`. */
function stepNamePolicy(p: {
  name: string;
  stepName: string;
  priority: number;
  action: { type: string; config: Record<string, unknown> };
}) {
  return {
    name: p.name,
    type: 'context_aware',
    category: 'dynamic-compliance',
    priority: p.priority,
    conditions: [{ field: 'context.step_name', operator: 'equals', value: p.stepName }],
    actions: [p.action],
  };
}

/** A policy that sends the steps named `stepName` to a human; `config` is its require_approval action's. */
export function approvalPolicy(name: string, stepName: string, config: Record<string, unknown>) {
  return stepNamePolicy({ name, stepName, priority: 500, action: { type: 'require_approval', config } });
}

/** A policy that blocks the steps named `stepName` (it outranks the approval policies). */
export function blockPolicy(name: string, stepName: string, reason: string) {
  return stepNamePolicy({ name, stepName, priority: 900, action: { type: 'block', config: { reason } } });
}

/** Steps named `stepName` blocked beyond 1000 a day per user: the approvals they need carry usage increments. */
export function dailyRateLimitPolicy(name: string, stepName: string) {
  return {
    name,
    type: 'rate-limit',
    category: 'dynamic-cost',
    priority: 400,
    conditions: [{ field: 'context.step_name', operator: 'equals', value: stepName }],
    rate_limit: { per: ['context.user_id'], window_seconds: 86_400, max_requests: 1000 },
    actions: [{ type: 'block', config: { reason: 'Too many deploys today' } }],
  };
}

/** A staging bundle of `tenant` open to every workflow, with these policies. */
export function openBundle(tenant: string, policies: Array<Record<string, unknown>>) {
  return { tenant_id: tenant, environment: 'staging', workflow_access: { mode: 'open' }, policies };
}

/** A well-formed approval request of tenant `acme` (of no step unless the overrides name one). */
export function approvalRequestFixture(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    type: 'approval.requested',
    approval_id: randomUUID(),
    tenant_id: 'acme',
    workflow_id: 'wf-fixture',
    step_id: 'deploy',
    step_name: null,
    step_type: 'tool_call',
    request_id: randomUUID(),
    decision_id: randomUUID(),
    requested_by: { principal: 'orchestrator', user_id: null, agent_id: null },
    reason: 'fixture',
    severity: null,
    timeout_seconds: 60,
    policies_matched: [],
    inputs_summary: '',
    reply_to: null,
    requested_at: new Date().toISOString(),
    usage_increments: [],
    ...overrides,
  };
}
