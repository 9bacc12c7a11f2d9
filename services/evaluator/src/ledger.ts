import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  approvalIdFor,
  canonicalJson,
  type DecisionBody,
  type GateRequest,
  type RetryContext,
} from '@stepgate/contracts';
import { evaluate, usageKeysFor, type EvaluationResult } from '@stepgate/policy-engine';
import type { BundleStore } from './bundles.js';
import { errorDecision } from './decisions.js';
import type { Attribution } from './intake.js';

interface LedgerRow {
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

export interface GateOutcome {
  body: DecisionBody;
  /** True when this request_id was decided before: publish the stored, already-signed decision. */
  redelivered: boolean;
  stored?: unknown;
  evaluation?: EvaluationResult;
  /** Set when the decision asks for a human. */
  approval?: { approval_id: string; timeout_seconds: number | null; severity: EvaluationResult['severity'] };
}

export interface GateContext {
  tenantId: string;
  request: GateRequest;
  attribution: Attribution;
  now: number;
  bundles: BundleStore;
  portalBaseUrl: string | undefined;
}

export function inputFingerprint(request: GateRequest): string {
  return createHash('sha256').update(canonicalJson({ step_input: request.step_input ?? null, tool_context: request.tool_context ?? null })).digest('hex');
}

/**
 * Decides one authenticated gate request inside one transaction, with the reference's retry
 * semantics. Returns the unsigned body; `recordDecision` stores the signed one in the same transaction.
 */
export async function gateInTransaction(client: pg.PoolClient, ctx: GateContext): Promise<GateOutcome> {
  const { tenantId, request, now } = ctx;
  const seen = await client.query<{ decision: DecisionBody }>('select decision from gate_decisions where tenant_id = $1 and request_id = $2', [tenantId, request.request_id]);
  if (seen.rows[0]) return { body: seen.rows[0].decision, redelivered: true, stored: seen.rows[0].decision };

  const fail = (code: Parameters<typeof errorDecision>[2], message: string, retry: DecisionBody['retry_context'] = null): GateOutcome => ({
    body: errorDecision(ctx.attribution, tenantId, code, message, undefined, now, retry),
    redelivered: false,
  });

  const state = await client.query<{ status: string; reason: string }>('select status, reason from workflow_state where tenant_id = $1 and workflow_id = $2', [tenantId, request.workflow_id]);
  const wf = state.rows[0];
  if (wf && wf.status !== 'active') return fail('WORKFLOW_TERMINAL', `workflow "${request.workflow_id}" is ${wf.status}${wf.reason ? `: ${wf.reason}` : ''}`);

  const key = [tenantId, request.workflow_id, request.step_id];
  const existing = await client.query<LedgerRow>('select * from step_ledger where tenant_id = $1 and workflow_id = $2 and step_id = $3 for update', key);
  const row = existing.rows[0];
  const fingerprint = inputFingerprint(request);

  if (row) {
    const retry = retryContext(row, row.gate_count + 1, now, request.idempotency_key ?? row.idempotency_key ?? '');
    if (row.idempotency_key && request.idempotency_key && request.idempotency_key !== row.idempotency_key)
      return fail('IDEMPOTENCY_KEY_MISMATCH', `idempotency_key differs from the one this step was first gated with`, retry);
    if (request.retry_policy === 'idempotent') {
      if (fingerprint !== row.input_fingerprint) return fail('STEP_INPUT_MISMATCH', 'step_input or tool_context differs from the first gate of this step; retry with retry_policy "reevaluate" to gate the new input', retry);
      const decision = effectiveDecision(row);
      await client.query(
        'update step_ledger set gate_count = gate_count + 1, last_attempt_at = $4, idempotency_key = coalesce(idempotency_key, $5) where tenant_id = $1 and workflow_id = $2 and step_id = $3',
        [...key, new Date(now), request.idempotency_key ?? null],
      );
      const prior = row.decision_body;
      return {
        redelivered: false,
        body: {
          ...prior,
          request_id: request.request_id,
          decision_id: randomUUID(),
          decision,
          reason: decision === prior.decision ? prior.reason : `approval ${row.approval_status}: ${prior.reason}`,
          retry_context: retry,
          decision_source: 'cached',
          decided_at: new Date(now).toISOString(),
          ...(row.approval_status ? { approval_status: row.approval_status } : {}),
        },
      };
    }
    return evaluateAndStore(client, ctx, fingerprint, row, retry);
  }

  const pending = await client.query<{ step_id: string }>(
    "select step_id from step_ledger where tenant_id = $1 and workflow_id = $2 and approval_status = 'pending' and step_id <> $3 limit 1",
    key,
  );
  if (pending.rows[0]) return fail('APPROVAL_PENDING', `step "${pending.rows[0].step_id}" of this workflow is waiting for approval`);
  return evaluateAndStore(client, ctx, fingerprint, undefined, {
    gate_count: 1,
    completion_count: 0,
    prior_completion_status: 'none',
    prior_output_available: false,
    last_decision: null,
    first_attempt_at: new Date(now).toISOString(),
    last_attempt_at: new Date(now).toISOString(),
    idempotency_key: request.idempotency_key ?? '',
  });
}

async function evaluateAndStore(
  client: pg.PoolClient,
  ctx: GateContext,
  fingerprint: string,
  row: LedgerRow | undefined,
  retry: NonNullable<DecisionBody['retry_context']>,
): Promise<GateOutcome> {
  const { tenantId, request, now } = ctx;
  const loaded = await ctx.bundles.get(tenantId);
  if (!loaded) return { body: errorDecision(ctx.attribution, tenantId, 'NO_POLICY_BUNDLE', `tenant "${tenantId}" has no policy bundle; steps are blocked until one is applied`, undefined, now, retry), redelivered: false };

  const roles = request.user_id
    ? ((await client.query<{ roles: string[] }>('select roles from principals where tenant_id = $1 and principal = $2', [tenantId, request.user_id])).rows[0]?.roles ?? [])
    : [];
  const input = {
    step: request,
    tenant_id: tenantId,
    now,
    user_roles: roles,
    ...(row ? { retry: { ...retry, first_attempt_at: retry.first_attempt_at ?? undefined, last_attempt_at: retry.last_attempt_at ?? undefined } as RetryContext } : {}),
  };
  const usage = await lockCounters(client, tenantId, usageKeysFor(loaded.compiled, input));
  const result = evaluate(loaded.compiled, { ...input, usage });
  if (result.decision === 'allow') {
    for (const inc of result.usage_increments)
      await client.query('update usage_counters set value = value + $3, updated_at = now() where tenant_id = $1 and key = $2', [tenantId, inc.key, inc.by]);
  }

  const approvalId = result.decision === 'require_approval' ? approvalIdFor(tenantId, request.workflow_id, request.step_id) : undefined;
  const body: DecisionBody = {
    request_id: request.request_id,
    decision_id: randomUUID(),
    tenant_id: tenantId,
    workflow_id: request.workflow_id,
    step_id: request.step_id,
    decision: result.decision,
    reason: result.reason,
    policies_evaluated: result.policies_evaluated,
    policies_matched: result.policies_matched,
    ...(approvalId ? { approval_id: approvalId, approval_status: 'pending' as const } : {}),
    ...(approvalId && ctx.portalBaseUrl ? { approval_url: `${ctx.portalBaseUrl.replace(/\/$/, '')}/approvals/${approvalId}` } : {}),
    retry_context: { ...retry, last_decision: row?.decision ?? null },
    decision_source: 'fresh',
    ...(result.error ? { error: { code: 'ENGINE_ERROR' as const, message: result.error.message } } : {}),
    decided_at: new Date(now).toISOString(),
  };

  const inserted = await client.query(
    `insert into step_ledger (tenant_id, workflow_id, step_id, input_fingerprint, idempotency_key, decision, last_decision, decision_body,
       gate_count, completion_count, prior_output_available, approval_id, approval_status, first_attempt_at, last_attempt_at)
     values ($1, $2, $3, $4, $5, $6, null, $7, 1, 0, false, $8, $9, $10, $10)
     on conflict (tenant_id, workflow_id, step_id) do update set
       input_fingerprint = excluded.input_fingerprint,
       idempotency_key = coalesce(step_ledger.idempotency_key, excluded.idempotency_key),
       last_decision = step_ledger.decision,
       decision = excluded.decision,
       decision_body = excluded.decision_body,
       gate_count = step_ledger.gate_count + 1,
       approval_id = coalesce(excluded.approval_id, step_ledger.approval_id),
       approval_status = case when excluded.approval_status is not null then excluded.approval_status else step_ledger.approval_status end,
       last_attempt_at = excluded.last_attempt_at
     where $11::boolean
     returning gate_count`,
    [tenantId, request.workflow_id, request.step_id, fingerprint, request.idempotency_key ?? null, result.decision, body, approvalId ?? null, approvalId ? 'pending' : null, new Date(now), row !== undefined],
  );
  // A concurrent first gate of the same step won the insert: this request is its idempotent retry.
  if (inserted.rowCount === 0) throw new ConcurrentFirstGate();

  return {
    body,
    redelivered: false,
    evaluation: result,
    ...(approvalId ? { approval: { approval_id: approvalId, timeout_seconds: result.approval_timeout_seconds, severity: result.severity } } : {}),
  };
}

/** Raised inside the transaction when another evaluator stored this step's first decision first. */
export class ConcurrentFirstGate extends Error {
  constructor() {
    super('another evaluator stored the first gate of this step concurrently');
    this.name = 'ConcurrentFirstGate';
  }
}

/** Creates missing counters and locks them, so concurrent evaluators serialize on each key. */
async function lockCounters(client: pg.PoolClient, tenantId: string, keys: string[]): Promise<Record<string, number>> {
  if (keys.length === 0) return {};
  const sorted = [...keys].sort(); // one lock order everywhere: no deadlocks between evaluators
  await client.query('insert into usage_counters (tenant_id, key) select $1, unnest($2::text[]) on conflict do nothing', [tenantId, sorted]);
  const { rows } = await client.query<{ key: string; value: string }>('select key, value from usage_counters where tenant_id = $1 and key = any($2) order by key for update', [tenantId, sorted]);
  return Object.fromEntries(rows.map((r) => [r.key, Number(r.value)]));
}

function effectiveDecision(row: LedgerRow): DecisionBody['decision'] {
  if (row.approval_status === 'approved') return 'allow';
  if (row.approval_status === 'rejected' || row.approval_status === 'expired') return 'block';
  return row.decision;
}

function retryContext(row: LedgerRow, gateCount: number, now: number, idempotencyKey: string): NonNullable<DecisionBody['retry_context']> {
  return {
    gate_count: gateCount,
    completion_count: row.completion_count,
    prior_completion_status: row.completion_count > 0 ? 'completed' : 'gated_not_completed',
    prior_output_available: row.prior_output_available,
    last_decision: row.decision,
    first_attempt_at: row.first_attempt_at.toISOString(),
    last_attempt_at: new Date(now).toISOString(),
    idempotency_key: idempotencyKey,
  };
}

/** Stores the signed decision under its request_id, in the gate's transaction. */
export async function recordDecision(client: pg.PoolClient, tenantId: string, requestId: string, signed: unknown): Promise<void> {
  await client.query('insert into gate_decisions (tenant_id, request_id, decision) values ($1, $2, $3) on conflict do nothing', [tenantId, requestId, signed]);
}
