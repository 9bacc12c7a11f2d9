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
}
