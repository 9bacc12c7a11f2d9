import type { AuditEvent } from '@stepgate/contracts';
import type { Db } from './db.js';

/** An audit row as the alert rules read it back. */
export type RecentAuditRow = Pick<AuditEvent, 'id' | 'agent_id' | 'action' | 'decision' | 'detail'> & {
  tenant_id: string;
  timestamp: Date;
};

/** Reads of `audit_log` for other components (the audit consumer owns its writes). */
export class AuditReadsRepository {
  constructor(private readonly db: Db) {}

  /**
   * The events the windowed alert rules count (blocks, background gates) and the alerts raised, within
   * the last `withinSeconds`, in chain order. Per tenant through the (tenant_id, timestamp) index:
   * every tenant with rows has a chain head.
   */
  async recentAlertEvents(p: { withinSeconds: number }): Promise<RecentAuditRow[]> {
    const { rows } = await this.db.query<RecentAuditRow>(
      `select id::text, "timestamp", tenant_id, agent_id, action, decision, event->'detail' as detail
         from audit_log
        where tenant_id = any(array(select tenant_id from audit_chain_heads)) and "timestamp" > now() - make_interval(secs => $1)
          and (action = 'AlertRaised' or (action = 'GateEvaluated' and (decision = 'block' or event->'detail'->>'execution_mode' = 'background')))
        order by "timestamp", seq`,
      [p.withinSeconds],
    );
    return rows;
  }

  /**
   * A tenant's audit rows, newest first, `limit` at a time: pass the last row's `seq` as `beforeSeq`
   * for the next page (a tenant's `seq` orders its chain).
   */
  async page(p: AuditQuery): Promise<Array<{ seq: number; event: AuditEvent }>> {
    const where = ['tenant_id = $1'];
    const params: unknown[] = [p.tenantId];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (p.from) add('"timestamp" >= ?', p.from);
    if (p.to) add('"timestamp" < ?', p.to);
    if (p.workflowId) add('workflow_id = ?', p.workflowId);
    if (p.action) add('action = ?', p.action);
    if (p.outcome) add('outcome = ?', p.outcome);
    if (p.beforeSeq !== undefined) add('seq < ?', p.beforeSeq);
    params.push(p.limit);
    const { rows } = await this.db.query<{ seq: string; event: AuditEvent }>(
      `select seq, event from audit_log where ${where.join(' and ')} order by seq desc limit $${params.length}`,
      params,
    );
    return rows.map((r) => ({ seq: Number(r.seq), event: r.event }));
  }

  /** The decision a tenant's gate request got (undefined when the request is not the tenant's, or pruned). */
  async gateDecision(p: { tenantId: string; requestId: string }): Promise<unknown> {
    const { rows } = await this.db.query<{ decision: unknown }>(
      'select decision from gate_decisions where tenant_id = $1 and request_id = $2',
      [p.tenantId, p.requestId],
    );
    return rows[0]?.decision;
  }
}

/** Filters of `AuditReadsRepository.page`. */
export interface AuditQuery {
  tenantId: string;
  from?: Date | undefined;
  to?: Date | undefined;
  workflowId?: string | undefined;
  action?: string | undefined;
  outcome?: string | undefined;
  beforeSeq?: number | undefined;
  limit: number;
}
