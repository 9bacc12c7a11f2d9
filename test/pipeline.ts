import { randomUUID } from 'node:crypto';
import { canonicalJson, type GateDecision } from '@stepgate/contracts';
import { generateSigningKey, privateKeyFromPem, signatureHeaders } from '@stepgate/contracts/node';
import type { TestNamespace } from '@stepgate/test';
import { GateClient, type GateClientOptions } from '@stepgate/client';
import { Evaluator, type EvaluatorConfig } from '@stepgate/evaluator';
import { ConfigResourceTypes, ConfigSource, type EachMessagePayload } from 'kafkajs';
import { createHash } from 'node:crypto';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import type { ApprovalsConfig } from '@stepgate/approvals';
import { Approvers, approverCredential, type ApproverCredential } from '@stepgate/approvals-client';
import type { AuditConfig } from '@stepgate/audit';
import { run } from '@stepgate/cli';

export interface Principal {
  keyId: string;
  privateKeyPem: string;
  publicKeyPem: string;
}

/** Registers a tenant, a principal with roles and one credential for it, straight in the tenant's schema. */
export async function registerPrincipal(
  ns: TestNamespace,
  tenant: string,
  principal: string,
  roles: string[] = [],
): Promise<Principal> {
  const key = generateSigningKey();
  const keyId = `key-${tenant}-${principal}-${randomUUID().slice(0, 8)}`;
  await ns.pool.query('insert into tenants (tenant_id) values ($1) on conflict do nothing', [tenant]);
  await ns.pool.query(
    'insert into principals (tenant_id, principal, roles) values ($1, $2, $3) on conflict do nothing',
    [tenant, principal, roles],
  );
  await ns.pool.query(
    'insert into credentials (key_id, tenant_id, principal, public_key_pem) values ($1, $2, $3, $4)',
    [keyId, tenant, principal, key.publicKeyPem],
  );
  return { keyId, ...key };
}

/** Registers `principal` of `tenant` (roles as given) and returns its credential, loaded for signing statements. */
export async function registerApprover(
  ns: TestNamespace,
  tenant: string,
  principal: string,
  roles: string[] = ['approver'],
): Promise<ApproverCredential> {
  const p = await registerPrincipal(ns, tenant, principal, roles);
  return approverCredential({ key_id: p.keyId, tenant_id: tenant, principal, private_key_pem: p.privateKeyPem });
}

/** Lets `tenant`'s gate requests name a reply_to in these namespaces and workflow-id prefixes (the default allows none). */
export async function allowReplyTo(
  ns: TestNamespace,
  tenant: string,
  allowance: { namespaces: string[]; prefixes: string[] } = { namespaces: ['default'], prefixes: ['orchestrator-'] },
): Promise<void> {
  await ns.pool.query(
    'update tenants set reply_to_namespaces = $2, reply_to_workflow_prefixes = $3 where tenant_id = $1',
    [tenant, allowance.namespaces, allowance.prefixes],
  );
}

export async function applyBundle(
  ns: TestNamespace,
  bundle: { tenant_id: string } & Record<string, unknown>,
  options: { announce?: boolean } = {},
): Promise<number> {
  const { rows } = await ns.pool.query<{ version: number }>(
    `insert into policy_bundles (tenant_id, version, bundle, sha256)
     select $1, coalesce(max(version), 0) + 1, $2, $3 from policy_bundles where tenant_id = $1 returning version`,
    [bundle.tenant_id, bundle, createHash('sha256').update(canonicalJson(bundle)).digest('hex')],
  );
  if (options.announce === false) return rows[0]!.version;
  const producer = ns.kafka.producer();
  await producer.connect();
  await producer.send({
    topic: ns.topics.policies,
    messages: [
      { key: bundle.tenant_id, value: JSON.stringify({ tenant_id: bundle.tenant_id, version: rows[0]!.version }) },
    ],
  });
  await producer.disconnect();
  return rows[0]!.version;
}

/** What every service's config says about `ns`: its brokers, database, schema and topic prefix. */
function serviceEndpoints(ns: TestNamespace) {
  return {
    kafkaBrokers: ns.endpoints.kafkaBrokers,
    databaseUrl: ns.endpoints.databaseUrl,
    databaseSchema: ns.schema,
    topicPrefix: ns.topicPrefix,
  };
}

export function startEvaluator(
  ns: TestNamespace,
  evaluatorKey: Principal,
  instance = 'a',
  overrides: Partial<EvaluatorConfig> = {},
): Evaluator {
  return new Evaluator({
    ...serviceEndpoints(ns),
    groupId: `${ns.groupPrefix}evaluator`,
    instanceId: `${ns.id}-${instance}`,
    signingKeyId: evaluatorKey.keyId,
    signingKey: privateKeyFromPem(evaluatorKey.privateKeyPem),
    maxClockSkewMs: 300_000,
    credentialCacheMs: 0,
    portalBaseUrl: 'https://portal.example/',
    metricsPort: undefined,
    sessionTimeoutMs: 6_000,
    partitionsConcurrently: 4,
    gatesPerTransaction: 2_000,
    ...overrides,
  });
}

export function clientOptions(ns: TestNamespace, p: Principal, evaluatorKey: Principal): GateClientOptions {
  return {
    brokers: ns.endpoints.kafkaBrokers,
    keyId: p.keyId,
    privateKeyPem: p.privateKeyPem,
    evaluatorPublicKeyPem: evaluatorKey.publicKeyPem,
    topicPrefix: ns.topicPrefix,
    timeoutMs: 20_000,
  };
}

export function client(ns: TestNamespace, p: Principal, evaluatorKey: Principal): GateClient {
  return new GateClient(clientOptions(ns, p, evaluatorKey));
}

/** Collects every message of some topics (from the start) for assertions. */
export async function tap(ns: TestNamespace, topics: string[]) {
  const seen: Array<{ topic: string; key: string | null; value: Buffer | null; headers: Record<string, string> }> = [];
  const consumer = ns.kafka.consumer({ groupId: `${ns.groupPrefix}tap-${randomUUID()}`, maxWaitTimeInMs: 20 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }: EachMessagePayload) => {
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]),
      );
      seen.push({ topic, key: message.key?.toString() ?? null, value: message.value, headers });
    },
  });
  return {
    seen,
    json: <T>(topic: string) => seen.filter((m) => m.topic === topic).map((m) => JSON.parse(m.value!.toString()) as T),
    async until<T>(fn: () => T | undefined, timeoutMs = 20_000): Promise<T> {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = fn();
        if (v !== undefined) return v;
        if (Date.now() > end) throw new Error('tap: condition not met in time');
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop: () => consumer.disconnect(),
  };
}

/** Sends a hand-made gate request message: raw bytes and headers of the test's choosing. */
export async function sendRaw(
  ns: TestNamespace,
  value: Buffer | string,
  headers: Record<string, string>,
  key = 'raw',
): Promise<void> {
  const producer = ns.kafka.producer();
  await producer.connect();
  await producer.send({ topic: ns.topics['gate.requests'], messages: [{ key, value, headers }] });
  await producer.disconnect();
}

export function signedHeaders(p: Principal, value: Buffer): Record<string, string> {
  return signatureHeaders({ keyId: p.keyId, key: privateKeyFromPem(p.privateKeyPem) }, value);
}

export type Decision = GateDecision;

export function approvalsConfig(
  ns: TestNamespace,
  signingKey: Principal,
  overrides: Partial<ApprovalsConfig> = {},
): ApprovalsConfig {
  return {
    ...serviceEndpoints(ns),
    groupId: `${ns.groupPrefix}approvals`,
    instanceId: `${ns.id}-approvals`,
    temporalAddress: ns.endpoints.temporalAddress,
    temporalNamespace: 'default',
    taskQueue: ns.taskQueue,
    signingKeyId: signingKey.keyId,
    signingKey: privateKeyFromPem(signingKey.privateKeyPem),
    defaultTimeoutSeconds: 3600,
    reminderFraction: 0.5,
    cancelOrchestratorOnReject: false,
    metricsPort: undefined,
    sessionTimeoutMs: 6_000,
    ...overrides,
  };
}

/** An approver-side Temporal client scoped to the namespace's task queue; `close` also terminates what is still running there. */
export async function approversFor(
  ns: TestNamespace,
): Promise<{ approvers: Approvers; client: TemporalClient; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: ns.endpoints.temporalAddress });
  const temporal = new TemporalClient({ connection });
  return {
    approvers: new Approvers(temporal, ns.taskQueue),
    client: temporal,
    close: async () => {
      for await (const wf of temporal.workflow.list({
        query: `TaskQueue = '${ns.taskQueue}' AND ExecutionStatus = 'Running'`,
      })) {
        await temporal.workflow
          .getHandle(wf.workflowId, wf.runId)
          .terminate('test finished')
          .catch(() => undefined);
      }
      await connection.close();
    },
  };
}

export function auditConfig(ns: TestNamespace, overrides: Partial<AuditConfig> = {}): AuditConfig {
  return {
    ...serviceEndpoints(ns),
    groupId: `${ns.groupPrefix}audit`,
    alertsGroupId: `${ns.groupPrefix}alerts`,
    instanceId: `${ns.id}-audit`,
    sessionTimeoutMs: 6_000,
    partitionsConcurrently: 6,
    metricsPort: undefined,
    ...overrides,
  };
}

/** The stepgate CLI, in process, pointed at `ns`'s services (its schema, brokers, topic prefix and approvals task queue). */
export async function runCli(
  ns: TestNamespace,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  Object.assign(process.env, {
    TEMPORAL_ADDRESS: ns.endpoints.temporalAddress,
    STEPGATE_APPROVALS_TASK_QUEUE: ns.taskQueue,
    DATABASE_URL: ns.endpoints.databaseUrl,
    STEPGATE_DB_SCHEMA: ns.schema,
    KAFKA_BROKERS: ns.endpoints.kafkaBrokers.join(','),
    STEPGATE_TOPIC_PREFIX: ns.topicPrefix,
  });
  let stdout = '';
  let stderr = '';
  const code = await run(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t), cwd: process.cwd() });
  return { code, stdout, stderr };
}

/**
 * A trigger making Postgres refuse the inserts into `table` whose row matches `when` (SQL over NEW),
 * with `errcode` (default P0001, a plain raise): a write Postgres answers but refuses, for the failure
 * paths. `drop()` removes it and its function, and may be called again.
 */
export async function refusingTrigger(
  ns: TestNamespace,
  p: { name: string; table: string; when: string; message: string; errcode?: string },
): Promise<{ drop(): Promise<void> }> {
  const errcode = p.errcode ? ` using errcode = '${p.errcode}'` : '';
  await ns.pool.query(`create function ${p.name}() returns trigger language plpgsql as $$
    begin if ${p.when} then raise exception '${p.message}'${errcode}; end if; return new; end $$`);
  await ns.pool.query(`create trigger ${p.name} before insert on ${p.table} for each row execute function ${p.name}()`);
  return {
    drop: async () => {
      await ns.pool.query(`drop trigger if exists ${p.name} on ${p.table}`);
      await ns.pool.query(`drop function if exists ${p.name}()`);
    },
  };
}

/** Runs `fn` while a `refusingTrigger` refuses rows, and drops the trigger after, whatever `fn` did. */
export async function whileRefusing(
  ns: TestNamespace,
  p: Parameters<typeof refusingTrigger>[1],
  fn: (trigger: { drop(): Promise<void> }) => Promise<void>,
): Promise<void> {
  const trigger = await refusingTrigger(ns, p);
  try {
    await fn(trigger);
  } finally {
    await trigger.drop();
  }
}

/**
 * Runs `fn` with `configs` set on `topic`, once the broker applies them (it does so after the
 * controller answers), and sets the topic's own configs back after. AlterConfigs (not incremental)
 * replaces all of a topic's own configs, so those it had are given again each time.
 */
export async function withTopicConfig(
  ns: TestNamespace,
  topic: string,
  configs: Record<string, string>,
  fn: () => Promise<void>,
): Promise<void> {
  const own = async () => {
    const { resources } = await ns.withAdmin((a) =>
      a.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] }),
    );
    return Object.fromEntries(
      resources[0]!.configEntries
        .filter((c) => c.configSource === ConfigSource.TOPIC_CONFIG)
        .map((c) => [c.configName, c.configValue]),
    );
  };
  const set = async (wanted: Record<string, string>) => {
    await ns.withAdmin((a) =>
      a.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: topic,
            configEntries: Object.entries(wanted).map(([name, value]) => ({ name, value })),
          },
        ],
      }),
    );
    const key = (c: Record<string, string>) => JSON.stringify(Object.entries(c).sort());
    for (const until = Date.now() + 10_000; key(await own()) !== key(wanted);) {
      if (Date.now() > until) throw new Error(`${topic}: the broker did not apply ${key(wanted)} within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const before = await own();
  await set({ ...before, ...configs });
  try {
    await fn();
  } finally {
    await set(before);
  }
}
