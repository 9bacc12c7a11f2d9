import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findUnacceptable } from '@stepgate/contracts';
import { rejection } from '@stepgate/test/rejection';
import { postWebhook, slackMessage, WebhookDeliveryError, type WebhookContent } from '../src/webhooks.js';

const post = (url: string, extra: { timeoutMs?: number; allowLoopbackHttp?: boolean } = {}) =>
  postWebhook({
    url,
    secret: 's'.repeat(32),
    event: 'approval.requested',
    deliveryId: 'd-1',
    body: '{}',
    allowLoopbackHttp: extra.allowLoopbackHttp ?? false,
    timeoutMs: extra.timeoutMs,
  });

const refusal = (promise: Promise<unknown>) => rejection(promise, WebhookDeliveryError);

describe('webhook deliveries refuse addresses that reach private networks', () => {
  it.each([
    ['NAT64 well-known prefix to 10.0.0.1', '[64:ff9b::a00:1]'],
    ['NAT64 local-use prefix', '[64:ff9b:1::a00:1]'],
    ['6to4 of 10.0.0.1', '[2002:a00:1::1]'],
    ['Teredo', '[2001:0:4136:e378:8000:63bf:3fff:fdd2]'],
    ['IPv4-compatible ::10.0.0.1', '[::a00:1]'],
    ['IPv4-mapped ::ffff:127.0.0.1', '[::ffff:7f00:1]'],
    ['benchmarking 198.18.0.1', '198.18.0.1'],
    ['benchmarking 198.19.255.1', '198.19.255.1'],
    ['IETF protocol assignments 192.0.0.8', '192.0.0.8'],
    ['CGNAT 100.64.0.1', '100.64.0.1'],
  ])('%s is refused (PRIVATE_ADDRESS, not retried)', async (_what, host) => {
    const err = await refusal(post(`https://${host}/hook`));
    expect(err.code).toBe('PRIVATE_ADDRESS');
    expect(err.retryable).toBe(false);
  });
});

describe('webhook deliveries have one deadline for the whole request', () => {
  let server: Server;
  let port: number;
  const timers: NodeJS.Timeout[] = [];
  beforeAll(async () => {
    // Answers at once, then trickles a byte every 20 ms for ever: an idle timer would never fire.
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => res.write('.'), 20);
      timers.push(t);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const t of timers) clearInterval(t);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('a receiver trickling its answer is cut off at the deadline (TIMEOUT, retried)', async () => {
    const err = await refusal(post(`http://127.0.0.1:${port}/slow`, { timeoutMs: 300, allowLoopbackHttp: true }));
    expect(err.code).toBe('TIMEOUT');
    expect(err.retryable).toBe(true);
  });
});

describe('the slack format', () => {
  it('cuts long texts without splitting a surrogate pair (an emoji across Slack limits stays whole or goes)', () => {
    const emoji = '\u{1F680}';
    const reason = `${'r'.repeat(2_999)}${emoji}`; // the pair straddles the 3,000-unit cut
    const message = slackMessage({
      event: 'approval.requested',
      delivery_id: 'd-1',
      occurred_at: '2026-12-03T00:00:00.000Z',
      request: {
        approval_id: 'a-1',
        tenant_id: 'acme',
        workflow_id: `wf-${'w'.repeat(1_985)}${emoji}`, // the pair straddles the field's 2,000-unit cut
        step_id: 's-1',
        step_name: 'deploy',
        step_type: 'tool_call',
        reason,
        severity: 'high',
        requested_by: { principal: 'agent' },
        policies_matched: [],
        inputs_summary: {},
        requested_at: '2026-12-03T00:00:00.000Z',
      },
      state: { status: 'pending', expires_at: '2026-12-04T00:00:00.000Z' },
      approvalUrl: null,
    } as unknown as WebhookContent);
    expect(findUnacceptable(message.blocks)).toBeUndefined();
    expect(JSON.stringify(message.blocks)).toContain(`${'r'.repeat(2_999)}"`);
  });
});
