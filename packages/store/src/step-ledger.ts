import { ledgerKey, type DecisionBody } from '@stepgate/contracts';
import type { Db } from './db.js';

export interface StepRef {
  tenantId: string;
  workflowId: string;
  stepId: string;
}

export interface ApprovalRef extends StepRef {
  approvalId: string;
}

/** What became of a step completion: counted, already counted (a redelivery), or for no gated step. */
export type CompletionResult = 'counted' | 'duplicate' | 'unknown_step';

/** The ledger's view of an approval request, for the approvals service's intake. */
export interface ApprovalState {
  approvalStatus: 'pending' | 'approved' | 'rejected' | 'expired' | null;
  /** The decision that asked for this approval (a re-evaluated step asks again with a new one). */
  decisionId: string | null;
  /** The tenant's approval timeout, if it set one. */
  tenantApprovalTimeoutSeconds: number | null;
}

/** An approval outcome as applied to its step, recorded once under the outcome's own decision id. */
export interface AppliedApprovalOutcome {
  /** The decision the outcome publishes (a kill switch below overrides it). */
  decision: DecisionBody;
  /** The engaged kill switch that covered an approved outcome's step when it was applied; null: none. */
  killSwitch: { switchId: string; message: string } | null;
}

interface AppliedOutcomeRow {
  decision: DecisionBody;
  kill_switch_id: string | null;
  kill_switch_message: string | null;
}

const appliedOutcome = (row: AppliedOutcomeRow): AppliedApprovalOutcome => ({
  decision: row.decision,
  killSwitch:
    row.kill_switch_id !== null && row.kill_switch_message !== null
      ? { switchId: row.kill_switch_id, message: row.kill_switch_message }
      : null,
});

/**
 * Counts a completion once per (tenant, completion_id), and only for a gated step: the id is
 * recorded and the counter incremented in one statement, so a redelivery (or a second evaluator
 * racing on the same message after a rebalance) finds the id and changes nothing.
 */
const RECORD_COMPLETION = `
  with known as (
    select 1 from step_ledger where tenant_id = $1 and workflow_id = $2 and step_id = $3
  ), applied as (
    insert into applied_completions (tenant_id, completion_id, workflow_id, step_id)
    select $1, $4, $2, $3 where exists (select 1 from known)
    on conflict (tenant_id, completion_id) do nothing
    returning 1
  ), counted as (
    update step_ledger set completion_count = completion_count + 1, prior_output_available = prior_output_available or $5
    where tenant_id = $1 and workflow_id = $2 and step_id = $3 and exists (select 1 from applied)
    returning 1
  )
  select exists (select 1 from known) as known, exists (select 1 from counted) as counted`;

/**
 * The step ledger tables outside the evaluator's batch path (that is `BatchLedger`): completions,
 * approval outcomes, workflow state, usage counters, and their retention.
 */
export class StepLedgerRepository {
  constructor(private readonly db: Db) {}

  async recordCompletion(p: StepRef & { completionId: string; outputAvailable: boolean }): Promise<CompletionResult> {
    const { rows } = await this.db.query<{ known: boolean; counted: boolean }>({
      name: 'stepgate-ledger-record-completion',
      text: RECORD_COMPLETION,
      values: [p.tenantId, ledgerKey(p.workflowId), p.stepId, p.completionId, p.outputAvailable],
    });
    const row = rows[0]!;
    return !row.known ? 'unknown_step' : row.counted ? 'counted' : 'duplicate';
  }

  /** The approval's step as the ledger has it, with the tenant's approval timeout; undefined if none. */
  async approvalState(p: ApprovalRef): Promise<ApprovalState | undefined> {
    const { rows } = await this.db.query<{
      approval_status: ApprovalState['approvalStatus'];
      decision_id: string | null;
      approval_timeout_seconds: number | null;
    }>(
      `select l.approval_status, l.decision_body->>'decision_id' as decision_id, t.approval_timeout_seconds
       from step_ledger l left join tenants t on t.tenant_id = l.tenant_id
       where l.tenant_id = $1 and l.workflow_id = $2 and l.step_id = $3 and l.approval_id = $4`,
      [p.tenantId, ledgerKey(p.workflowId), p.stepId, p.approvalId],
    );
    const row = rows[0];
    return (
      row && {
        approvalStatus: row.approval_status,
        decisionId: row.decision_id,
        tenantApprovalTimeoutSeconds: row.approval_timeout_seconds,
      }
    );
  }

  /**
   * Moves a pending approval to its outcome, merging `decided` into the stored decision body, when the
   * step still waits for the decision that asked for this approval (`decisionId`). `transitioned` is
   * false when it was not pending any more (a retried activity): the body is then the one stored.
   * `superseded` when the step was decided again since (its stored decision is another): the outcome
   * then applies to nothing. Run it in the transaction that also records what the outcome implies.
   */
  async resolveApproval(
    p: ApprovalRef & {
      decisionId: string;
      status: 'approved' | 'rejected' | 'expired';
      decided: { approved_by?: string; approved_at?: string };
    },
  ): Promise<{
    transitioned: boolean;
    superseded: boolean;
    decisionBody: DecisionBody | undefined;
    /** The approval's status as the ledger has it after this call (undefined: no such step). */
    approvalStatus: string | undefined;
  }> {
    // The ledger keys workflow ids lower-cased; the approval event carries the id as the request had it.
    const key = [p.tenantId, ledgerKey(p.workflowId), p.stepId, p.approvalId];
    const transitioned = await this.db.query<{ decision_body: DecisionBody }>(
      `update step_ledger set approval_status = $5, decision_body = decision_body || $6::jsonb
       where tenant_id = $1 and workflow_id = $2 and step_id = $3 and approval_id = $4 and approval_status = 'pending'
         and decision_body->>'decision_id' = $7
       returning decision_body`,
      [...key, p.status, JSON.stringify(p.decided), p.decisionId],
    );
    if (transitioned.rowCount)
      return {
        transitioned: true,
        superseded: false,
        decisionBody: transitioned.rows[0]?.decision_body,
        approvalStatus: p.status,
      };
    const { rows } = await this.db.query<{ decision_body: DecisionBody; approval_status: string }>(
      'select decision_body, approval_status from step_ledger where tenant_id = $1 and workflow_id = $2 and step_id = $3 and approval_id = $4',
      key,
    );
    const decisionBody = rows[0]?.decision_body;
    return {
      transitioned: false,
      superseded: decisionBody?.decision_id !== p.decisionId,
      decisionBody,
      approvalStatus: rows[0]?.approval_status,
    };
  }

  /** The outcome recorded under `decisionId` (the decision id its approval workflow minted), if any. */
  async appliedOutcome(p: { tenantId: string; decisionId: string }): Promise<AppliedApprovalOutcome | undefined> {
    const { rows } = await this.db.query<AppliedOutcomeRow>(
      'select decision, kill_switch_id, kill_switch_message from approval_outcomes where tenant_id = $1 and decision_id = $2',
      [p.tenantId, p.decisionId],
    );
    return rows[0] && appliedOutcome(rows[0]);
  }

  /**
   * The decision id of the outcome recorded for the approval's gate request (`requestId`: the request
   * whose decision asked for it), whichever run or service applied it; undefined if none was recorded
   * (none applied, or one applied by a worker from before outcomes were recorded).
   */
  async outcomeOfApprovalRequest(p: {
    tenantId: string;
    approvalId: string;
    requestId: string;
  }): Promise<string | undefined> {
    const { rows } = await this.db.query<{ decision_id: string }>(
      `select decision_id from approval_outcomes
       where tenant_id = $1 and approval_id = $2 and decision->>'request_id' = $3
       order by applied_at limit 1`,
      [p.tenantId, p.approvalId, p.requestId],
    );
    return rows[0]?.decision_id;
  }

  /**
   * Records an outcome applied to its step under its own decision id and returns what is recorded: the
   * first record wins, so a concurrent attempt of the same outcome gets the first one's answer. Run it
   * in the transaction that applied the outcome (`resolveApproval`).
   */
  async recordAppliedOutcome(
    p: ApprovalRef & { decisionId: string; outcome: AppliedApprovalOutcome },
  ): Promise<AppliedApprovalOutcome> {
    const ks = p.outcome.killSwitch;
    const inserted = await this.db.query(
      `insert into approval_outcomes (tenant_id, decision_id, approval_id, decision, kill_switch_id, kill_switch_message)
       values ($1, $2, $3, $4, $5, $6) on conflict (tenant_id, decision_id) do nothing`,
      [
        p.tenantId,
        p.decisionId,
        p.approvalId,
        JSON.stringify(p.outcome.decision),
        ks?.switchId ?? null,
        ks?.message ?? null,
      ],
    );
    if (inserted.rowCount) return p.outcome;
    // Another attempt recorded it first: the insert waited for it to commit, and a new statement sees it.
    return (await this.appliedOutcome(p))!;
  }

  /** Adds to usage counters, creating missing ones (an approved step's rate-limit and budget use). */
  async addUsage(p: { tenantId: string; increments: ReadonlyArray<{ key: string; by: number }> }): Promise<void> {
    if (p.increments.length === 0) return;
    await this.db.query(
      `insert into usage_counters (tenant_id, key, value) select $1, x.key, x.by from jsonb_to_recordset($2::jsonb) as x(key text, by numeric)
       on conflict (tenant_id, key) do update set value = usage_counters.value + excluded.value, updated_at = now()`,
      [p.tenantId, JSON.stringify(p.increments)],
    );
  }

  /** Marks an active (or unknown) workflow aborted; a workflow already terminal keeps its state. */
  async abortWorkflow(p: { tenantId: string; workflowId: string; reason: string }): Promise<void> {
    await this.db.query(
      `insert into workflow_state (tenant_id, workflow_id, status, reason) values ($1, lower($2), 'aborted', $3)
       on conflict (tenant_id, workflow_id) do update set status = 'aborted', reason = excluded.reason, updated_at = now()
       where workflow_state.status = 'active'`,
      [p.tenantId, p.workflowId, p.reason],
    );
  }

  /** Every step waiting for a human decision (the alerts' approval backlog). */
  async pendingApprovals(): Promise<Array<{ tenant_id: string; approval_id: string }>> {
    const { rows } = await this.db.query<{ tenant_id: string; approval_id: string }>(
      "select tenant_id, approval_id::text from step_ledger where approval_status = 'pending' and approval_id is not null",
    );
    return rows;
  }

  /**
   * Deletes rate-limit and budget counters whose window ended before `endedBefore`. Their keys end in
   * `:<window seconds>:<window start, epoch s>` (see the policy engine's counterKey); the engine only
   * reads the current window's counter, so an ended window is never read again. Counters without a
   * window (delegation spend) are kept. Returns the number deleted.
   */
  async pruneUsageCounters(p: { endedBefore: Date }): Promise<number> {
    const { rowCount } = await this.db.query(
      `delete from usage_counters
       where (key like 'rate-limit:%' or key like 'budget:%') and key ~ ':[0-9]{1,12}:[0-9]{1,12}$'
         and substring(key from ':([0-9]+):[0-9]+$')::bigint + substring(key from ':([0-9]+)$')::bigint
             <= extract(epoch from $1::timestamptz)`,
      [p.endedBefore],
    );
    return rowCount ?? 0;
  }

  /**
   * Deletes stored decisions made before `decidedBefore`. They answer a redelivered request with the
   * same decision; the evaluator refuses (STALE_REQUEST) a request whose requested_at is more than its
   * clock-skew limit away, before looking its decision up, so a decision older than twice that limit
   * is never read again. The caller enforces that floor.
   */
  async pruneGateDecisions(p: { decidedBefore: Date }): Promise<number> {
    const { rowCount } = await this.db.query('delete from gate_decisions where decided_at < $1', [p.decidedBefore]);
    return rowCount ?? 0;
  }

  /**
   * Deletes the record of completions applied before `appliedBefore`. The evaluator refuses a
   * completion whose completed_at is beyond its clock-skew limit before counting it, so (as for
   * gate decisions) a record older than twice that limit is never needed. The caller enforces that floor.
   */
  async pruneAppliedCompletions(p: { appliedBefore: Date }): Promise<number> {
    const { rowCount } = await this.db.query('delete from applied_completions where applied_at < $1', [
      p.appliedBefore,
    ]);
    return rowCount ?? 0;
  }
}
