import pg from 'pg';
import type { DecisionBody } from '@stepgate/contracts';
import { CommitOutcomeUnknown, ConcurrentFirstGate, TransactionRolledBack } from './errors.js';
import { isFirstGateStoredConcurrently } from './db.js';
import type { RecordedInput } from './gate-inputs.js';

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

interface SeenRow {
  tenant_id: string;
  request_id: string;
  decision: unknown;
  follow_up: unknown;
}
interface WorkflowRow {
  tenant_id: string;
  workflow_id: string;
  status: string;
  reason: string;
}
type StoredLedgerRow = Omit<LedgerRow, 'first_attempt_at' | 'last_attempt_at'> & {
  tenant_id: string;
  workflow_id: string;
  step_id: string;
  first_attempt_at: string;
  last_attempt_at: string;
};
interface PendingRow {
  tenant_id: string;
  workflow_id: string;
  step_id: string;
}
interface RoleRow {
  tenant_id: string;
  principal: string;
  roles: string[];
}

/**
 * $1–$4: the batch's tenant, workflow, step and request ids (one element per request); $5, $6: the
 * tenant and user of each request that names a user. One row; each column a JSON array, null when
 * empty. The batch's own ledger rows come from LOCK_BATCH; this read only counts them (ledger_rows).
 */
const LOAD_BATCH = `
  with batch as (select * from unnest($1::text[], $2::text[], $3::text[], $4::uuid[]) as b(tenant_id, workflow_id, step_id, request_id))
  select
    (select count(*)::int from step_ledger
       where (tenant_id, workflow_id, step_id) in (select tenant_id, workflow_id, step_id from batch)) as ledger_rows,
    (select json_agg(json_build_object('tenant_id', g.tenant_id, 'request_id', g.request_id, 'decision', g.decision, 'follow_up', g.follow_up))
       from gate_decisions g where g.request_id in (select request_id from batch)) as seen,
    (select json_agg(json_build_object('tenant_id', w.tenant_id, 'workflow_id', w.workflow_id, 'status', w.status, 'reason', w.reason))
       from workflow_state w where (w.tenant_id, w.workflow_id) in (select tenant_id, workflow_id from batch)) as workflows,
    (select json_agg(json_build_object('tenant_id', p.tenant_id, 'workflow_id', p.workflow_id, 'step_id', p.step_id))
       from step_ledger p where p.approval_status = 'pending' and (p.tenant_id, p.workflow_id) in (select tenant_id, workflow_id from batch)) as pending,
    (select json_agg(json_build_object('tenant_id', r.tenant_id, 'principal', r.principal, 'roles', r.roles))
       from principals r where (r.tenant_id, r.principal) in (select * from unnest($5::text[], $6::text[]))) as roles`;

/**
 * $1–$3: the batch's tenant, workflow and step ids. Locks the batch's existing ledger rows in key order
 * (concurrent batches never wait on each other in a cycle) and returns them, each as it is once locked
 * (a row locked after waiting for another transaction is returned as that transaction left it). A
 * statement of its own, before the read: a statement reads what was committed when it started, so a
 * read that also waited for these locks would miss what the transaction it waited for had committed
 * (another evaluator's decision of the same request, during a rebalance). A first gate committed
 * after this statement started is not among its rows: when the read (a later snapshot) counts more
 * rows than were locked, the batch is read again, since the read's pending approvals and decisions
 * may come from the transaction that stored it.
 */
const LOCK_BATCH = `
  select to_json(l) as row from step_ledger l
  where (tenant_id, workflow_id, step_id) in (select * from unnest($1::text[], $2::text[], $3::text[]))
  order by tenant_id, workflow_id, step_id for update`;

const LEDGER_RECORD = `x(tenant_id text, workflow_id text, step_id text, input_fingerprint text, idempotency_key text, decision text,
  last_decision text, decision_body jsonb, gate_count int, completion_count int, prior_output_available boolean, approval_id uuid,
  approval_status text, first_attempt_at timestamptz, last_attempt_at timestamptz)`;

/**
 * $1: new ledger rows, $2: changed ledger rows, $3: decisions by request, $4: counter increments,
 * $5: recorded engine inputs (JSON arrays), $6: how many rows of $1 and $3 must be inserted. The
 * statement fails (SQLSTATE SG409) when another evaluator inserted one of them first (a step's first
 * gate, or a decision of the same request: a refusal on a first gate writes no ledger row, so no
 * lock orders two evaluators deciding it), so a COMMIT sent behind it rolls the transaction back.
 */
const FLUSH_BATCH = `
  with inserted as (
    insert into step_ledger (tenant_id, workflow_id, step_id, input_fingerprint, idempotency_key, decision, last_decision, decision_body,
      gate_count, completion_count, prior_output_available, approval_id, approval_status, first_attempt_at, last_attempt_at)
    select * from jsonb_to_recordset($1::jsonb) as ${LEDGER_RECORD}
    on conflict (tenant_id, workflow_id, step_id) do nothing
    returning 1
  ), updated as (
    update step_ledger l set input_fingerprint = x.input_fingerprint, idempotency_key = x.idempotency_key, decision = x.decision,
      last_decision = x.last_decision, decision_body = x.decision_body, gate_count = x.gate_count, approval_id = x.approval_id,
      approval_status = x.approval_status, last_attempt_at = x.last_attempt_at
    from jsonb_to_recordset($2::jsonb) as ${LEDGER_RECORD}
    where l.tenant_id = x.tenant_id and l.workflow_id = x.workflow_id and l.step_id = x.step_id
  ), decided as (
    insert into gate_decisions (tenant_id, request_id, decision, follow_up)
    select tenant_id, request_id, decision, follow_up
    from jsonb_to_recordset($3::jsonb) as x(tenant_id text, request_id uuid, decision jsonb, follow_up jsonb)
    on conflict do nothing
    returning 1
  ), counted as (
    update usage_counters u set value = u.value + x.by, updated_at = now()
    from jsonb_to_recordset($4::jsonb) as x(tenant_id text, key text, by numeric)
    where u.tenant_id = x.tenant_id and u.key = x.key
  ), recorded as (
    insert into gate_inputs (tenant_id, request_id, decided_at, workflow_id, agent_id, policy_version, policy_sha256, decision,
      policies_matched, input, redacted_paths)
    select tenant_id, request_id, decided_at, workflow_id, agent_id, policy_version, policy_sha256, decision,
      policies_matched, input, redacted_paths
    from jsonb_to_recordset($5::jsonb) as x(tenant_id text, request_id uuid, decided_at timestamptz, workflow_id text, agent_id text,
      policy_version int, policy_sha256 text, decision text, policies_matched text[], input jsonb, redacted_paths text[])
    on conflict do nothing
  )
  select stepgate_first_gates_inserted((select count(*) from inserted)::int + (select count(*) from decided)::int, $6::int)`;

/**
 * The ledger state one batch touches, read with a few set-based statements (rows locked in key
 * order), read and changed in memory while the batch is decided in order, and written back with
 * multi-row statements in the same transaction.
 */
export class BatchLedger {
  private readonly seen = new Map<string, unknown>();
  /** What each decision's publication carried besides it, by request (see recordDecision). */
  private readonly followUps = new Map<string, unknown>();
  /** Request ids decided, by the tenants that decided them (normally one). */
  private readonly decidedBy = new Map<string, Set<string>>();
  private readonly workflows = new Map<string, { status: string; reason: string }>();
  private readonly rows = new Map<string, LedgerRow>();
  private readonly existed = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly pending = new Map<string, Set<string>>();
  private readonly roles = new Map<string, string[]>();
  private readonly counters = new Map<string, number>();
  private readonly counterDeltas = new Map<string, number>();
  private readonly decisions: Array<{ tenant_id: string; request_id: string; json: string; follow_up?: unknown }> = [];
  private readonly inputs: Array<Omit<RecordedInput, 'decided_at'> & { decided_at: string }> = [];

  constructor(private readonly client: pg.ClientBase) {}

  /**
   * Locks and reads the batch's ledger rows, then reads everything else the batch may touch in one
   * statement. Both are sent at once (on a pipelined connection, one round trip with the caller's
   * BEGIN: on a busy two-core host a round trip costs more than the statement); the read starts once
   * the locks are held.
   */
  async load(keys: StepKey[]): Promise<void> {
    if (keys.length === 0) return;
    const col = <T>(f: (s: StepKey) => T) => keys.map(f);
    const users = keys.filter((s) => s.userId);
    const locked = this.client.query<{ row: StoredLedgerRow }>({
      name: 'stepgate-batch-ledger-lock',
      text: LOCK_BATCH,
      values: [col((s) => s.tenantId), col((s) => s.workflowId), col((s) => s.stepId)],
    });
    const read = this.client.query<{
      ledger_rows: number;
      seen: SeenRow[] | null;
      workflows: WorkflowRow[] | null;
      pending: PendingRow[] | null;
      roles: RoleRow[] | null;
    }>({
      name: 'stepgate-batch-ledger-load',
      text: LOAD_BATCH,
      values: [
        col((s) => s.tenantId),
        col((s) => s.workflowId),
        col((s) => s.stepId),
        col((s) => s.requestId),
        users.map((s) => s.tenantId),
        users.map((s) => s.userId!),
      ],
    });
    const [lockedRows, { rows }] = await Promise.all([locked, read]);
    const got = rows[0]!;
    // More rows now than the lock statement found: a first gate committed between the two (rows are
    // never deleted). Read again, so every row the batch decides on is locked and the read's other
    // state (a pending approval, a decision) is never newer than the rows.
    if (got.ledger_rows > lockedRows.rows.length) throw new ConcurrentFirstGate();
    for (const r of got.seen ?? []) this.recordSeen(r.tenant_id, r.request_id, r.decision, r.follow_up);
    for (const r of got.workflows ?? [])
      this.workflows.set(k(r.tenant_id, r.workflow_id), { status: r.status, reason: r.reason });
    for (const { row: r } of lockedRows.rows) {
      const key = k(r.tenant_id, r.workflow_id, r.step_id);
      this.rows.set(key, {
        ...r,
        first_attempt_at: new Date(r.first_attempt_at),
        last_attempt_at: new Date(r.last_attempt_at),
      });
      this.existed.add(key);
    }
    for (const r of got.pending ?? []) this.pendingSet(r.tenant_id, r.workflow_id).add(r.step_id);
    for (const r of got.roles ?? []) this.roles.set(k(r.tenant_id, r.principal), r.roles);
  }

  decisionFor(tenantId: string, requestId: string): unknown {
    return this.seen.get(k(tenantId, requestId));
  }

  /** What the request's decision was published with besides it (undefined for decisions stored without). */
  followUpFor(tenantId: string, requestId: string): unknown {
    return this.followUps.get(k(tenantId, requestId));
  }

  /** Whether another tenant already had a decision under this request id. */
  decidedForAnotherTenant(tenantId: string, requestId: string): boolean {
    const tenants = this.decidedBy.get(requestId);
    return tenants !== undefined && [...tenants].some((t) => t !== tenantId);
  }

  private recordSeen(tenantId: string, requestId: string, decision: unknown, followUp: unknown): void {
    this.seen.set(k(tenantId, requestId), decision);
    if (followUp !== null && followUp !== undefined) this.followUps.set(k(tenantId, requestId), followUp);
    const tenants = this.decidedBy.get(requestId);
    if (tenants) tenants.add(tenantId);
    else this.decidedBy.set(requestId, new Set([tenantId]));
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

  /**
   * Marks a request decided before its decision is signed: a later delivery of it in this batch is
   * answered from `body`, which the caller signs before publishing, and published with `followUp`.
   */
  markDecided(d: { tenantId: string; requestId: string; body: unknown; followUp?: unknown }): void {
    this.recordSeen(d.tenantId, d.requestId, d.body, d.followUp);
  }

  /**
   * Records a signed decision under its request id; `json` is its JSON text, as it is published.
   * `followUp`: what its publication carries besides it (JSON), stored with it so that a delivery of
   * the request after a crash publishes the same again.
   */
  recordDecision(d: {
    tenantId: string;
    requestId: string;
    decision: unknown;
    json: string;
    followUp?: unknown;
  }): void {
    this.recordSeen(d.tenantId, d.requestId, d.decision, d.followUp);
    this.decisions.push({ tenant_id: d.tenantId, request_id: d.requestId, json: d.json, follow_up: d.followUp });
  }

  /** Keeps a fresh decision's engine input (`gate_inputs`), written with the batch. */
  recordInput(input: Omit<RecordedInput, 'decided_at'> & { decided_at: string }): void {
    this.inputs.push(input);
  }

  /** Current counter values, creating and locking the missing ones (sorted: no lock cycles). */
  async counterValues(tenantId: string, keys: string[]): Promise<Record<string, number>> {
    const missing = [...new Set(keys)].filter((key) => !this.counters.has(k(tenantId, key))).sort();
    if (missing.length) {
      // One round trip: the no-op update locks and returns existing counters as the insert does new ones.
      const { rows } = await this.client.query<{ key: string; value: string }>({
        name: 'stepgate-batch-ledger-counters',
        text: `insert into usage_counters (tenant_id, key) select $1, unnest($2::text[])
               on conflict (tenant_id, key) do update set key = excluded.key returning key, value`,
        values: [tenantId, missing],
      });
      for (const r of rows) this.counters.set(k(tenantId, r.key), Number(r.value));
    }
    return Object.fromEntries(keys.map((key) => [key, this.counters.get(k(tenantId, key)) ?? 0]));
  }

  addToCounter(tenantId: string, key: string, by: number): void {
    const id = k(tenantId, key);
    this.counters.set(id, (this.counters.get(id) ?? 0) + by);
    this.counterDeltas.set(id, (this.counterDeltas.get(id) ?? 0) + by);
  }

  /**
   * Writes the batch and commits the transaction, COMMIT sent right behind the write (on a pipelined
   * connection: one round trip). The write fails by itself when a first gate was stored concurrently
   * (ConcurrentFirstGate), and COMMIT then rolls back. When the connection fails after COMMIT was sent
   * (a lost connection, the client's query timeout), the transaction may still commit on the server:
   * CommitOutcomeUnknown names the backend, which the caller must see gone before redoing the batch.
   */
  async writeAndCommit(): Promise<void> {
    const backendPid = (this.client as pg.ClientBase & { processID: number }).processID;
    const [write, commit] = await Promise.allSettled([this.flush(), this.client.query('commit')]);
    if (commit.status === 'rejected' && !(commit.reason instanceof pg.DatabaseError))
      throw new CommitOutcomeUnknown(backendPid, commit.reason);
    if (write.status === 'rejected') throw write.reason;
    if (commit.status === 'rejected') throw commit.reason;
    if (commit.value.command !== 'COMMIT') throw new TransactionRolledBack(commit.value.command);
  }

  /** Writes everything the batch changed in one statement (data-modifying CTEs), sent before this returns. */
  private flush(): Promise<void> {
    const changed = [...this.dirty].map((key) => {
      const [tenant_id, workflow_id, step_id] = key.split('\u0000') as [string, string, string];
      return { key, tenant_id, workflow_id, step_id, ...this.rows.get(key)! };
    });
    const inserts = changed.filter((r) => !this.existed.has(r.key));
    const updates = changed.filter((r) => this.existed.has(r.key));
    const deltas = [...this.counterDeltas].map(([id, by]) => {
      const [tenant_id, key] = id.split('\u0000') as [string, string];
      return { tenant_id, key, by };
    });
    if (changed.length + this.decisions.length + deltas.length + this.inputs.length === 0) return Promise.resolve();
    const json = (rows: typeof changed) => JSON.stringify(rows.map(({ key: _key, ...r }) => r));
    const written = this.client.query({
      name: 'stepgate-batch-ledger-flush',
      text: FLUSH_BATCH,
      values: [
        json(inserts),
        json(updates),
        // The decisions' texts are spliced in as they are, not parsed and written again.
        `[${this.decisions.map((d) => `{"tenant_id":${JSON.stringify(d.tenant_id)},"request_id":${JSON.stringify(d.request_id)},"decision":${d.json}${d.follow_up === undefined ? '' : `,"follow_up":${JSON.stringify(d.follow_up)}`}}`).join(',')}]`,
        JSON.stringify(deltas),
        JSON.stringify(this.inputs),
        inserts.length + this.decisions.length,
      ],
    });
    return written.then(
      () => undefined,
      (err: unknown) => {
        throw isFirstGateStoredConcurrently(err) ? new ConcurrentFirstGate() : err;
      },
    );
  }

  private pendingSet(tenantId: string, workflowId: string): Set<string> {
    const key = k(tenantId, workflowId);
    let set = this.pending.get(key);
    if (!set) this.pending.set(key, (set = new Set()));
    return set;
  }
}
