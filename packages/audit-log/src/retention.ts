import type pg from 'pg';
import { monthStart, partitionName, utcMonth } from './partitions.js';

export class RetentionFloorError extends Error {
  constructor(
    readonly days: number,
    readonly floorDays: number,
  ) {
    super(`--days ${days} is below the retention floor of ${floorDays} days (STEPGATE_AUDIT_RETENTION_FLOOR_DAYS)`);
    this.name = 'RetentionFloorError';
  }
}

export interface PartitionInfo {
  name: string;
  from: string;
  to: string;
  rows: number;
}

export interface RetentionPlan {
  cutoff: string;
  /** Partitions whose every row is older than the cutoff: these are dropped whole. */
  drop: PartitionInfo[];
}

const PARTITION = /^audit_log_y(\d{4})m(\d{2})$/;

/** Lists the monthly partitions lying entirely before now - days. */
export async function planRetention(
  client: pg.ClientBase,
  days: number,
  floorDays: number,
  now = new Date(),
): Promise<RetentionPlan> {
  if (!Number.isInteger(days) || days < floorDays) throw new RetentionFloorError(days, floorDays);
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const { rows } = await client.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
     join pg_namespace n on n.oid = p.relnamespace where p.relname = 'audit_log' and n.nspname = current_schema() order by 1`,
  );
  const drop: PartitionInfo[] = [];
  for (const { name } of rows) {
    const m = PARTITION.exec(name);
    if (!m) continue;
    const from = utcMonth(Number(m[1]), Number(m[2]) - 1);
    const to = utcMonth(from.getUTCFullYear(), from.getUTCMonth() + 1);
    if (to.getTime() > cutoff.getTime()) continue;
    const count = await client.query<{ n: string }>(`select count(*) as n from ${name}`);
    drop.push({ name, from: from.toISOString(), to: to.toISOString(), rows: Number(count.rows[0]!.n) });
  }
  return { cutoff: cutoff.toISOString(), drop };
}

/**
 * Drops the planned partitions. Before each drop, every dropped row that a kept row links to (its
 * seq + 1 is not in the partition) is kept as an anchor, so `verify` can still walk the chain.
 */
export async function applyRetention(client: pg.ClientBase, plan: RetentionPlan): Promise<void> {
  for (const p of plan.drop) {
    if (partitionName(monthStart(new Date(p.from))) !== p.name)
      throw new Error(`refusing to drop unexpected table ${p.name}`);
    await client.query('begin');
    try {
      // The drop's own lock, taken before the anchors are read: a writer still copying a late event
      // into this partition finishes first, and its row is anchored instead of dropped unanchored.
      await client.query(`lock table ${p.name} in access exclusive mode`);
      await client.query(
        `insert into audit_chain_anchors (tenant_id, seq, row_hash, dropped_partition)
         select a.tenant_id, a.seq, a.row_hash, $1 from ${p.name} a
         where not exists (select 1 from ${p.name} b where b.tenant_id = a.tenant_id and b.seq = a.seq + 1)
         on conflict do nothing`,
        [p.name],
      );
      await client.query(`drop table ${p.name}`);
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
  }
}
