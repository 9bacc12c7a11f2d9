import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { APPROVAL_GATEWAY_ROLE } from '@stepgate/contracts';
import type { GateClient, GateStepRequest } from '@stepgate/client';
import { ApprovalsService } from '@stepgate/approvals';
import type { Approvers } from '@stepgate/approvals-client';
import { ControlPlane, startDevProvider, type ControlPlaneConfig, type DevProvider } from '@stepgate/control-plane';
import { IdentitiesRepository } from '@stepgate/store';
import { eventually, freePort, type TestNamespace } from '@stepgate/test';
import { applyBundle, approvalsConfig, approversFor, client, registerPrincipal, startEvaluator } from '../pipeline.js';

export const TENANT = 'demo';
export const OTHER_TENANT = 'globex';
export const CLIENT_ID = 'stepgate-portal';
const GROUPS_PREFIX = 'stepgate-';

/** People of the test: their tenant and roles in stepgate's principals table. */
export const PEOPLE = {
  alice: { tenant: TENANT, roles: ['approver', 'admin'] },
  bob: { tenant: TENANT, roles: ['approver'] },
  carol: { tenant: OTHER_TENANT, roles: ['approver', 'admin'] },
  dave: { tenant: TENANT, roles: ['viewer'] },
  erin: { tenant: TENANT, roles: ['auditor'] },
  mallory: { tenant: TENANT, roles: [] },
} as const;
export type Person = keyof typeof PEOPLE;
export const password = (p: Person) => `${p}-password`;
export const email = (p: Person) => `${p}@${PEOPLE[p].tenant}.example`;

export const bundle = {
  tenant_id: TENANT,
  environment: 'staging',
  workflow_access: { mode: 'open' },
  tools: [{ tool_name: 'deploy', access: 'read' }],
  policies: [
    {
      name: 'approve-production-deploys',
      type: 'context_aware',
      category: 'dynamic-compliance',
      priority: 500,
      conditions: [{ field: 'context.step_name', operator: 'equals', value: 'deploy' }],
      actions: [{ type: 'require_approval', config: { reason: 'Production deploys need a human', severity: 'high' } }],
    },
  ],
};

export interface ControlPlaneStack {
  portal: string;
  provider: DevProvider;
  controlPlane: ControlPlane;
  gate: GateClient;
  approvers: Approvers;
  /** Gates a deploy step of a fresh workflow; resolves once its approval workflow answers. */
  pendingDeploy(overrides?: Partial<GateStepRequest>): Promise<{
    id: string;
    step: GateStepRequest;
    outcome: ReturnType<GateClient['gate']>;
  }>;
  stop(): Promise<void>;
}

/**
 * The real pipeline (evaluator, approvals service on Temporal) with the embedded OpenID Connect
 * provider and the control plane in front, in the namespace's schema and topics.
 */
export async function startControlPlaneStack(
  ns: TestNamespace,
  options: {
    overrides?: Partial<ControlPlaneConfig>;
    /** Another issuer whose tokens the control plane trusts instead. */ issuer?: string;
    /** Roles from the provider's `groups` claim (each person's roles as `stepgate-<role>`), not the principals table. */
    groups?: { sessionMaxSeconds: number };
    /** The embedded provider's ID token lifetime. */
    idTokenTtlSeconds?: number;
  } = {},
): Promise<ControlPlaneStack> {
  await ns.migrate();
  await ns.createTopics();
  const evaluatorKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
  const orchestrator = await registerPrincipal(ns, TENANT, 'release-orchestrator');
  for (const [name, p] of Object.entries(PEOPLE)) await registerPrincipal(ns, p.tenant, name, [...p.roles]);
  const dir = await mkdtemp(path.join(tmpdir(), 'stepgate-cp-'));
  const gatewayFile = path.join(dir, 'gateway.json');
  const gateway = await registerPrincipal(ns, TENANT, 'portal-gateway', [APPROVAL_GATEWAY_ROLE]);
  await writeFile(
    gatewayFile,
    JSON.stringify({
      key_id: gateway.keyId,
      tenant_id: TENANT,
      principal: 'portal-gateway',
      private_key_pem: gateway.privateKeyPem,
    }),
  );
  await applyBundle(ns, bundle);

  const port = await freePort();
  const portal = `http://127.0.0.1:${port}`;
  const clientSecret = randomUUID();
  const provider = await startDevProvider({
    port: 0,
    clientId: CLIENT_ID,
    clientSecret,
    redirectUris: [`${portal}/auth/callback`],
    users: (Object.keys(PEOPLE) as Person[]).map((p) => ({
      login: p,
      password: password(p),
      email: email(p),
      name: p[0]!.toUpperCase() + p.slice(1),
      groups: PEOPLE[p].roles.map((r) => `${GROUPS_PREFIX}${r}`),
    })),
    idTokenTtlSeconds: options.idTokenTtlSeconds,
  });
  const identities = new IdentitiesRepository(ns.pool);
  const issuer = options.issuer ?? provider.issuer;
  for (const p of Object.keys(PEOPLE) as Person[])
    await identities.link({ issuer, claimValue: email(p), tenantId: PEOPLE[p].tenant, principal: p });

  const evaluator = startEvaluator(ns, evaluatorKey, 'a', { portalBaseUrl: `${portal}/` });
  const approvals = new ApprovalsService(approvalsConfig(ns, evaluatorKey));
  await Promise.all([evaluator.start(), approvals.start()]);
  const controlPlane = new ControlPlane(
    {
      databaseUrl: ns.endpoints.databaseUrl,
      databaseSchema: ns.schema,
      temporalAddress: ns.endpoints.temporalAddress,
      temporalNamespace: 'default',
      taskQueue: ns.taskQueue,
      host: '127.0.0.1',
      port,
      portalBaseUrl: `${portal}/`,
      oidc: {
        issuer,
        clientId: CLIENT_ID,
        clientSecret,
        audience: CLIENT_ID,
        principalClaim: 'email',
        ...(options.groups ? { groupsClaim: 'groups' } : {}),
        groupsPrefix: options.groups ? GROUPS_PREFIX : '',
        groupsSessionMaxSeconds: options.groups?.sessionMaxSeconds ?? 3600,
        scopes: 'openid email profile',
        allowInsecureHttp: true,
      },
      gatewayKeyFiles: [gatewayFile],
      cookieSecret: randomUUID() + randomUUID(),
      sessionTtlSeconds: 3600,
      signInRatePerMinute: 1000,
      apiRatePerMinute: { identity: 10_000, anonymous: 10_000 },
      addressRatePerMinute: 100_000,
      rateLimitCacheSize: 10_000,
      ...options.overrides,
    },
    pino({ level: 'warn' }),
  );
  await controlPlane.start();
  const gate = client(ns, orchestrator, evaluatorKey);
  await gate.connect();
  const { approvers, close: closeApprovers } = await approversFor(ns);

  return {
    portal,
    provider,
    controlPlane,
    gate,
    approvers,
    async pendingDeploy(over = {}) {
      const step: GateStepRequest = {
        workflow_id: `release-${randomUUID()}`,
        step_id: 'deploy-prod',
        step_name: 'deploy',
        step_type: 'tool_call',
        user_id: 'dev-1',
        tool_context: { tool_name: 'deploy', tool_input: { env: 'prod', note: '<script>alert(1)</script>' } },
        ...over,
      };
      const asked = await gate.gate(step);
      if (asked.decision !== 'require_approval')
        throw new Error(`expected require_approval, got ${asked.decision}: ${asked.reason}`);
      const id = asked.approval_id!;
      const outcome = gate.gate({ ...step }, { waitForApproval: true, timeoutMs: 60_000 });
      outcome.catch(() => undefined);
      await eventually(() => approvers.get(id), `approval ${id} to start`, { timeout: 20_000 });
      return { id, step, outcome };
    },
    async stop() {
      await gate.disconnect();
      await controlPlane.stop();
      await closeApprovers();
      await approvals.stop();
      await evaluator.stop();
      await provider.close();
    },
  };
}
