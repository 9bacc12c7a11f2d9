import type pg from 'pg';
import { newAuditEvent, type AuditEvent } from '@stepgate/contracts';
import { storeOn, withTransaction, type OutboxEntry, type Store } from '@stepgate/store';
import type { ApprovalListing } from '@stepgate/approvals-client';
import type { Identity } from '../auth/identity.js';
import type { ApprovalGateway } from '../gateway.js';

/** What the API's routes work with. */
export interface ApiDeps {
  pool: pg.Pool;
  /**
   * Audit exports' own connections: an export holds one for as long as its reader takes (up to its
   * time limit), so exports, however slow their readers, never take those of every other request.
   */
  exportPool: pg.Pool;
  store: Store;
  gateway: ApprovalGateway;
  portalBaseUrl: string;
  /** Development only: webhooks may be http to a loopback host. */
  allowLoopbackWebhooks: boolean;
}

export type Publish = (topic: OutboxEntry['topic'], key: string, value: unknown) => void;

/**
 * An admin change as the CLI makes one: the store in one transaction with the outbox, so the change
 * and its audit event (and any notice to evaluators) commit together; the audit service's relay
 * publishes them.
 */
export function change<T>(pool: pg.Pool, fn: (store: Store, publish: Publish) => Promise<T>): Promise<T> {
  return withTransaction(pool, async (db) => {
    const store = storeOn(db);
    const outgoing: OutboxEntry[] = [];
    const result = await fn(store, (topic, key, value) => outgoing.push({ topic, key, value }));
    await store.outbox.enqueue(outgoing);
    return result;
  });
}

/** The audit event of a change, naming the signed-in person who made it. */
export function auditedBy(
  identity: Identity,
  action: AuditEvent['action'],
  outcome: string,
  detail: Record<string, unknown>,
): AuditEvent {
  return newAuditEvent({
    tenant_id: identity.tenantId,
    action,
    outcome,
    user_id: identity.principal,
    detail: {
      ...detail,
      actor: identity.principal,
      actor_issuer: identity.issuer,
      actor_subject: identity.subject,
      via: 'control-plane',
    },
  });
}

export function approvalUrl(portalBaseUrl: string, approvalId: string): string {
  return new URL(`approvals/${approvalId}`, portalBaseUrl).href;
}

export const withUrl = (portalBaseUrl: string) => (a: ApprovalListing) => ({
  ...a,
  approval_url: approvalUrl(portalBaseUrl, a.approval_id),
});
