import type pg from 'pg';
import type { DecisionBody } from '@stepgate/contracts';

export interface LedgerRow {
  input_fingerprint: string;
  idempotency_key: string | null;
  decision: DecisionBody['decision'];
  last_decision: DecisionBody['decision'] | null;
  decision_body: DecisionBody;
  gate_count: number;
  completion_count: number;
  prior_output_available: boolean;
  approval_id: string | null;
  approval_status: 'pending' | 'approved' | 'rejected' | 'expired' | null;
  first_attempt_at: Date;
  last_attempt_at: Date;
}

export interface StepKey {
  tenantId: string;
  workflowId: string;
  stepId: string;
  userId?: string | undefined;
  requestId: string;
}

const k = (...parts: string[]) => parts.join('\u0000');

/** Raised at flush when another evaluator stored a first gate of a step this batch also inserted. */
export class ConcurrentFirstGate extends Error {
  constructor() {
    super('another evaluator stored the first gate of a step in this batch concurrently');
    this.name = 'ConcurrentFirstGate';
  }
}

/**
 * The ledger state one batch touches, read with a few set-based statements (rows locked in key
 * order), read and changed in memory while the batch is decided in order, and written back with
 * multi-row statements in the same transaction.
 */
export class BatchLedger {
  private readonly seen = new Map<string, unknown>();
  private readonly workflows = new Map<string, { status: string; reason: string }>();
  private readonly rows = new Map<string, LedgerRow>();
  private readonly existed = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly pending = new Map<string, Set<string>>();
  private readonly roles = new Map<string, string[]>();
  private readonly counters = new Map<string, number>();
  private readonly counterDeltas = new Map<string, number>();
  private readonly decisions: Array<{ tenant_id: string; request_id: string; decision: unknown }> = [];

  constructor(private readonly client: pg.ClientBase) {}

  async load(keys: StepKey[]): Promise<void> {
    if (keys.length === 0) return;
    const col = <T>(f: (s: StepKey) => T) => keys.map(f);
    const tenants = col((s) => s.tenantId);

    const seen = await this.client.query<{ tenant_id: string; request_id: string; decision: unknown }>(
      'select g.tenant_id, g.request_id::text, g.decision from gate_decisions g join unnest($1::text[], $2::uuid[]) as x(t, r) on g.tenant_id = x.t and g.request_id = x.r',
      [tenants, col((s) => s.requestId)],
    );
    for (const r of seen.rows) this.seen.set(k(r.tenant_id, r.request_id), r.decision);

    const wf = await this.client.query<{ tenant_id: string; workflow_id: string; status: string; reason: string }>(
      'select w.tenant_id, w.workflow_id, w.status, w.reason from workflow_state w join unnest($1::text[], $2::text[]) as x(t, w) on w.tenant_id = x.t and w.workflow_id = x.w',
      [tenants, col((s) => s.workflowId)],
    );
    for (const r of wf.rows) this.workflows.set(k(r.tenant_id, r.workflow_id), { status: r.status, reason: r.reason });

    // Locked in primary-key order: concurrent batches never wait on each other in a cycle.
    const rows = await this.client.query<LedgerRow & { tenant_id: string; workflow_id: string; step_id: string }>(
      `select l.* from step_ledger l
       where (l.tenant_id, l.workflow_id, l.step_id) in (select * from unnest($1::text[], $2::text[], $3::text[]))
       order by l.tenant_id, l.workflow_id, l.step_id for update`,
      [tenants, col((s) => s.workflowId), col((s) => s.stepId)],
    );
    for (const r of rows.rows) {
      const key = k(r.tenant_id, r.workflow_id, r.step_id);
      this.rows.set(key, r);
      this.existed.add(key);
    }

    const pending = await this.client.query<{ tenant_id: string; workflow_id: string; step_id: string }>(
      `select tenant_id, workflow_id, step_id from step_ledger
       where approval_status = 'pending' and (tenant_id, workflow_id) in (select * from unnest($1::text[], $2::text[]))`,
      [tenants, col((s) => s.workflowId)],
    );
    for (const r of pending.rows) this.pendingSet(r.tenant_id, r.workflow_id).add(r.step_id);

    const users = keys.filter((s) => s.userId);
    if (users.length) {
      const roles = await this.client.query<{ tenant_id: string; principal: string; roles: string[] }>(
        'select p.tenant_id, p.principal, p.roles from principals p join unnest($1::text[], $2::text[]) as x(t, p) on p.tenant_id = x.t and p.principal = x.p',
        [users.map((s) => s.tenantId), users.map((s) => s.userId!)],
      );
      for (const r of roles.rows) this.roles.set(k(r.tenant_id, r.principal), r.roles);
    }
  }

  decisionFor(tenantId: string, requestId: string): unknown {
    return this.seen.get(k(tenantId, requestId));
  }

  workflowState(tenantId: string, workflowId: string) {
    return this.workflows.get(k(tenantId, workflowId));
  }

  row(tenantId: string, workflowId: string, stepId: string): LedgerRow | undefined {
    return this.rows.get(k(tenantId, workflowId, stepId));
  }

  /** Another step of the workflow waiting for approval, if any. */
  pendingOtherStep(tenantId: string, workflowId: string, stepId: string): string | undefined {
    for (const s of this.pending.get(k(tenantId, workflowId)) ?? []) if (s !== stepId) return s;
    return undefined;
  }

  rolesOf(tenantId: string, userId: string | undefined): string[] {
    return userId ? (this.roles.get(k(tenantId, userId)) ?? []) : [];
  }

  putRow(tenantId: string, workflowId: string, stepId: string, row: LedgerRow): void {
    const key = k(tenantId, workflowId, stepId);
    this.rows.set(key, row);
    this.dirty.add(key);
    const pending = this.pendingSet(tenantId, workflowId);
    if (row.approval_status === 'pending') pending.add(stepId);
    else pending.delete(stepId);
  }

  recordDecision(tenantId: string, requestId: string, decision: unknown): void {
    this.seen.set(k(tenantId, requestId), decision);
    this.decisions.push({ tenant_id: tenantId, request_id: requestId, decision });
  }

  /** Current counter values, creating and locking the missing ones (sorted: no lock cycles). */
  async counterValues(tenantId: string, keys: string[]): Promise<Record<string, number>> {
    const missing = [...new Set(keys)].filter((key) => !this.counters.has(k(tenantId, key))).sort();
    if (missing.length) {
      await this.client.query('insert into usage_counters (tenant_id, key) select $1, unnest($2::text[]) on conflict do nothing', [tenantId, missing]);
      const { rows } = await this.client.query<{ key: string; value: string }>(
        'select key, value from usage_counters where tenant_id = $1 and key = any($2) order by key for update',
        [tenantId, missing],
      );
      for (const r of rows) this.counters.set(k(tenantId, r.key), Number(r.value));
    }
    return Object.fromEntries(keys.map((key) => [key, this.counters.get(k(tenantId, key)) ?? 0]));
  }

  addToCounter(tenantId: string, key: string, by: number): void {
    const id = k(tenantId, key);
    this.counters.set(id, (this.counters.get(id) ?? 0) + by);
    this.counterDeltas.set(id, (this.counterDeltas.get(id) ?? 0) + by);
  }

  /** Writes everything the batch changed: a few multi-row statements. */
  async flush(): Promise<void> {
    const changed = [...this.dirty].map((key) => {
      const [tenant_id, workflow_id, step_id] = key.split('\u0000') as [string, string, string];
      return { key, tenant_id, workflow_id, step_id, ...this.rows.get(key)! };
    });
    const inserts = changed.filter((r) => !this.existed.has(r.key));
    const updates = changed.filter((r) => this.existed.has(r.key));
    const recordset = `x(tenant_id text, workflow_id text, step_id text, input_fingerprint text, idempotency_key text, decision text,
      last_decision text, decision_body jsonb, gate_count int, completion_count int, prior_output_available boolean, approval_id uuid,
      approval_status text, first_attempt_at timestamptz, last_attempt_at timestamptz)`;
    const json = (rows: typeof changed) => JSON.stringify(rows.map(({ key: _key, ...r }) => r));
    if (inserts.length) {
      const { rowCount } = await this.client.query(
        `insert into step_ledger (tenant_id, workflow_id, step_id, input_fingerprint, idempotency_key, decision, last_decision, decision_body,
           gate_count, completion_count, prior_output_available, approval_id, approval_status, first_attempt_at, last_attempt_at)
         select * from jsonb_to_recordset($1::jsonb) as ${recordset}
         on conflict (tenant_id, workflow_id, step_id) do nothing`,
        [json(inserts)],
      );
      if (rowCount !== inserts.length) throw new ConcurrentFirstGate();
    }
    if (updates.length) {
      await this.client.query(
        `update step_ledger l set input_fingerprint = x.input_fingerprint, idempotency_key = x.idempotency_key, decision = x.decision,
           last_decision = x.last_decision, decision_body = x.decision_body, gate_count = x.gate_count, approval_id = x.approval_id,
           approval_status = x.approval_status, last_attempt_at = x.last_attempt_at
         from jsonb_to_recordset($1::jsonb) as ${recordset}
         where l.tenant_id = x.tenant_id and l.workflow_id = x.workflow_id and l.step_id = x.step_id`,
        [json(updates)],
      );
    }
    if (this.decisions.length) {
      await this.client.query(
        `insert into gate_decisions (tenant_id, request_id, decision)
         select tenant_id, request_id, decision from jsonb_to_recordset($1::jsonb) as x(tenant_id text, request_id uuid, decision jsonb)
         on conflict do nothing`,
        [JSON.stringify(this.decisions)],
      );
    }
    if (this.counterDeltas.size) {
      const deltas = [...this.counterDeltas].map(([id, by]) => {
        const [tenant_id, key] = id.split('\u0000') as [string, string];
        return { tenant_id, key, by };
      });
      await this.client.query(
        `update usage_counters u set value = u.value + x.by, updated_at = now()
         from jsonb_to_recordset($1::jsonb) as x(tenant_id text, key text, by numeric)
         where u.tenant_id = x.tenant_id and u.key = x.key`,
        [JSON.stringify(deltas)],
      );
    }
  }

  private pendingSet(tenantId: string, workflowId: string): Set<string> {
    const key = k(tenantId, workflowId);
    let set = this.pending.get(key);
    if (!set) this.pending.set(key, (set = new Set()));
    return set;
  }
}
