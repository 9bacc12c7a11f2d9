// Webhook deliveries: the body of each format, its signature, and an HTTP POST that does not become a
// way into the network stepgate runs in (SSRF): https only (http to loopback only when allowed for
// development), the host resolved once and refused when private, no redirects, bounded time and reads.
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { sliceWellFormed, type ApprovalRequest } from '@stepgate/contracts';
import {
  WEBHOOK_DELIVERY_HEADER,
  WEBHOOK_EVENT_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  webhookSignature,
  webhookUrlProblem,
  type WebhookEvent,
  type WebhookPayload,
} from '@stepgate/contracts/node';
import type { ApprovalState } from '@stepgate/approvals-client/definitions';

/** How long one attempt may take in all, connection to last byte (a deadline, not an idle timer). */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Of a response, at most this much is read (and only to log it). */
const MAX_RESPONSE_BYTES = 4096;

/**
 * Addresses a webhook may not reach: private, loopback, link-local, CGNAT, IETF protocol assignments,
 * benchmarking, unspecified and multicast; in IPv6 also every prefix that embeds an IPv4 address
 * (mapped, compatible, NAT64, 6to4, Teredo), which could otherwise reach a private IPv4 one.
 */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 96],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['2001::', 32],
  ['2002::', 16],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv6');
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Why a delivery was not attempted or not accepted; `retryable` says whether Temporal should try again. */
export type WebhookDeliveryCode = 'URL_REFUSED' | 'PRIVATE_ADDRESS' | 'UNRESOLVED' | 'TIMEOUT' | 'REFUSED' | 'FAILED';
export class WebhookDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code: WebhookDeliveryCode = 'FAILED',
  ) {
    super(message);
    this.name = 'WebhookDeliveryError';
  }
}

export interface WebhookContent {
  event: WebhookEvent;
  delivery_id: string;
  occurred_at: string;
  request: ApprovalRequest;
  state: ApprovalState;
  approvalUrl: string | null;
}

export function webhookPayload(c: WebhookContent): WebhookPayload {
  const r = c.request;
  return {
    event: c.event,
    delivery_id: c.delivery_id,
    occurred_at: c.occurred_at,
    approval: {
      approval_id: r.approval_id,
      tenant_id: r.tenant_id,
      workflow_id: r.workflow_id,
      step_id: r.step_id,
      step_name: r.step_name,
      step_type: r.step_type,
      reason: r.reason,
      severity: r.severity,
      requested_by: r.requested_by,
      policies_matched: r.policies_matched.map((p) => p.policy_id),
      inputs_summary: r.inputs_summary,
      action_digest: c.state.action_digest ?? '',
      requested_at: r.requested_at,
      expires_at: c.state.expires_at,
      // Events go out before the outcome is recorded, so never for a superseded approval.
      status: c.state.status === 'superseded' ? c.state.superseded!.resolution : c.state.status,
      approvals_required: c.state.approvals_required ?? 1,
      approved_by: (c.state.approvals ?? []).map((v) => v.principal),
      eligible_roles: c.state.eligible_roles ?? ['approver'],
      decided_by: c.state.decided_by,
      decided_at: c.state.decided_at,
    },
    approval_url: c.approvalUrl,
  };
}

const HEADLINES: Record<WebhookEvent, string> = {
  'approval.requested': 'Approval requested',
  'approval.reminded': 'Approval still waiting',
  'approval.escalated': 'Approval escalated',
  'approval.decided': 'Approval decided',
};

/** Slack's mrkdwn treats & < > specially; everything the requester chose is escaped. */
const mrkdwn = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The `slack` format: a Block Kit message (for an incoming webhook) with the link to the approval. */
export function slackMessage(c: WebhookContent): Record<string, unknown> {
  const p = webhookPayload(c).approval;
  const headline =
    c.event === 'approval.decided'
      ? `Approval ${p.status}${p.decided_by ? ` by ${p.decided_by}` : ''}`
      : HEADLINES[c.event];
  const text = `${headline}: step ${p.step_id} of ${p.workflow_id} (${p.tenant_id})`;
  const fields = [
    `*Step*\n${mrkdwn(p.step_name ?? p.step_id)} (${mrkdwn(p.step_type)})`,
    `*Workflow*\n${mrkdwn(p.workflow_id)}`,
    `*Requested by*\n${mrkdwn(p.requested_by.user_id ?? p.requested_by.principal)}`,
    `*Approvals*\n${p.approved_by.length} of ${p.approvals_required}`,
  ];
  return {
    text: mrkdwn(text),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: sliceWellFormed(headline, 150), emoji: false } },
      { type: 'section', text: { type: 'mrkdwn', text: sliceWellFormed(mrkdwn(p.reason), 3000) } },
      { type: 'section', fields: fields.map((f) => ({ type: 'mrkdwn', text: sliceWellFormed(f, 2000) })) },
      {
        type: 'context',
        elements: [
          { type: 'mrkdwn', text: `Expires ${p.expires_at} · action digest \`${p.action_digest.slice(0, 16)}…\`` },
        ],
      },
      ...(c.approvalUrl
        ? [
            {
              type: 'actions',
              elements: [
                {
                  type: 'button',
                  text: { type: 'plain_text', text: 'Open approval' },
                  url: c.approvalUrl,
                  action_id: 'open_approval',
                },
              ],
            },
          ]
        : []),
    ],
  };
}

/** The address a webhook's host resolves to, refused when it is private (unless loopback is allowed). */
async function resolvePublic(hostname: string, allowLoopback: boolean): Promise<{ address: string; family: 4 | 6 }> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const found = isIP(host)
    ? { address: host, family: isIP(host) as 4 | 6 }
    : await lookup(host, { verbatim: true }).then(
        (a) => ({ address: a.address, family: a.family as 4 | 6 }),
        (err: unknown) => {
          throw new WebhookDeliveryError(`cannot resolve ${host}: ${(err as Error).message}`, true, 'UNRESOLVED');
        },
      );
  const type = found.family === 6 ? 'ipv6' : 'ipv4';
  if (allowLoopback && LOOPBACK.check(found.address, type)) return found;
  if (PRIVATE.check(found.address, type))
    throw new WebhookDeliveryError(
      `${host} resolves to a private address (${found.address}): refused`,
      false,
      'PRIVATE_ADDRESS',
    );
  return found;
}

/**
 * POSTs `body` signed with `secret`; resolves on a 2xx. 4xx answers other than 408 and 429 are not
 * retried (the receiver refuses this delivery); anything else is.
 */
export async function postWebhook(p: {
  url: string;
  secret: string;
  event: WebhookEvent;
  deliveryId: string;
  body: string;
  allowLoopbackHttp: boolean;
  nowMs?: number;
  /** Tests shorten the deadline. */
  timeoutMs?: number;
}): Promise<{ status: number }> {
  const problem = webhookUrlProblem(p.url, { allowLoopbackHttp: p.allowLoopbackHttp });
  if (problem) throw new WebhookDeliveryError(`webhook URL refused: ${problem}`, false, 'URL_REFUSED');
  const url = new URL(p.url);
  const target = await resolvePublic(url.hostname, p.allowLoopbackHttp);
  // Connect to the address checked above, whatever the name resolves to by then (DNS rebinding).
  const pinned: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as (e: null, a: unknown[]) => void)(null, [target]);
    else callback(null, target.address, target.family);
  };
  const timestamp = String(Math.floor((p.nowMs ?? Date.now()) / 1000));
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(p.body)),
    'user-agent': 'stepgate-webhooks/1',
    [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
    [WEBHOOK_SIGNATURE_HEADER]: webhookSignature({ secret: p.secret, timestamp, body: p.body }),
    [WEBHOOK_DELIVERY_HEADER]: p.deliveryId,
    [WEBHOOK_EVENT_HEADER]: p.event,
  };
  const send = url.protocol === 'https:' ? https.request : http.request;
  const timeoutMs = p.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  return new Promise<{ status: number }>((resolveOuter, rejectOuter) => {
    // One deadline for the whole attempt: a receiver trickling bytes cannot hold the activity open.
    const deadline = setTimeout(() => {
      rejectOuter(new WebhookDeliveryError(`no complete answer within ${timeoutMs} ms`, true, 'TIMEOUT'));
      req.destroy();
    }, timeoutMs);
    const resolve = (v: { status: number }) => {
      clearTimeout(deadline);
      resolveOuter(v);
    };
    const reject = (err: WebhookDeliveryError) => {
      clearTimeout(deadline);
      rejectOuter(err);
    };
    const req = send(url, { method: 'POST', headers, lookup: pinned }, (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) res.destroy(); // the answer's status is all that counts
      });
      const status = res.statusCode ?? 0;
      const settle = () => {
        if (status >= 200 && status < 300) resolve({ status });
        else
          reject(
            new WebhookDeliveryError(
              `the receiver answered ${status}`,
              !(status >= 400 && status < 500 && status !== 408 && status !== 429),
              'REFUSED',
            ),
          );
      };
      res.on('end', settle);
      res.on('close', settle);
      res.on('error', settle);
    });
    req.on('error', (err) =>
      reject(err instanceof WebhookDeliveryError ? err : new WebhookDeliveryError(err.message, true)),
    );
    req.end(p.body);
  });
}
