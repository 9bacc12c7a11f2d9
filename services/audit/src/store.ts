import pg from 'pg';
import type { AuditEvent } from '@stepgate/contracts';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { chain, monthStart, partitionName, utcMonth, type ChainedEvent, type ChainHead } from '@stepgate/audit-log';

const DUPLICATE_TABLE = '42P07';

/** Creates monthly partitions on demand (once per month per process). */
export class Partitions {
  /** UTC months (year × 12 + month) whose partition exists. */
  private readonly known = new Set<number>();
  /** Reused to read each timestamp's UTC month without a Date per event. */
  private readonly scratch = new Date(0);

  /**
   * `timestamps`: ISO 8601 texts (events' `timestamp`). Returns the name of the partition they all
   * fall in, or undefined when they span months.
   */
  async ensure(db: pg.Pool | pg.ClientBase, timestamps: Iterable<string>): Promise<string | undefined> {
    const missing = new Map<number, Date>();
    let only: number | undefined;
    let spansMonths = false;
    for (const text of timestamps) {
      this.scratch.setTime(Date.parse(text));
      const month = this.scratch.getUTCFullYear() * 12 + this.scratch.getUTCMonth();
      if (only === undefined) only = month;
      else if (month !== only) spansMonths = true;
      if (!this.known.has(month) && !missing.has(month)) missing.set(month, monthStart(this.scratch));
    }
    for (const [month, from] of missing) {
      const name = partitionName(from);
      const to = utcMonth(from.getUTCFullYear(), from.getUTCMonth() + 1);
      try {
        await db.query(
          `create table if not exists ${name} partition of audit_log for values from ('${from.toISOString()}') to ('${to.toISOString()}')`,
        );
      } catch (err) {
        // Another instance created it between our check and create: that is the outcome we wanted.
        if ((err as { code?: string }).code !== DUPLICATE_TABLE) throw err;
      }
      this.known.add(month);
    }
    return only === undefined || spansMonths ? undefined : partitionName(utcMonth(Math.floor(only / 12), only % 12));
  }
}

export interface WriteResult {
  inserted: number;
  duplicates: number;
}

/**
 * Writes a batch of events in one transaction: extends each tenant's hash chain under a row lock on
 * its head, inserts all rows with one statement, skips events already stored (a redelivery).
 */
export async function writeBatch(
  client: pg.ClientBase,
  events: readonly AuditEvent[],
  target: CopyTarget = {},
): Promise<WriteResult> {
  const unique = [...new Map(events.map((e) => [e.id, e])).values()];
  if (unique.length === 0) return { inserted: 0, duplicates: events.length };
  let inserted: number;
  try {
    // Stored events are rare (a redelivery after a crash or rebalance), and the primary key refuses
    // them: no lookup of every id unless the first attempt meets one.
    inserted = await writeInTransaction(client, unique, { skipStored: false, ...target });
  } catch (err) {
    if (!isAuditLogDuplicate(err)) throw err;
    inserted = await writeInTransaction(client, unique, { skipStored: true, ...target });
  }
  return { inserted, duplicates: events.length - inserted };
}

/**
 * `partition`: the `audit_log` partition (Partitions.ensure's answer) every event falls in. Rows
 * COPYed into it skip the parent's routing of each row (about an eighth of Postgres's COPY time);
 * Postgres still checks each row against the partition's bounds.
 */
export interface CopyTarget {
  partition?: string;
}

const UNIQUE_VIOLATION = '23505';

/** The primary key (id, timestamp) of an `audit_log` partition refused a row: that event is stored. */
function isAuditLogDuplicate(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.code === UNIQUE_VIOLATION && !!err.table?.startsWith('audit_log');
}

/** Returns the rows inserted. `skipStored`: look up which events are stored first, and leave them out. */
async function writeInTransaction(
  client: pg.ClientBase,
  unique: readonly AuditEvent[],
  { skipStored, partition }: CopyTarget & { skipStored: boolean },
): Promise<number> {
  const tenants = [...new Set(unique.map((e) => e.tenant_id ?? '_unattributed'))].sort();
  await client.query('begin');
  try {
    await client.query(
      `insert into audit_chain_heads (tenant_id, seq, row_hash) select t, 0, $2 from unnest($1::text[]) t on conflict do nothing`,
      [tenants, '0'.repeat(64)],
    );
    const heads = await client.query<{ tenant_id: string; seq: string; row_hash: string }>(
      'select tenant_id, seq, row_hash from audit_chain_heads where tenant_id = any($1) order by tenant_id for update',
      [tenants],
    );
    const fresh = skipStored ? await unstored(client, unique) : unique;
    const headMap = new Map<string, ChainHead>(
      heads.rows.map((h) => [h.tenant_id, { seq: Number(h.seq), rowHash: h.row_hash }]),
    );
    const rows = chain(fresh, headMap);

    if (rows.length) {
      await copyRows(client, rows, partition ?? 'audit_log');
      const advanced = [...headMap].filter(([t]) => tenants.includes(t));
      await client.query(
        `update audit_chain_heads h set seq = v.seq, row_hash = v.row_hash
         from unnest($1::text[], $2::bigint[], $3::text[]) as v(tenant_id, seq, row_hash) where h.tenant_id = v.tenant_id`,
        [advanced.map(([t]) => t), advanced.map(([, h]) => h.seq), advanced.map(([, h]) => h.rowHash)],
      );
    }
    await client.query('commit');
    return rows.length;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/** The events whose id is not stored yet. */
async function unstored(client: pg.ClientBase, events: readonly AuditEvent[]): Promise<readonly AuditEvent[]> {
  let earliest = Infinity;
  let latest = -Infinity;
  for (const e of events) {
    const t = Date.parse(e.timestamp);
    earliest = Math.min(earliest, t);
    latest = Math.max(latest, t);
  }
  const existing = await client.query<{ id: string }>(
    `select id::text from audit_log where id = any($1::uuid[]) and "timestamp" between $2 and $3`,
    [events.map((e) => e.id), new Date(earliest), new Date(latest)],
  );
  const stored = new Set(existing.rows.map((r) => r.id));
  return events.filter((e) => !stored.has(e.id));
}

const COLUMNS = `id, "timestamp", tenant_id, agent_id, session_id, user_id, workflow_id, execution_id, step_id, action, inputs_summary, outcome,
  elapsed_ms, decision_id, decision, policies_matched, error_code, event, seq, prev_hash, row_hash`;

/** One row in COPY's text format, newline included. */
function copyLine(row: ChainedEvent): string {
  const { event: e, canonical, tenantId, seq, prevHash, rowHash } = row;
  // id, timestamp, numbers and hex hashes have no character COPY escapes (the schema checked their form).
  return (
    `${e.id}\t${e.timestamp}\t${copyField(tenantId)}\t${copyField(e.agent_id)}\t${copyField(e.session_id)}\t${copyField(e.user_id)}\t` +
    `${copyField(e.workflow_id)}\t${copyField(e.execution_id)}\t${copyField(e.step_id)}\t${e.action}\t${copyField(e.inputs_summary)}\t` +
    `${copyField(e.outcome)}\t${e.elapsed_ms}\t${copyField(e.decision_id)}\t${e.decision ?? '\\N'}\t${copyField(pgTextArray(e.policies_matched))}\t` +
    `${copyField(e.error_code)}\t${copyJsonField(canonical)}\t${seq}\t${prevHash}\t${rowHash}\n`
  );
}

/** The rows in COPY's text format, one string per row. */
export function copyLines(rows: readonly ChainedEvent[]): string[] {
  return rows.map(copyLine);
}

/** Rows per string handed to the COPY stream. */
const ROWS_PER_CHUNK = 500;

/** The rows in COPY's text format, ROWS_PER_CHUNK rows per string, appended in place (no per-row array to join). */
function copyChunks(rows: readonly ChainedEvent[]): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_CHUNK) {
    let chunk = '';
    for (let j = i; j < Math.min(i + ROWS_PER_CHUNK, rows.length); j++) chunk += copyLine(rows[j]!);
    chunks.push(chunk);
  }
  return chunks;
}

/** The COPY statement of audit rows into `table` (audit_log or one of its partitions). */
export const copyStatement = (table: string) => `copy ${table} (${COLUMNS}) from stdin`;

export const COPY_AUDIT_LOG = copyStatement('audit_log');

/** COPY (text format) is the fastest way in. */
async function copyRows(client: pg.ClientBase, rows: readonly ChainedEvent[], table: string): Promise<void> {
  await pipeline(Readable.from(copyChunks(rows)), client.query(copyFrom(copyStatement(table))));
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** COPY text format: NULL is \N; backslash, tab, newline and carriage return are escaped. */
function copyField(v: string | null): string {
  if (v === null) return '\\N';
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : v;
}

/** JSON text holds no raw tab, newline or carriage return (JSON escapes them), so only backslashes need escaping. */
function copyJsonField(json: string): string {
  return json.includes('\\') ? json.replaceAll('\\', '\\\\') : json;
}

/** A Postgres text[] literal: every element double-quoted, quotes and backslashes escaped. */
function pgTextArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
