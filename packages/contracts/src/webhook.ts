// Approval webhooks: what a tenant's endpoint receives, and how it checks that stepgate sent it.
// Receivers verify `X-Stepgate-Signature` (docs/operations.md, "Webhooks", has the recipe).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_TIMESTAMP_HEADER = 'X-Stepgate-Timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'X-Stepgate-Signature';
/** The delivery's id: the same on every retry of one delivery, so receivers can drop repeats. */
export const WEBHOOK_DELIVERY_HEADER = 'X-Stepgate-Delivery';
export const WEBHOOK_EVENT_HEADER = 'X-Stepgate-Event';

export const WEBHOOK_EVENTS = [
  'approval.requested',
  'approval.reminded',
  'approval.escalated',
  'approval.decided',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The `json` format's body. */
export interface WebhookPayload {
  event: WebhookEvent;
  delivery_id: string;
  /** When the event happened (ISO 8601), not when this attempt was sent. */
  occurred_at: string;
  approval: {
    approval_id: string;
    tenant_id: string;
    workflow_id: string;
    step_id: string;
    step_name: string | null;
    step_type: string;
    reason: string;
    severity: string | null;
    requested_by: { principal: string; user_id: string | null; agent_id: string | null };
    policies_matched: string[];
    inputs_summary: string;
    action_digest: string;
    requested_at: string;
    expires_at: string;
    /** pending until decided; then approved, rejected or expired. */
    status: 'pending' | 'approved' | 'rejected' | 'expired';
    approvals_required: number;
    approved_by: string[];
    eligible_roles: string[];
    decided_by: string | null;
    decided_at: string | null;
  };
  /** Where a person opens the approval (PORTAL_BASE_URL + /approvals/<approval_id>); null without a portal. */
  approval_url: string | null;
}

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the webhook's secret>`. */
export function webhookSignature(p: { secret: string; timestamp: string; body: string }): string {
  return `v1=${createHmac('sha256', p.secret).update(`${p.timestamp}.${p.body}`).digest('hex')}`;
}

/**
 * A receiver's check: the signature matches and the timestamp (unix seconds) is within `toleranceSeconds`
 * of `nowMs` (a replayed old delivery is refused).
 */
export function verifyWebhookSignature(p: {
  secret: string;
  timestamp: string;
  body: string;
  signature: string;
  nowMs?: number;
  toleranceSeconds?: number;
}): boolean {
  const sent = Number(p.timestamp);
  if (!/^\d{1,12}$/.test(p.timestamp) || !Number.isFinite(sent)) return false;
  if (Math.abs((p.nowMs ?? Date.now()) / 1000 - sent) > (p.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(webhookSignature(p));
  const got = Buffer.from(p.signature);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/** Hosts an `http:` webhook may name when loopback delivery is explicitly allowed (development). */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Why a webhook URL is refused, or undefined: https only (http only to a loopback host, and only when
 * `allowLoopbackHttp`), no credentials in the URL, bounded length. Where it resolves is checked again
 * at delivery (the approvals service refuses private addresses).
 */
export function webhookUrlProblem(url: string, o: { allowLoopbackHttp: boolean }): string | undefined {
  if (url.length > 2048) return 'longer than 2048 characters';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (u.username || u.password) return 'must not carry credentials';
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname))
    return o.allowLoopbackHttp ? undefined : 'http is allowed only to a loopback host, and only in development';
  return 'expected an https URL';
}

/** Why a webhook secret an admin chose is refused, or undefined. */
export function webhookSecretProblem(secret: string): string | undefined {
  return secret.length < 16 || secret.length > 256 ? 'expected 16 to 256 characters' : undefined;
}

export const newWebhookId = (): string => `whk_${randomBytes(12).toString('base64url')}`;
export const newWebhookSecret = (): string => randomBytes(32).toString('base64url');

/** A webhook URL as audits name it: without its query, which may carry a token (call after webhookUrlProblem). */
export function webhookAuditedUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
