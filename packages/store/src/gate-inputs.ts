import pg from 'pg';
import Cursor from 'pg-cursor';
import type { Db } from './db.js';

/** A fresh decision's engine input as recorded (written by `BatchLedger.recordInput` with the batch). */
export interface RecordedInput {
  tenant_id: string;
  request_id: string;
  decided_at: Date;
  workflow_id: string;
  agent_id: string | null;
  policy_version: number;
  policy_sha256: string;
  decision: 'allow' | 'block' | 'require_approval';
  policies_matched: string[];
  /** `{step, tenant_id, now, user_roles, retry?, usage}`, redacted values as `{"$redacted": "hmac-sha256:…"}`. */
  input: Record<string, unknown>;
  /** Dotted paths (in `input`) whose values were redacted. */
  redacted_paths: string[];
}

export interface InputWindow {
  tenantId: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  /** Only this workflow (compared lower-cased, as the ledger keys workflows). */
  workflowId?: string;
}

const COLUMNS =
  'tenant_id, request_id::text, decided_at, workflow_id, agent_id, policy_version, policy_sha256, decision, policies_matched, input, redacted_paths';

/** Reads of `gate_inputs`: the recorded engine inputs (replay, explain, shadow report) and their retention. */
export class GateInputsRepository {
  constructor(private readonly db: Db) {}

  async find(tenantId: string, requestId: string): Promise<RecordedInput | undefined> {
    const { rows } = await this.db.query<RecordedInput>(
      `select ${COLUMNS} from gate_inputs where tenant_id = $1 and request_id = $2::uuid limit 1`,
      [tenantId, requestId.toLowerCase()],
    );
    return rows[0];
  }

  /** How many inputs the window holds (for a progress bar). */
  async count(w: InputWindow): Promise<number> {
    const { text, values } = windowQuery(w, 'count(*)::int as n');
    const { rows } = await this.db.query<{ n: number }>(text, values);
    return rows[0]!.n;
  }

  /**
   * The window's inputs in decision order, read through a cursor `batchSize` rows at a time, so a
   * month of gates takes the memory of two batches (one read ahead). Needs a client (a pool lends one for the scan).
   */
  async *scan(w: InputWindow, batchSize = 500): AsyncGenerator<RecordedInput[]> {
    const pooled = this.db instanceof pg.Pool ? await this.db.connect() : undefined;
    const client = (pooled ?? this.db) as pg.ClientBase;
    const { text, values } = windowQuery(w, COLUMNS);
    const cursor = client.query(new Cursor<RecordedInput>(`${text} order by decided_at, request_id`, values));
    let next: Promise<RecordedInput[]> = Promise.resolve([]);
    try {
      // The next batch is fetched while the caller works on this one (two batches in memory at most).
      next = cursor.read(batchSize);
      for (;;) {
        const rows = await next;
        if (rows.length === 0) return;
        next = cursor.read(batchSize);
        yield rows;
      }
    } finally {
      await next.catch(() => undefined); // a caller that stopped early leaves a read in flight
      await cursor.close();
      pooled?.release();
    }
  }

  /** Deletes inputs decided before `before` (the audit log's retention cut-off); returns how many. */
  async deleteBefore(before: Date): Promise<number> {
    const { rowCount } = await this.db.query('delete from gate_inputs where decided_at < $1', [before]);
    return rowCount ?? 0;
  }
}

function windowQuery(w: InputWindow, select: string): { text: string; values: unknown[] } {
  const values: unknown[] = [w.tenantId];
  const where = ['tenant_id = $1'];
  if (w.from) where.push(`decided_at >= $${values.push(w.from)}`);
  if (w.to) where.push(`decided_at < $${values.push(w.to)}`);
  if (w.workflowId) where.push(`workflow_id = $${values.push(w.workflowId.toLowerCase())}`);
  return { text: `select ${select} from gate_inputs where ${where.join(' and ')}`, values };
}
