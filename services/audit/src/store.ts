import type pg from 'pg';
import type { AuditEvent } from '@stepgate/contracts';
import { chain, type ChainHead } from './chain.js';

const DUPLICATE_TABLE = '42P07';

/** `audit_log_y2026m11` for events of November 2026 (UTC). */
export function partitionName(month: Date): string {
  return `audit_log_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function monthStart(t: Date): Date {
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
}

/** Creates monthly partitions on demand (once per month per process). */
export class Partitions {
  private readonly known = new Set<string>();

  async ensure(db: pg.Pool | pg.ClientBase, timestamps: Iterable<Date>): Promise<void> {
    const months = new Map<string, Date>();
    for (const t of timestamps) {
      const m = monthStart(t);
      const name = partitionName(m);
      if (!this.known.has(name)) months.set(name, m);
    }
    for (const [name, from] of months) {
      const to = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + 1, 1));
      try {
        await db.query(`create table if not exists ${name} partition of audit_log for values from ('${from.toISOString()}') to ('${to.toISOString()}')`);
      } catch (err) {
        // Another instance created it between our check and create: that is the outcome we wanted.
        if ((err as { code?: string }).code !== DUPLICATE_TABLE) throw err;
      }
      this.known.add(name);
    }
  }
}

export interface WriteResult {
  inserted: number;
  duplicates: number;
}

/**
 * Writes a batch of events in one transaction: skips ids already stored (a redelivery), extends each
 * tenant's hash chain under a row lock on its head, inserts all rows with one statement.
 */
export async function writeBatch(client: pg.ClientBase, events: readonly AuditEvent[]): Promise<WriteResult> {
  const unique = [...new Map(events.map((e) => [e.id, e])).values()];
  if (unique.length === 0) return { inserted: 0, duplicates: events.length };
  const tenants = [...new Set(unique.map((e) => e.tenant_id ?? '_unattributed'))].sort();
  let earliest = Infinity;
  let latest = -Infinity;
  for (const e of unique) {
    const t = Date.parse(e.timestamp);
    earliest = Math.min(earliest, t);
    latest = Math.max(latest, t);
  }

  await client.query('begin');
  try {
    await client.query(`insert into audit_chain_heads (tenant_id, seq, row_hash) select t, 0, $2 from unnest($1::text[]) t on conflict do nothing`, [tenants, '0'.repeat(64)]);
    const heads = await client.query<{ tenant_id: string; seq: string; row_hash: string }>(
      'select tenant_id, seq, row_hash from audit_chain_heads where tenant_id = any($1) order by tenant_id for update',
      [tenants],
    );
    const existing = await client.query<{ id: string }>(
      `select id::text from audit_log where id = any($1::uuid[]) and "timestamp" between $2 and $3`,
      [unique.map((e) => e.id), new Date(earliest), new Date(latest)],
    );
    const stored = new Set(existing.rows.map((r) => r.id));
    const fresh = unique.filter((e) => !stored.has(e.id));
    const headMap = new Map<string, ChainHead>(heads.rows.map((h) => [h.tenant_id, { seq: Number(h.seq), rowHash: h.row_hash }]));
    const rows = chain(fresh, headMap);

    if (rows.length) {
      const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
      await client.query(
        `insert into audit_log (id, "timestamp", tenant_id, agent_id, session_id, user_id, workflow_id, execution_id, step_id, action,
           inputs_summary, outcome, elapsed_ms, decision_id, decision, policies_matched, error_code, event, seq, prev_hash, row_hash)
         select id, ts, tenant_id, agent_id, session_id, user_id, workflow_id, execution_id, step_id, action,
           inputs_summary, outcome, elapsed_ms, decision_id, decision,
           coalesce((select array_agg(x) from jsonb_array_elements_text(policies) x), '{}'), error_code, event, seq, prev_hash, row_hash
         from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
           $11::text[], $12::text[], $13::float8[], $14::text[], $15::text[], $16::jsonb[], $17::text[], $18::jsonb[], $19::bigint[], $20::text[], $21::text[])
           as r(id, ts, tenant_id, agent_id, session_id, user_id, workflow_id, execution_id, step_id, action,
             inputs_summary, outcome, elapsed_ms, decision_id, decision, policies, error_code, event, seq, prev_hash, row_hash)`,
        [
          col((r) => r.event.id),
          col((r) => r.event.timestamp),
          col((r) => r.tenantId),
          col((r) => r.event.agent_id),
          col((r) => r.event.session_id),
          col((r) => r.event.user_id),
          col((r) => r.event.workflow_id),
          col((r) => r.event.execution_id),
          col((r) => r.event.step_id),
          col((r) => r.event.action),
          col((r) => r.event.inputs_summary),
          col((r) => r.event.outcome),
          col((r) => r.event.elapsed_ms),
          col((r) => r.event.decision_id),
          col((r) => r.event.decision),
          col((r) => JSON.stringify(r.event.policies_matched)),
          col((r) => r.event.error_code),
          col((r) => JSON.stringify(r.event)),
          col((r) => r.seq),
          col((r) => r.prevHash),
          col((r) => r.rowHash),
        ],
      );
      const advanced = [...headMap].filter(([t]) => tenants.includes(t));
      await client.query(
        `update audit_chain_heads h set seq = v.seq, row_hash = v.row_hash
         from unnest($1::text[], $2::bigint[], $3::text[]) as v(tenant_id, seq, row_hash) where h.tenant_id = v.tenant_id`,
        [advanced.map(([t]) => t), advanced.map(([, h]) => h.seq), advanced.map(([, h]) => h.rowHash)],
      );
    }
    await client.query('commit');
    return { inserted: rows.length, duplicates: events.length - rows.length };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}
