import * as crypto from 'node:crypto';
import { canonicalAuditEvent, type AuditEvent } from '@stepgate/contracts';

/** The previous hash of a tenant's first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** Events without a tenant (unattributable requests) are chained under this id. */
export const UNATTRIBUTED_TENANT = '_unattributed';

/** A row's hash covers the previous row's hash and the RFC 8785 form of the whole event. */
export function rowHash(prevHash: string, event: AuditEvent): string {
  return hashLink(prevHash, canonicalAuditEvent(event));
}

/**
 * SHA-256 of a text's UTF-8 bytes, in hex: one call where the runtime has crypto.hash (Node ≥ 20.12),
 * which costs a row about half of what a Hash object's create, update and digest do.
 */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** The hash of `prevHash`, a newline and the canonical event (one text: the same bytes as hashing the three in turn). */
function hashLink(prevHash: string, canonicalEvent: string): string {
  return sha256Hex(`${prevHash}\n${canonicalEvent}`);
}

export interface ChainHead {
  seq: number;
  rowHash: string;
}

export interface ChainedEvent {
  event: AuditEvent;
  /** The event's RFC 8785 form: what the hash covers, and what is stored as `event`. */
  canonical: string;
  tenantId: string;
  seq: number;
  prevHash: string;
  rowHash: string;
}

/** Appends events (in order) to their tenants' chains; `heads` is advanced in place. */
export function chain(events: readonly AuditEvent[], heads: Map<string, ChainHead>): ChainedEvent[] {
  return events.map((event) => {
    const tenantId = event.tenant_id ?? UNATTRIBUTED_TENANT;
    const head = heads.get(tenantId) ?? { seq: 0, rowHash: GENESIS_HASH };
    const canonical = canonicalAuditEvent(event);
    const next = { seq: head.seq + 1, rowHash: hashLink(head.rowHash, canonical) };
    heads.set(tenantId, next);
    return { event, canonical, tenantId, seq: next.seq, prevHash: head.rowHash, rowHash: next.rowHash };
  });
}
