/**
 * The Python client (clients/python/tests/test_secure.py) on the SASL_SSL broker with per-principal ACLs
 * and per-tenant decision topics: it runs as orchestrator-demo, configured only through the variables
 * the services read (KAFKA_SSL_*, KAFKA_SASL_*, STEPGATE_TENANT_DECISION_TOPICS), against an evaluator
 * running as its own Kafka user. Set up as test/secure/secure-mode.int.test.ts does, without Temporal.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Evaluator } from '@stepgate/evaluator';
import { applyBundle, registerPrincipal, startEvaluator } from '../pipeline.js';
import { pythonTestBundle, runPytest } from '../python.js';
import { SecureNamespace, type Orchestrator } from './setup.js';

let setup: SecureNamespace;
let evaluator: Evaluator;
let dir: string;
const env: Record<string, string> = {};

const orchestrators = (): Orchestrator[] => [
  { user: 'orchestrator-demo', tenantId: `${setup.ns.id}_a` },
  { user: 'orchestrator-other', tenantId: `${setup.ns.id}_b` },
];

beforeAll(async () => {
  setup = await SecureNamespace.create('secure-py');
  const { secure, ns } = setup;
  const [demo, other] = orchestrators();
  await setup.grant(orchestrators());

  const signingKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
  const orchestrator = await registerPrincipal(ns, demo!.tenantId, 'release-bot');
  await applyBundle(ns, pythonTestBundle(demo!.tenantId));
  evaluator = startEvaluator(ns, signingKey, 'a', {
    kafkaBrokers: secure.brokers,
    kafkaSecurity: secure.as('evaluator'),
    databaseSsl: secure.databaseSsl,
    tenantDecisionTopics: true,
    groupId: `${ns.groupPrefix}evaluator`,
  });
  await evaluator.start();

  dir = await mkdtemp(path.join(tmpdir(), 'stepgate-py-secure-'));
  const keyFile = path.join(dir, 'release-bot.json');
  const receiptKeyFile = path.join(dir, 'receipt-key.pem');
  await writeFile(
    keyFile,
    JSON.stringify({
      key_id: orchestrator.keyId,
      tenant_id: demo!.tenantId,
      principal: 'release-bot',
      private_key_pem: orchestrator.privateKeyPem,
    }),
  );
  await writeFile(receiptKeyFile, signingKey.publicKeyPem);
  const sasl = secure.as('orchestrator-demo').sasl!;
  const passwordFile = path.join(dir, 'orchestrator-demo.password');
  await writeFile(passwordFile, `${sasl.password}\n`, { mode: 0o600 });
  // The settings `stack.sh env-secure orchestrator-demo` prints, as a deployment would give them.
  Object.assign(env, {
    STEPGATE_TEST_REQUIRE_SECURE: '1',
    STEPGATE_TEST_OTHER_TENANT: other!.tenantId,
    KAFKA_BROKERS: secure.brokers.join(','),
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: path.join(secure.pkiDir, 'ca.pem'),
    KAFKA_SASL_MECHANISM: sasl.mechanism,
    KAFKA_SASL_USERNAME: sasl.username,
    KAFKA_SASL_PASSWORD_FILE: passwordFile,
    STEPGATE_TOPIC_PREFIX: ns.topicPrefix,
    STEPGATE_TENANT_DECISION_TOPICS: 'true',
    STEPGATE_KEY_FILE: keyFile,
    STEPGATE_RECEIPT_PUBLIC_KEY_FILE: receiptKeyFile,
  });
}, 240_000);

afterAll(async () => {
  await evaluator?.stop();
  await setup?.cleanup(orchestrators());
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the Python client in secure mode (pytest)', () => {
  it('gates as its own SASL principal on its tenant topic; a wrong password and another tenant are refused by code', async () => {
    await runPytest(['tests/test_secure.py'], env);
  }, 120_000);
});
