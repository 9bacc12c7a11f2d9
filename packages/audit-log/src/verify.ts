import type pg from 'pg';
import Cursor from 'pg-cursor';
import { AuditEventSchema, type AuditEvent } from '@stepgate/contracts';
import { GENESIS_HASH, rowHash } from './chain.js';

export interface BrokenLink {
  seq: number;
  id: string;
  problem:
    | 'hash_mismatch'
    | 'prev_hash_mismatch'
    | 'sequence_gap'
    | 'columns_differ_from_event'
    | 'unreadable_event'
    | 'head_mismatch';
  detail: string;
}

export interface VerifyReport {
  tenant_id: string;
  rows: number;
  /** The first broken link, or null when the whole chain holds. */
  broken: BrokenLink | null;
  /** The first row walked: 1, or the first kept by retention (anchored); null without rows. */
  first_seq: number | null;
}

interface StoredRow {
  id: string;
  seq: string;
  prev_hash: string;
  row_hash: string;
  event: unknown;
  timestamp: Date;
  action: string;
  outcome: string;
  workflow_id: string | null;
  step_id: string | null;
  decision: string | null;
  error_code: string | null;
  inputs_summary: string;
}

/** Columns that must equal their event's fields: editing a column without the event is tampering too. */
const PROJECTED = ['action', 'outcome', 'workflow_id', 'step_id', 'decision', 'error_code', 'inputs_summary'] as const;

/**
 * Walks a tenant's chain in `seq` order with a cursor (constant memory) and reports the first row
 * whose hash, link, sequence or columns do not hold. Runs its own read-only transaction on `client`.
 */
export async function verifyChain(client: pg.ClientBase, tenantId: string, batchSize = 2_000): Promise<VerifyReport> {
  // One snapshot for the anchors, the walk and the head: read in separate statements while the audit
  // consumer keeps writing, the head would be ahead of the walk and look like missing rows.
  await client.query('begin transaction isolation level repeatable read read only');
  try {
    const report = await walkChain(client, tenantId, batchSize);
    await client.query('commit');
    return report;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

async function walkChain(client: pg.ClientBase, tenantId: string, batchSize: number): Promise<VerifyReport> {
  // Retention leaves an anchor (seq, row_hash) for each dropped row that a kept row links to.
  const anchorRows = await client.query<{ seq: string; row_hash: string }>(
    'select seq, row_hash from audit_chain_anchors where tenant_id = $1',
    [tenantId],
  );
  const anchors = new Map(anchorRows.rows.map((a) => [Number(a.seq), a.row_hash]));
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let firstSeq: number | null = null;
  let rows = 0;

  const cursor = client.query(
    new Cursor<StoredRow>(
      `select id::text, seq, prev_hash, row_hash, event, "timestamp", action, outcome, workflow_id, step_id, decision, error_code, inputs_summary
       from audit_log where tenant_id = $1 order by seq`,
      [tenantId],
    ),
  );
  const fail = (row: StoredRow, problem: BrokenLink['problem'], detail: string): VerifyReport => ({
    tenant_id: tenantId,
    rows,
    broken: { seq: Number(row.seq), id: row.id, problem, detail },
    first_seq: firstSeq,
  });
  try {
    for (;;) {
      const batch = await cursor.read(batchSize);
      if (batch.length === 0) break;
      for (const row of batch) {
        const seq = Number(row.seq);
        if (seq !== expectedSeq) {
          const anchored = seq > expectedSeq ? anchors.get(seq - 1) : undefined;
          if (anchored === undefined)
            return fail(row, 'sequence_gap', `expected seq ${expectedSeq}, found ${seq}: rows are missing`);
          prevHash = anchored; // seq ${expectedSeq}..${seq - 1} were dropped by retention
        }
        firstSeq ??= seq;
        if (row.prev_hash !== prevHash)
          return fail(row, 'prev_hash_mismatch', `prev_hash does not match the hash of seq ${seq - 1}`);
        const parsed = AuditEventSchema.safeParse(row.event);
        if (!parsed.success) return fail(row, 'unreadable_event', 'the stored event is not a valid audit event');
        const event: AuditEvent = parsed.data;
        if (rowHash(prevHash, event) !== row.row_hash)
          return fail(row, 'hash_mismatch', 'the stored event does not hash to row_hash: it was modified');
        for (const column of PROJECTED) {
          if ((row[column] ?? null) !== (event[column] ?? null))
            return fail(row, 'columns_differ_from_event', `column ${column} differs from the hashed event`);
        }
        if (row.timestamp.getTime() !== Date.parse(event.timestamp))
          return fail(row, 'columns_differ_from_event', 'column timestamp differs from the hashed event');
        prevHash = row.row_hash;
        expectedSeq = seq + 1;
        rows++;
      }
    }
  } finally {
    await cursor.close();
  }
  const head = await client.query<{ seq: string; row_hash: string }>(
    'select seq, row_hash from audit_chain_heads where tenant_id = $1',
    [tenantId],
  );
  const h = head.rows[0];
  const headSeq = Number(h?.seq ?? 0);
  const tailDropped = headSeq > expectedSeq - 1 && anchors.get(headSeq) === h?.row_hash;
  if (h && headSeq > 0 && !tailDropped && (headSeq !== expectedSeq - 1 || h.row_hash !== prevHash))
    return {
      tenant_id: tenantId,
      rows,
      first_seq: firstSeq,
      broken: {
        seq: headSeq,
        id: '',
        problem: 'head_mismatch',
        detail: `the chain head is seq ${headSeq} but the walk ended at seq ${expectedSeq - 1}: the newest rows are missing or changed`,
      },
    };
  return { tenant_id: tenantId, rows, broken: null, first_seq: firstSeq };
}
