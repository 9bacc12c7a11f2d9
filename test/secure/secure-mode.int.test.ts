/**
 * The secure mode end to end: the SASL_SSL broker with per-principal ACLs and per-tenant decision
 * topics, Temporal through a TLS-terminating proxy with mTLS, PostgreSQL over TLS (verify-full).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tenantDecisionTopic, type AuditEvent } from '@stepgate/contracts';
import { GateClient } from '@stepgate/client';
import { ApprovalsService } from '@stepgate/approvals';
import { Approvers, type ApproverCredential } from '@stepgate/approvals-client';
import { AuditService } from '@stepgate/audit';
import { run } from '@stepgate/cli';
import type { Evaluator } from '@stepgate/evaluator';
import { KafkaConnection, kafkaRefusal, type KafkaSecurity, type TopicAdmin } from '@stepgate/messaging';
import type { TemporalConnectionOptions } from '@stepgate/runtime';
import { eventually, temporalTlsProxy, type Relay, type SecureStack, type TestNamespace } from '@stepgate/test';
import {
  applyBundle,
  approvalsConfig,
  auditConfig,
  registerApprover,
  registerPrincipal,
  startEvaluator,
  type Principal,
} from '../pipeline.js';
import { SecureNamespace } from './setup.js';

let secure: SecureStack;
let ns: TestNamespace;
let proxy: Relay;
let temporal: TemporalConnectionOptions;
let evaluator: Evaluator;
let approvals: ApprovalsService;
let audit: AuditService;
let signingKey: Principal;
let orchestratorKey: Principal;
let alice: ApproverCredential;
const clients: GateClient[] = [];
let setup: SecureNamespace;

let TENANT_A: string;
let TENANT_B: string;

/** The demo's bundle (a production deploy needs a human), for a tenant of this test. */
const bundle = (tenant: string) => ({
  ...(JSON.parse(readFileSync(new URL('../../examples/demo/bundle.json', import.meta.url), 'utf8')) as object),
  tenant_id: tenant,
});

function gateClient(user: string, tenantId: string, key: Principal = orchestratorKey): GateClient {
  const c = new GateClient({
    brokers: secure.brokers,
    kafka: secure.as(user),
    tenantId,
    keyId: key.keyId,
    privateKeyPem: key.privateKeyPem,
    evaluatorPublicKeyPem: signingKey.publicKeyPem,
    topicPrefix: ns.topicPrefix,
    timeoutMs: 20_000,
  });
  clients.push(c);
  return c;
}

/** The error a promise rejects with (a test fails if it resolves). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.fail('expected a refusal'),
    (e: unknown) => e,
  );
}

/** The code of the TLS error a client without a certificate gets from a server on `port` (undefined: none). */
function handshakeRefusal(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: secure.caPem, ALPNProtocols: ['h2'] });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    socket.on('close', () => resolve(undefined));
  });
}

/** The two orchestrator principals of the secure broker, one per tenant. */
const orchestrators = () => [
  { user: 'orchestrator-demo', tenantId: TENANT_A },
  { user: 'orchestrator-other', tenantId: TENANT_B },
];

const asAdmin = <T>(fn: (admin: TopicAdmin) => Promise<T>) => setup.asAdmin(fn);

const kafkaAs = (security: KafkaSecurity) =>
  new KafkaConnection({ clientId: `${ns.id}-probe`, brokers: secure.brokers, ...security }, { failFast: true });

beforeAll(async () => {
  const shared = inject('endpoints');
  setup = await SecureNamespace.create('secure');
  ({ secure, ns } = setup);
  TENANT_A = `${ns.id}_a`;
  TENANT_B = `${ns.id}_b`;
  proxy = await temporalTlsProxy(secure, shared.temporalAddress);
  temporal = {
    address: proxy.address,
    tls: {
      serverRootCACertificate: Buffer.from(secure.caPem),
      clientCertPair: {
        crt: Buffer.from(secure.pem('temporal-client.pem')),
        key: Buffer.from(secure.pem('temporal-client.key')),
      },
    },
  };
  await setup.grant(orchestrators());

  signingKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
  orchestratorKey = await registerPrincipal(ns, TENANT_A, 'release-bot');
  alice = await registerApprover(ns, TENANT_A, 'alice');
  await applyBundle(ns, bundle(TENANT_A));

  const service = (user: string) => ({
    kafkaBrokers: secure.brokers,
    kafkaSecurity: secure.as(user),
    databaseSsl: secure.databaseSsl,
    tenantDecisionTopics: true,
  });
  evaluator = startEvaluator(ns, signingKey, 'a', { ...service('evaluator'), groupId: `${ns.groupPrefix}evaluator` });
  approvals = new ApprovalsService(approvalsConfig(ns, signingKey, { ...service('approvals'), temporal }));
  audit = new AuditService(auditConfig(ns, { ...service('audit'), alertsGroupId: `${ns.groupPrefix}audit-alerts` }));
  await Promise.all([evaluator.start(), approvals.start(), audit.start()]);
}, 240_000);

afterAll(async () => {
  for (const c of clients) await c.disconnect().catch(() => undefined);
  await audit?.stop();
  await approvals?.stop();
  await evaluator?.stop();
  await setup?.cleanup(orchestrators());
  await proxy?.cut();
});

describe('secure mode: SASL_SSL with ACLs, Temporal over mTLS, PostgreSQL over TLS', () => {
  it('gate → decision → approval → audit runs over it, each service as its own principal', async () => {
    const gate = gateClient('orchestrator-demo', TENANT_A);
    await gate.connect();
    const step = {
      workflow_id: `wf-${randomUUID()}`,
      step_id: 'deploy-to-production',
      step_name: 'deploy-to-production',
      step_type: 'connector_call' as const,
      user_id: 'dev-1',
    };
    const asked = await gate.gate(step);
    expect(asked).toMatchObject({ decision: 'require_approval', tenant_id: TENANT_A });
    const outcome = gate.gate({ ...step }, { waitForApproval: true, timeoutMs: 40_000 });

    const connection = await Connection.connect(temporal);
    try {
      const approvers = new Approvers(new TemporalClient({ connection }), ns.taskQueue);
      const id = asked.approval_id!;
      await eventually(() => approvers.status(id).catch(() => undefined), `approval ${id} to start`, {
        timeout: 20_000,
      });
      await approvers.approve(id, { credential: alice, comment: 'reviewed over mTLS' });
      expect(await outcome).toMatchObject({ decision: 'allow', approval_status: 'approved', approved_by: 'alice' });

      // Every event reached the hash-chained audit log, written over TLS.
      const actions = await eventually(
        async () => {
          const { rows } = await ns.pool.query<{ action: AuditEvent['action'] }>(
            'select action from audit_log where workflow_id = $1 order by seq',
            [step.workflow_id],
          );
          const got = rows.map((r) => r.action);
          return got.includes('ApprovalGranted') ? got : undefined;
        },
        'the approval in the audit log',
        { timeout: 20_000 },
      );
      expect(actions).toEqual(expect.arrayContaining(['GateEvaluated', 'ApprovalRequested', 'ApprovalGranted']));
    } finally {
      await connection.close();
    }
  });

  it('refuses a client without credentials, and one with a wrong password', async () => {
    const anonymous = await failure(kafkaAs({ tls: { ca: secure.caPem } }).withAdmin((a) => a.listTopics()));
    expect(kafkaRefusal(anonymous)).toEqual({ kind: 'connection', code: 'CONNECTION_ERROR' });

    const wrong = { ...secure.as('orchestrator-demo') };
    wrong.sasl = { ...wrong.sasl!, password: 'not-the-password' };
    const refused = await failure(kafkaAs(wrong).withAdmin((a) => a.listTopics()));
    expect(kafkaRefusal(refused)).toEqual({ kind: 'sasl', code: 'SASL_AUTHENTICATION_FAILED' });
  });

  it('an orchestrator cannot produce to audit or policies', async () => {
    // Not fail-fast: the idempotent producer needs its retries (an authorization error is never retried).
    const producer = await new KafkaConnection({
      clientId: `${ns.id}-forger`,
      brokers: secure.brokers,
      ...secure.as('orchestrator-demo'),
    }).producer();
    try {
      for (const topic of [ns.topics.audit, ns.topics.policies]) {
        const err = await failure(producer.publish([{ topic, key: TENANT_A, value: '{"forged":true}' }]));
        expect(kafkaRefusal(err)).toEqual({ kind: 'protocol', code: 'TOPIC_AUTHORIZATION_FAILED' });
      }
    } finally {
      await producer.disconnect();
    }
  });

  it("an orchestrator cannot read another tenant's decisions, nor the shared topic", async () => {
    // orchestrator-other's own tenant works ...
    const own = gateClient('orchestrator-other', TENANT_B);
    await own.connect();
    // ... but orchestrator-demo asking for tenant B's decisions is refused by the broker.
    const err = await failure(gateClient('orchestrator-demo', TENANT_B).connect());
    expect(kafkaRefusal(err)).toEqual({ kind: 'protocol', code: 'TOPIC_AUTHORIZATION_FAILED' });
    const shared = await failure(
      kafkaAs(secure.as('orchestrator-demo')).withAdmin((a) => a.topicEnds(ns.topics['gate.decisions'])),
    );
    expect(kafkaRefusal(shared)).toEqual({ kind: 'protocol', code: 'TOPIC_AUTHORIZATION_FAILED' });
  });

  it("the control plane creates a tenant's decisions topic with its first credential, and cannot publish decisions", async () => {
    const tenant = `${ns.id}_c`;
    const control = secure.as('control').sasl!;
    const settings = {
      KAFKA_BROKERS: secure.brokers.join(','),
      KAFKA_SSL_CA_FILE: path.join(secure.pkiDir, 'ca.pem'),
      KAFKA_SASL_MECHANISM: control.mechanism,
      KAFKA_SASL_USERNAME: control.username,
      KAFKA_SASL_PASSWORD: control.password,
      DATABASE_URL: ns.endpoints.databaseUrl,
      DATABASE_SSLMODE: 'verify-full',
      DATABASE_SSL_CA_FILE: path.join(secure.pkiDir, 'ca.pem'),
      STEPGATE_DB_SCHEMA: ns.schema,
      STEPGATE_TOPIC_PREFIX: ns.topicPrefix,
      STEPGATE_TENANT_DECISION_TOPICS: 'true',
    };
    const saved = Object.fromEntries(Object.keys(settings).map((k) => [k, process.env[k]]));
    Object.assign(process.env, settings);
    let stderr = '';
    try {
      const out = path.join(mkdtempSync(path.join(tmpdir(), 'stepgate-secure-')), 'bot.json');
      const io = { out: () => undefined, err: (t: string) => void (stderr += t), cwd: process.cwd() };
      expect(await run(['credentials', 'create', '--tenant', tenant, '--principal', 'bot', '--out', out], io)).toBe(0);
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    const topic = tenantDecisionTopic(tenant, ns.topicPrefix);
    setup.tenantTopics.push(topic);
    expect(stderr).toContain(`created the decisions topic of tenant ${tenant}`);
    expect(await asAdmin((admin) => admin.listTopics())).toContain(topic);

    const producer = await new KafkaConnection({
      clientId: `${ns.id}-control`,
      brokers: secure.brokers,
      ...secure.as('control'),
    }).producer();
    try {
      const err = await failure(producer.publish([{ topic, key: 'wf', value: '{"decision":"allow"}' }]));
      expect(kafkaRefusal(err)).toEqual({ kind: 'protocol', code: 'TOPIC_AUTHORIZATION_FAILED' });
    } finally {
      await producer.disconnect();
    }
  });

  it('Temporal answers through the TLS proxy only with a client certificate; PostgreSQL sessions are TLS', async () => {
    const connection = await Connection.connect(temporal);
    try {
      expect((await connection.workflowService.getSystemInfo({})).serverVersion).toBeTruthy();
    } finally {
      await connection.close();
    }
    // Without a client certificate the proxy ends the handshake: TLS 1.3's certificate_required alert.
    expect(await handshakeRefusal(proxy.port)).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    const { rows } = await ns.pool.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    expect(rows).toEqual([{ ssl: true }]);
  });
});
