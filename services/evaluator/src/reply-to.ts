import type pg from 'pg';
import type { GateRequest } from '@stepgate/contracts';
import { replyToPrefixDelimited, TenantsRepository, type ReplyToAllowance } from '@stepgate/store';

/**
 * Why a request's `reply_to` is outside what its tenant allows, or undefined when it is allowed (or
 * absent). Fail closed: a tenant that allows no namespace or no prefix allows no reply_to at all.
 */
export function replyToRefusal(replyTo: GateRequest['reply_to'], allowance: ReplyToAllowance): string | undefined {
  if (!replyTo) return undefined;
  if (!allowance.namespaces.includes(replyTo.temporal_namespace))
    return allowance.namespaces.length === 0
      ? 'reply_to: this tenant allows no reply_to (stepgate tenants set --reply-to-namespaces … --reply-to-prefixes …)'
      : 'reply_to.temporal_namespace: not a namespace this tenant allows';
  // A prefix stored before delimiters were required (`acme` also matching `acme2-…`) allows nothing.
  const allows = (prefix: string) => replyToPrefixDelimited(prefix) && replyTo.temporal_workflow_id.startsWith(prefix);
  if (!allowance.workflowPrefixes.some(allows))
    return 'reply_to.temporal_workflow_id: does not start with a workflow-id prefix this tenant allows';
  return undefined;
}

/** Tenants' reply_to allowances, cached like credentials (a tenant notice drops the tenant's entry). */
export class ReplyToAllowances {
  private readonly cache = new Map<string, { allowance: Promise<ReplyToAllowance>; until: number }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly ttlMs: number,
  ) {}

  get(tenantId: string): Promise<ReplyToAllowance> {
    const hit = this.cache.get(tenantId);
    if (hit && hit.until > Date.now()) return hit.allowance;
    const allowance = new TenantsRepository(this.pool).replyToAllowance(tenantId);
    if (this.ttlMs > 0) {
      this.cache.set(tenantId, { allowance, until: Date.now() + this.ttlMs });
      allowance.catch(() => this.cache.delete(tenantId));
    }
    return allowance;
  }

  evictTenant(tenantId: string): void {
    this.cache.delete(tenantId);
  }
}
