import pg from 'pg';
import type { AuditEvent } from '@stepgate/contracts';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import {
  GENESIS_HASH,
  monthStart,
  partitionName,
  utcMonth,
  type ChainedEvent,
  type ChainHead,
} from '@stepgate/audit-log';
import { copyLineHead } from './copy-text.js';
import { BufferPool, prepareEvents, preparedRowHash, type PreparedEvent } from './prepare.js';

const DUPLICATE_TABLE = '42P07';

/** Creates monthly partitions on demand (once per month per process; again after `forget`, when one was dropped). */
export class Partitions {
  /** UTC months (year × 12 + month) whose partition exists. */
  private readonly known = new Set<number>();
  /** Reused to read each timestamp's UTC month without a Date per event. */
  private readonly scratch = new Date(0);

  /** Forgets which partitions exist (one was dropped since): the next `ensure` creates what is missing. */
  forget(): void {
    this.known.clear();
  }

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
  return writePrepared(client, prepareEvents(events), target);
}

/** writeBatch of events prepared beforehand (prepare.ts), e.g. on a worker thread. */
export async function writePrepared(
  client: pg.ClientBase,
  events: readonly PreparedEvent[],
  target: CopyTarget = {},
): Promise<WriteResult> {
  // The first copy of an id is the one kept, within a batch as across batches (the primary key keeps
  // the stored one): a decision's audit event published again may differ from the first in its timing.
  // Copies are the same id of the same tenant: another tenant's event under that id is left in, and
  // the write then fails (see unstored).
  const byId = new Map<string, PreparedEvent>();
  for (const e of events) {
    const key = `${e.id}\u0000${e.tenantId}`;
    if (!byId.has(key)) byId.set(key, e);
  }
  const unique = [...byId.values()];
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
  unique: readonly PreparedEvent[],
  { skipStored, partition }: CopyTarget & { skipStored: boolean },
): Promise<number> {
  const tenants = [...new Set(unique.map((e) => e.tenantId))].sort();
  await client.query('begin');
  try {
    await client.query(
      `insert into audit_chain_heads (tenant_id, seq, row_hash) select t, 0, $2 from unnest($1::text[]) t on conflict do nothing`,
      [tenants, GENESIS_HASH],
    );
    const heads = await client.query<{ tenant_id: string; seq: string; row_hash: string }>(
      'select tenant_id, seq, row_hash from audit_chain_heads where tenant_id = any($1) order by tenant_id for update',
      [tenants],
    );
    const fresh = skipStored ? await unstored(client, unique) : unique;
    const headMap = new Map<string, ChainHead>(
      heads.rows.map((h) => [h.tenant_id, { seq: Number(h.seq), rowHash: h.row_hash }]),
    );

    if (fresh.length) {
      const buffers = chainedCopy(fresh, headMap);
      await copyRows(client, buffers, partition ?? 'audit_log');
      // Sent and answered: the buffers are free for the next COPY (not after a failed one: the
      // socket may still be writing from them).
      for (const b of buffers) COPY_BUFFERS.give(b.buffer as ArrayBuffer);
      const advanced = [...headMap].filter(([t]) => tenants.includes(t));
      await client.query(
        `update audit_chain_heads h set seq = v.seq, row_hash = v.row_hash
         from unnest($1::text[], $2::bigint[], $3::text[]) as v(tenant_id, seq, row_hash) where h.tenant_id = v.tenant_id`,
        [advanced.map(([t]) => t), advanced.map(([, h]) => h.seq), advanced.map(([, h]) => h.rowHash)],
      );
    }
    await client.query('commit');
    return fresh.length;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * The events whose id is not stored yet for their tenant. An id stored for another tenant is not a
 * duplicate: the event is left in, and its write fails (the consumer then sends it to the dlq) rather
 * than one tenant's event passing for another's.
 */
async function unstored(client: pg.ClientBase, events: readonly PreparedEvent[]): Promise<readonly PreparedEvent[]> {
  let earliest = Infinity;
  let latest = -Infinity;
  for (const e of events) {
    const t = Date.parse(e.timestamp);
    earliest = Math.min(earliest, t);
    latest = Math.max(latest, t);
  }
  const existing = await client.query<{ id: string; tenant_id: string }>(
    `select id::text, tenant_id from audit_log where id = any($1::uuid[]) and "timestamp" between $2 and $3`,
    [events.map((e) => e.id), new Date(earliest), new Date(latest)],
  );
  const stored = new Set(existing.rows.map((r) => `${r.id}\u0000${r.tenant_id}`));
  return events.filter((e) => !stored.has(`${e.id}\u0000${e.tenantId}`));
}

/** Bytes of each buffer handed to the COPY stream (a slice of 2,000 rows of ~1 KB fills a few). */
const COPY_BUFFER_BYTES = 512 * 1024;
/** COPY buffers reused from one write to the next (a few MB per slice otherwise, which bring V8's full collections forward). */
const COPY_BUFFERS = new BufferPool(32, COPY_BUFFER_BYTES);
/** `${seq}\t${prevHash}\t${rowHash}\n`: a bigint's 20 digits, two hex hashes, three separators. */
const CHAIN_COLUMNS_MOST_BYTES = 20 + 64 + 64 + 3;

/**
 * Appends the events (in order) to their tenants' chains (`heads` advanced in place, as audit-log's
 * chain does) and returns their rows in COPY's text format: each row is its prepared line head
 * copied, then its chain columns.
 */
export function chainedCopy(events: readonly PreparedEvent[], heads: Map<string, ChainHead>): Buffer[] {
  const buffers: Buffer[] = [];
  let buffer = Buffer.from(COPY_BUFFERS.take(COPY_BUFFER_BYTES));
  let at = 0;
  for (const e of events) {
    const head = heads.get(e.tenantId) ?? { seq: 0, rowHash: GENESIS_HASH };
    const seq = head.seq + 1;
    const rowHash = preparedRowHash(e, head.rowHash);
    heads.set(e.tenantId, { seq, rowHash });
    const tail = `${seq}\t${head.rowHash}\t${rowHash}\n`;
    const most = e.lineEnd - e.lineAt + Math.max(CHAIN_COLUMNS_MOST_BYTES, tail.length * 3);
    if (at + most > buffer.length) {
      if (at > 0) buffers.push(buffer.subarray(0, at));
      buffer = Buffer.from(COPY_BUFFERS.take(most));
      at = 0;
    }
    at += e.bytes.copy(buffer, at, e.lineAt, e.lineEnd);
    at += buffer.write(tail, at);
  }
  if (at > 0) buffers.push(buffer.subarray(0, at));
  return buffers;
}

const COLUMNS = `id, "timestamp", tenant_id, agent_id, session_id, user_id, workflow_id, execution_id, step_id, action, inputs_summary, outcome,
  elapsed_ms, decision_id, decision, policies_matched, error_code, event, seq, prev_hash, row_hash`;

/** One row in COPY's text format, newline included. */
function copyLine(row: ChainedEvent): string {
  const { event, canonical, tenantId, seq, prevHash, rowHash } = row;
  return `${copyLineHead(event, tenantId, canonical)}${seq}\t${prevHash}\t${rowHash}\n`;
}

/** The rows in COPY's text format, one string per row. */
export function copyLines(rows: readonly ChainedEvent[]): string[] {
  return rows.map(copyLine);
}

/** The COPY statement of audit rows into `table` (audit_log or one of its partitions). */
export const copyStatement = (table: string) => `copy ${table} (${COLUMNS}) from stdin`;

export const COPY_AUDIT_LOG = copyStatement('audit_log');

/** COPY (text format) is the fastest way in. */
async function copyRows(client: pg.ClientBase, buffers: readonly Buffer[], table: string): Promise<void> {
  await pipeline(Readable.from(buffers), client.query(copyFrom(copyStatement(table))));
}
