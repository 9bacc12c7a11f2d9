// Approval webhooks on the real stack (Temporal, Kafka, Postgres) against a local node:http receiver:
// signed deliveries that verify, a retry after the receiver was down, the Slack-shaped body, and an
// audited failure when the receiver refuses for good.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@stepgate/contracts';
import {
  verifyWebhookSignature,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  type WebhookPayload,
} from '@stepgate/contracts/node';
import type { GateStepRequest } from '@stepgate/client';
import { approvalWorkflowId } from '@stepgate/approvals-client';
import { eventually, freePort, testNamespace } from '@stepgate/test';
import { approvalPolicy, openApprovalsFixture, openBundle, type ApprovalsFixture } from './approvals-fixture.js';
import { runCli } from './pipeline.js';

const ns = testNamespace('approvals-webhooks');
const TENANT = 'acme';
const PORTAL = 'https://portal.example';
const SECRET = 'whsec-test-0123456789abcdef';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A receiver on loopback that records every POST and answers with the status `answer` gives its path. */
function receiver(answer: (path: string) => number) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.statusCode = answer(req.url ?? '');
      res.end('ok');
    });
  });
  return {
    received,
    listen: (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let stack: ApprovalsFixture<'alice'>;
let port: number;
const hooks = receiver((path) => (path === '/gone' ? 410 : 200));

beforeAll(async () => {
  stack = await openApprovalsFixture(ns, {
    tenant: TENANT,
    approvers: { alice: {} },
    bundles: [
      openBundle(TENANT, [
        approvalPolicy('approve-deploys', 'deploy', { reason: 'Deploys need a human', severity: 'high' }),
      ]),
    ],
    service: { portalBaseUrl: PORTAL, allowLoopbackWebhooks: true },
    tap: ['audit'],
  });
  port = await freePort();
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await hooks.close().catch(() => undefined);
});

/** The stepgate CLI, in process, pointed at this test's services. */
const cli = (...args: string[]) => runCli(ns, args);

const deploy = (): GateStepRequest => ({
  workflow_id: `wf-${randomUUID()}`,
  step_id: 'deploy-prod',
  step_name: 'deploy',
  step_type: 'tool_call',
  user_id: 'dev-1',
  tool_context: { tool_name: 'deploy', tool_input: { env: 'prod' } },
});

const deliveriesOf = (id: string, path: string) => hooks.received.filter((r) => r.path === path && r.body.includes(id));

describe('webhook configuration (CLI)', () => {
  it('refuses URLs that are no https (or loopback http without the dev flag), and audits adds and removes without the secret, the path or the query', async () => {
    for (const url of ['http://example.com/hook', 'ftp://example.com/x', 'https://user:pw@example.com/x', 'not a url'])
      expect((await cli('webhooks', 'add', '--tenant', TENANT, '--url', url)).code).not.toBe(0);
    expect((await cli('webhooks', 'add', '--tenant', TENANT, '--url', `http://127.0.0.1:${port}/x`)).stderr).toContain(
      'loopback',
    );
    // Slack's incoming-webhook secret is the URL's path: the audit keeps only the origin and a fingerprint.
    const secretUrl = 'https://hooks.example/services/T0001/B0001/PathSecret42?token=abc';
    const added = await cli('webhooks', 'add', '--tenant', TENANT, '--url', secretUrl);
    expect(added.code).toBe(0);
    const id = /added (whk_\S+)/.exec(added.stdout)![1]!;
    expect(added.stdout).toMatch(/secret: \S{20,}/);
    expect((await cli('webhooks', 'list', '--tenant', TENANT)).stdout).toContain(id);
    expect((await cli('webhooks', 'remove', id, '--tenant', 'globex')).code).not.toBe(0);
    expect((await cli('webhooks', 'remove', id, '--tenant', TENANT)).code).toBe(0);
    const audited = await stack.wire.until(() => {
      const mine = stack.wire.json<AuditEvent>(ns.topics.audit).filter((a) => a.detail.webhook_id === id);
      return mine.length === 2 ? mine : undefined;
    });
    expect(audited.map((a) => a.action)).toEqual(['WebhookAdded', 'WebhookRemoved']);
    expect(JSON.stringify(audited)).not.toContain('token=abc');
    expect(JSON.stringify(audited)).not.toContain('/services');
    expect(JSON.stringify(audited)).not.toContain('PathSecret42');
    expect(audited[0]!.detail).toMatchObject({
      url: 'https://hooks.example',
      url_sha256: createHash('sha256').update(secretUrl).digest('hex').slice(0, 32),
    });
  });
});

describe('webhook deliveries', () => {
  it('requested and decided reach a receiver that was down at first (retried), signed, JSON and Slack-shaped; a 410 is audited', async () => {
    // The receiver is not listening yet: the first attempts are refused connections.
    for (const [path, format] of [
      ['/json', 'json'],
      ['/slack', 'slack'],
      ['/gone', 'json'],
    ] as const)
      expect(
        (
          await cli(
            'webhooks',
            'add',
            '--tenant',
            TENANT,
            '--url',
            `http://127.0.0.1:${port}${path}`,
            '--format',
            format,
            '--secret',
            SECRET,
            '--allow-loopback-http',
          )
        ).code,
      ).toBe(0);

    const step = deploy();
    const asked = await stack.gate.gate(step);
    const id = asked.approval_id!;
    const handle = stack.temporal.workflow.getHandle(approvalWorkflowId(id));
    // Waits until Temporal retries a delivery that failed, then lets the receiver answer.
    await eventually(
      async () => {
        const d = await handle.describe().catch(() => undefined);
        return d?.raw.pendingActivities?.some((a) => (a.attempt ?? 0) >= 2) ? true : undefined;
      },
      'a retried webhook delivery',
      { timeout: 60_000, interval: 250 },
    );
    await hooks.listen(port);

    const requested = await eventually(() => deliveriesOf(id, '/json')[0], 'the requested delivery', {
      timeout: 60_000,
    });
    const payload = JSON.parse(requested.body) as WebhookPayload;
    expect(payload).toMatchObject({
      event: 'approval.requested',
      approval: { approval_id: id, tenant_id: TENANT, status: 'pending', approvals_required: 1 },
      approval_url: `${PORTAL}/approvals/${id}`,
    });
    const timestamp = requested.headers[WEBHOOK_TIMESTAMP_HEADER.toLowerCase()] as string;
    const signature = requested.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string;
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ secret: SECRET, timestamp, body: requested.body, signature })).toBe(true);
    expect(
      verifyWebhookSignature({ secret: 'another-secret-of-16+', timestamp, body: requested.body, signature }),
    ).toBe(false);
    expect(
      verifyWebhookSignature({
        secret: SECRET,
        timestamp,
        body: requested.body.replace('pending', 'approved'),
        signature,
      }),
    ).toBe(false);

    const slack = JSON.parse((await eventually(() => deliveriesOf(id, '/slack')[0], 'the Slack delivery')).body) as {
      text: string;
      blocks: Array<{ type: string; elements?: Array<{ type: string; url?: string }> }>;
    };
    expect(slack.text).toContain('Approval requested');
    expect(slack.blocks[0]!.type).toBe('header');
    expect(slack.blocks.find((b) => b.type === 'actions')!.elements![0]).toMatchObject({
      type: 'button',
      url: `${PORTAL}/approvals/${id}`,
    });

    // The receiver answering 410 Gone refuses for good: no more retries, an audit event, the approval goes on.
    const failed = await stack.wire.until(
      () =>
        stack.wire
          .json<AuditEvent>(ns.topics.audit)
          .find((a) => a.action === 'WebhookDeliveryFailed' && a.detail.approval_id === id),
      60_000,
    );
    expect(failed.detail).toMatchObject({ event: 'approval.requested' });
    expect(String(failed.detail.error)).toContain('410');

    await stack.approvers.approve(id, { credential: stack.keys.alice, comment: 'Change ticket CHG-1234 reviewed' });
    const decided = await eventually(
      () => deliveriesOf(id, '/json').find((r) => r.body.includes('"approval.decided"')),
      'the decided delivery',
      { timeout: 60_000 },
    );
    expect(JSON.parse(decided.body)).toMatchObject({
      event: 'approval.decided',
      approval: { status: 'approved', decided_by: 'alice', approved_by: ['alice'] },
    });
    await eventually(
      async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined),
      'the approval workflow to complete after its deliveries',
    );
  });
});
