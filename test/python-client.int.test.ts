/**
 * Runs the Python client's pytest suite (clients/python/tests) against the real stack: an evaluator and
 * an approvals service for a test namespace, the namespace's topics plus a second ("quiet") set that no
 * evaluator reads, and a small HTTP endpoint through which the Python tests submit the approval
 * statements they sign (./python.ts runs it in clients/python's virtual environment). The secure-mode
 * tests (tests/test_secure.py) run under test/secure/python-client.int.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { SignedApprovalStatement } from '@stepgate/contracts';
import { ApprovalsService } from '@stepgate/approvals';
import { ApprovalRefusedError, type Approvers } from '@stepgate/approvals-client';
import type { Evaluator } from '@stepgate/evaluator';
import { TopicAdmin } from '@stepgate/messaging';
import { freePort, testNamespace } from '@stepgate/test';
import {
  applyBundle,
  approvalsConfig,
  approversFor,
  registerPrincipal,
  startEvaluator,
  type Principal,
} from './pipeline.js';
import { pythonTestBundle, runPytest } from './python.js';

const ns = testNamespace('python-client');
const quietPrefix = `${ns.topicPrefix}quiet.`;
const TENANT = 'acme';

let signingKey: Principal;
let evaluator: Evaluator;
let service: ApprovalsService;
let approvers: Approvers;
let closeApprovers: () => Promise<void>;
let control: Server;
let dir: string;
const env: Record<string, string> = {};

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** The approval's state once its workflow runs (the approvals service starts it from the approvals topic). */
async function started(approvalId: string) {
  for (const end = Date.now() + 30_000; ;) {
    try {
      return await approvers.status(approvalId);
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** GET /status/<id>: the approval's state once its workflow runs; POST /submit/<id>: a statement signed in Python. */
function controlServer(): Server {
  return createServer((req, res) => {
    const reply = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const [, action, approvalId] = (req.url ?? '').split('/');
    const handle = async () => {
      if (req.method === 'GET' && action === 'status') return reply(200, await started(approvalId!));
      if (req.method === 'POST' && action === 'submit') {
        const { decision, signed } = (await body(req)) as {
          decision: 'approve' | 'reject';
          signed: SignedApprovalStatement;
        };
        await started(approvalId!);
        return reply(200, await approvers.submit(approvalId!, decision, signed));
      }
      reply(404, { code: 'NOT_FOUND' });
    };
    handle().catch((err: unknown) =>
      err instanceof ApprovalRefusedError
        ? reply(409, { code: err.code, message: err.message })
        : reply(500, { code: 'ERROR', message: String(err) }),
    );
  });
}

beforeAll(async () => {
  await ns.migrate();
  await ns.createTopics();
  const quietTopics = await ns.withAdmin((a) => new TopicAdmin(a).ensureTopics({ prefix: quietPrefix }));
  signingKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
  const orchestrator = await registerPrincipal(ns, TENANT, 'orchestrator');
  const alice = await registerPrincipal(ns, TENANT, 'alice', ['approver']);
  await applyBundle(ns, pythonTestBundle(TENANT));
  const metricsPort = await freePort();
  evaluator = startEvaluator(ns, signingKey, 'a', { metricsPort });
  service = new ApprovalsService(approvalsConfig(ns, signingKey));
  await Promise.all([evaluator.start(), service.start()]);
  ({ approvers, close: closeApprovers } = await approversFor(ns));
  control = controlServer();
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const address = control.address();
  if (!address || typeof address === 'string') throw new Error('control server has no port');

  dir = await mkdtemp(path.join(tmpdir(), 'stepgate-py-'));
  const keyFile = (name: string, p: Principal, principal: string) =>
    writeFile(
      path.join(dir, name),
      JSON.stringify({ key_id: p.keyId, tenant_id: TENANT, principal, private_key_pem: p.privateKeyPem }),
    );
  await keyFile('orchestrator.json', orchestrator, 'orchestrator');
  await keyFile('alice.json', alice, 'alice');
  Object.assign(env, {
    STEPGATE_TEST_REQUIRE_STACK: '1',
    STEPGATE_TEST_BROKERS: ns.endpoints.kafkaBrokers.join(','),
    STEPGATE_TEST_TOPIC_PREFIX: ns.topicPrefix,
    STEPGATE_TEST_QUIET_PREFIX: quietPrefix,
    STEPGATE_TEST_KEY_FILE: path.join(dir, 'orchestrator.json'),
    STEPGATE_TEST_APPROVER_KEY_FILE: path.join(dir, 'alice.json'),
    STEPGATE_TEST_TENANT: TENANT,
    STEPGATE_TEST_RECEIPT_KEY_ID: signingKey.keyId,
    STEPGATE_TEST_RECEIPT_PUBLIC_KEY_PEM: signingKey.publicKeyPem,
    STEPGATE_TEST_RECEIPT_PRIVATE_KEY_PEM: signingKey.privateKeyPem,
    STEPGATE_TEST_RECEIPT_KEYS_URL: `http://127.0.0.1:${metricsPort}/receipt-keys`,
    STEPGATE_TEST_CONTROL_URL: `http://127.0.0.1:${address.port}`,
    AIRFLOW_HOME: path.join(dir, 'airflow'),
  });
  afterAll(() => ns.withAdmin((a) => a.deleteTopics({ topics: quietTopics })).catch(() => undefined));
});

afterAll(async () => {
  await new Promise((resolve) => control?.close(resolve));
  await closeApprovers?.();
  await service?.stop();
  await evaluator?.stop();
  await ns.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the Python client (pytest) on the real stack', () => {
  it('passes its suite: decisions, approvals, hostile decisions, shared vectors, LangGraph and Airflow', async () => {
    await runPytest(['tests', '--ignore=tests/test_secure.py'], env);
  }, 600_000);
});
