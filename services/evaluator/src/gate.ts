import { createHash, randomUUID } from 'node:crypto';
import {
  canonicalJson,
  ledgerKey,
  refusalDecision,
  type DecisionBody,
  type GateErrorCode,
  type GateRequest,
  type RetryContext,
} from '@stepgate/contracts';
import { approvalIdFor } from '@stepgate/contracts/node';
import {
  evaluate,
  toolAccessOf,
  usageKeysFor,
  type EvaluationInput,
  type EvaluationResult,
} from '@stepgate/policy-engine';
import { killSwitchMessage, type BatchLedger, type LedgerRow } from '@stepgate/store';
import type { BundleStore, LoadedShadow } from './bundles.js';
import type { Attribution } from './intake.js';
import type { KillSwitchStore } from './kill-switches.js';
import type { InputRedactor } from './recorded-input.js';

/** The largest decision published: well under the broker's 1 MiB record limit. */
export const MAX_DECISION_CHARS = 256 * 1024;
/** Room for a decision's fields besides its policy lists and reason (ids, times, retry context, receipt, approval URL). */
const DECISION_OTHER_CHARS = 4 * 1024;

/**
 * About the decision's JSON length from what a bundle makes large: its policy lists and reason (the
 * compiled bundle's frozen policy summaries keep their canonical text, so this costs a lookup each).
 */
function decisionChars(result: EvaluationResult): number {
  let chars = DECISION_OTHER_CHARS + result.reason.length;
  for (const p of result.policies_evaluated) chars += canonicalJson(p).length + 1;
  for (const p of result.policies_matched) chars += canonicalJson(p).length + 1;
  return chars;
}

export interface GateOutcome {
  body: DecisionBody;
  /** True when this request_id was decided before: publish the stored, already-signed decision. */
  redelivered: boolean;
  /** Published but not recorded under its request_id (REQUEST_ID_CONFLICT). */
  unrecorded?: boolean;
  stored?: unknown;
  /** The JSON text of `stored` when this evaluator signed it: recorded and published as it is. */
  storedJson?: string;
  evaluation?: EvaluationResult;
  /** The gated tool's access class by the tenant's catalog (for audit and alerts). */
  tool_access?: 'read' | 'write' | 'destructive' | null;
  /** Set when the tenant's shadow bundle decided otherwise than the active one. */
  shadow?: { sha256: string; decision: DecisionBody['decision']; policies_matched: string[] };
  /**
   * A decision published again (`redelivered`): what its first publication carried besides it, as
   * stored with it (unchecked: see storedFollowUp); absent for a decision an older evaluator stored.
   */
  followUp?: unknown;
  /** Set when a fresh decision asks for a human. */
  approval?: {
    approval_id: string;
    timeout_seconds: number | null;
    severity: EvaluationResult['severity'];
    usage_increments: Array<{ key: string; by: number }>;
    rule: EvaluationResult['approval_rule'];
  };
}

export interface GateContext {
  tenantId: string;
  request: GateRequest;
  attribution: Attribution;
  now: number;
  bundles: BundleStore;
  killSwitches: KillSwitchStore;
  /** Masks the engine input before it is recorded (`gate_inputs`). */
  redactor: InputRedactor;
  portalBaseUrl: string | undefined;
}

type RetryState = NonNullable<DecisionBody['retry_context']>;

/** Fields of a gate request that belong to one attempt, not to the step a policy judges. */
const PER_ATTEMPT_FIELDS = ['request_id', 'requested_at', 'retry_policy', 'idempotency_key', 'reply_to', 'tenant_id'];
const FINGERPRINT_V2 = 'v2:';

/**
 * What an idempotent retry must repeat: every field a policy can reference (model, provider, step
 * type, cost, execution mode, inputs, …), i.e. the whole request but its per-attempt fields.
 */
export function inputFingerprint(request: GateRequest): string {
  const judged = Object.fromEntries(Object.entries(request).filter(([k]) => !PER_ATTEMPT_FIELDS.includes(k)));
  return FINGERPRINT_V2 + createHash('sha256').update(canonicalJson(judged)).digest('hex');
}

/** Ledger rows written before FINGERPRINT_V2 hold a hash of step_input and tool_context only. */
function legacyInputFingerprint(request: GateRequest): string {
  return createHash('sha256')
    .update(canonicalJson({ step_input: request.step_input ?? null, tool_context: request.tool_context ?? null }))
    .digest('hex');
}

function sameInput(stored: string, request: GateRequest, fingerprint: string): boolean {
  return stored.startsWith(FINGERPRINT_V2) ? stored === fingerprint : stored === legacyInputFingerprint(request);
}

/**
 * Decides one authenticated gate request against the batch's ledger state, with the reference's
 * retry semantics. The caller signs the body and records it with `ledger.recordDecision`.
 */
export async function decideGate(ledger: BatchLedger, ctx: GateContext): Promise<GateOutcome> {
  const { tenantId, request, now } = ctx;
  const requestKey = ledgerKey(request.request_id);
  const workflowKey = ledgerKey(request.workflow_id);
  // The same request delivered again gets the same decision, before anything else is looked at.
  const seen = ledger.decisionFor(tenantId, requestKey) as DecisionBody | undefined;
  if (
    seen !== undefined &&
    (seen.request_sha256 === undefined || seen.request_sha256 === ctx.attribution.request_sha256)
  ) {
    const followUp = ledger.followUpFor(tenantId, requestKey);
    return { body: seen, redelivered: true, stored: seen, ...(followUp !== undefined ? { followUp } : {}) };
  }
  if (seen !== undefined || ledger.decidedForAnotherTenant(tenantId, requestKey))
    return refusal(ctx, {
      code: 'REQUEST_ID_CONFLICT',
      message:
        'request_id was already decided for another request (another requester, or other content); send each request with a new request_id',
      retry_context: null,
      conflict: true,
    });

  const fail = (code: GateErrorCode, message: string, retry: DecisionBody['retry_context'] = null): GateOutcome =>
    refusal(ctx, { code, message, retry_context: retry });

  // An operator's kill switch outranks everything a policy or the ledger would say.
  const killed = await ctx.killSwitches.covering(tenantId, request);
  if (killed) return fail('KILL_SWITCH', killSwitchMessage(killed));

  const wf = ledger.workflowState(tenantId, workflowKey);
  if (wf && wf.status !== 'active')
    return fail(
      'WORKFLOW_TERMINAL',
      `workflow "${request.workflow_id}" is ${wf.status}${wf.reason ? `: ${wf.reason}` : ''}`,
    );

  const row = ledger.row(tenantId, workflowKey, request.step_id);
  const fingerprint = inputFingerprint(request);

  if (row) {
    const retry = retryContext(row, row.gate_count + 1, now, request.idempotency_key ?? row.idempotency_key ?? '');
    if (row.idempotency_key && request.idempotency_key && request.idempotency_key !== row.idempotency_key)
      return fail(
        'IDEMPOTENCY_KEY_MISMATCH',
        'idempotency_key differs from the one this step was first gated with',
        retry,
      );
    if (request.retry_policy === 'idempotent') {
      if (!sameInput(row.input_fingerprint, request, fingerprint))
        return fail(
          'STEP_INPUT_MISMATCH',
          'the request differs from the first gate of this step (inputs, model, provider, step type, cost or mode); retry with retry_policy "reevaluate" to gate the new request',
          retry,
        );
      const decision = effectiveDecision(row);
      ledger.putRow(tenantId, workflowKey, request.step_id, {
        ...row,
        gate_count: row.gate_count + 1,
        last_attempt_at: new Date(now),
        idempotency_key: row.idempotency_key ?? request.idempotency_key ?? null,
      });
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
          request_sha256: ctx.attribution.request_sha256,
          requester_key_id: ctx.attribution.key_id,
          ...(row.approval_status ? { approval_status: row.approval_status } : {}),
        },
      };
    }
    return evaluateAndStore(ledger, ctx, fingerprint, row, retry);
  }

  const pendingStep = ledger.pendingOtherStep(tenantId, workflowKey, request.step_id);
  if (pendingStep) return fail('APPROVAL_PENDING', `step "${pendingStep}" of this workflow is waiting for approval`);
  return evaluateAndStore(ledger, ctx, fingerprint, undefined, {
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
  ledger: BatchLedger,
  ctx: GateContext,
  fingerprint: string,
  row: LedgerRow | undefined,
  retry: RetryState,
): Promise<GateOutcome> {
  const { tenantId, request, now } = ctx;
  const loaded = await ctx.bundles.get(tenantId);
  if (!loaded)
    return refusal(ctx, {
      code: 'NO_POLICY_BUNDLE',
      message: `tenant "${tenantId}" has no policy bundle; steps are blocked until one is applied`,
      retry_context: retry,
    });

  if (loaded.invalid)
    return refusal(ctx, {
      code: 'INVALID_POLICY_BUNDLE',
      message: `version ${loaded.version} of tenant "${tenantId}"'s policy bundle is invalid; steps are blocked until a valid one is applied`,
      details: { issues: loaded.invalid.issues },
      retry_context: retry,
    });
  const input = {
    step: request,
    tenant_id: tenantId,
    now,
    user_roles: ledger.rolesOf(tenantId, request.user_id),
    ...(row
      ? {
          retry: {
            ...retry,
            first_attempt_at: retry.first_attempt_at ?? undefined,
            last_attempt_at: retry.last_attempt_at ?? undefined,
          } as RetryContext,
        }
      : {}),
  };
  const usage = await ledger.counterValues(tenantId, usageKeysFor(loaded.compiled, input));
  const result = evaluate(loaded.compiled, { ...input, usage });
  // Refused before anything is counted or recorded, so what is stored, audited and asked of a human is
  // the refusal the orchestrator receives (a decision too large to publish is never anyone's answer).
  const chars = decisionChars(result);
  if (chars > MAX_DECISION_CHARS)
    return refusal(ctx, {
      code: 'ENGINE_ERROR',
      message: `the decision would be about ${chars} characters, over the ${MAX_DECISION_CHARS} a record may carry; the tenant's bundle makes decisions too large`,
      retry_context: retry,
    });
  const shadow = loaded.shadow ? await shadowDivergence(ledger, loaded.shadow, input, result) : undefined;
  if (result.decision === 'allow')
    for (const inc of result.usage_increments) ledger.addToCounter(tenantId, inc.key, inc.by);

  const approvalId =
    result.decision === 'require_approval'
      ? // A step re-evaluated while its approval waits keeps the approval it has (ids issued before the
        // id encoding changed included), so its workflow still finds the ledger row.
        (row?.approval_id ?? approvalIdFor(tenantId, ledgerKey(request.workflow_id), request.step_id))
      : undefined;
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
    ...(approvalId && ctx.portalBaseUrl
      ? { approval_url: `${ctx.portalBaseUrl.replace(/\/$/, '')}/approvals/${approvalId}` }
      : {}),
    retry_context: { ...retry, last_decision: row?.decision ?? null },
    decision_source: 'fresh',
    ...(result.error ? { error: { code: 'ENGINE_ERROR' as const, message: result.error.message } } : {}),
    decided_at: new Date(now).toISOString(),
    request_sha256: ctx.attribution.request_sha256,
    requester_key_id: ctx.attribution.key_id,
    policy_version: { version: loaded.version, sha256: loaded.sha256 },
  };

  const recorded = ctx.redactor.redact({ ...input, usage });
  ledger.recordInput({
    tenant_id: tenantId,
    request_id: ledgerKey(request.request_id),
    decided_at: body.decided_at,
    workflow_id: ledgerKey(request.workflow_id),
    agent_id: request.agent_id ?? null,
    policy_version: loaded.version,
    policy_sha256: loaded.sha256,
    decision: result.decision,
    policies_matched: result.policies_matched.map((p) => p.policy_id),
    input: recorded.value as Record<string, unknown>,
    redacted_paths: recorded.paths,
  });

  ledger.putRow(tenantId, ledgerKey(request.workflow_id), request.step_id, {
    input_fingerprint: fingerprint,
    idempotency_key: row?.idempotency_key ?? request.idempotency_key ?? null,
    decision: result.decision,
    last_decision: row?.decision ?? null,
    decision_body: body,
    gate_count: (row?.gate_count ?? 0) + 1,
    completion_count: row?.completion_count ?? 0,
    prior_output_available: row?.prior_output_available ?? false,
    approval_id: approvalId ?? row?.approval_id ?? null,
    // An approval answers the decision that asked for it: a fresh decision that asks none leaves the
    // step with none (an earlier approval, or one still running for the earlier decision, decides nothing).
    approval_status: approvalId ? 'pending' : null,
    first_attempt_at: row?.first_attempt_at ?? new Date(now),
    last_attempt_at: new Date(now),
  });

  return {
    body,
    redelivered: false,
    evaluation: result,
    tool_access: toolAccessOf(loaded.compiled, request.tool_context?.tool_name),
    ...(shadow ? { shadow } : {}),
    ...(approvalId
      ? {
          approval: {
            approval_id: approvalId,
            timeout_seconds: result.approval_timeout_seconds,
            severity: result.severity,
            usage_increments: result.usage_increments.map(({ key, by }) => ({ key, by })),
            rule: result.approval_rule,
          },
        }
      : {}),
  };
}

/** The shadow bundle's decision on the same input, when it differs from the active bundle's. */
async function shadowDivergence(
  ledger: BatchLedger,
  shadow: LoadedShadow,
  input: Omit<EvaluationInput, 'usage'>,
  active: EvaluationResult,
): Promise<GateOutcome['shadow']> {
  const usage = await ledger.counterValues(input.tenant_id, usageKeysFor(shadow.compiled, input));
  const result = evaluate(shadow.compiled, { ...input, usage });
  if (result.decision === active.decision) return undefined;
  return {
    sha256: shadow.sha256,
    decision: result.decision,
    policies_matched: result.policies_matched.map((p) => p.policy_id),
  };
}

function refusal(
  ctx: GateContext,
  why: {
    code: GateErrorCode;
    message: string;
    details?: unknown;
    retry_context: DecisionBody['retry_context'];
    /** A refusal of a request_id already used: it is not recorded under that id (the id stays the first requester's). */
    conflict?: boolean;
  },
): GateOutcome {
  const { conflict, ...reason } = why;
  return {
    body: refusalDecision({ ...refusalFor(ctx.attribution, ctx.tenantId, ctx.now), ...reason }),
    redelivered: false,
    ...(conflict ? { unrecorded: true } : {}),
  };
}

/** The refused request's identity, as far as its attribution goes. */
export function refusalFor(attribution: Attribution, tenantId: string | null, now: number) {
  return {
    request_id: attribution.id,
    request_sha256: attribution.request_sha256,
    requester_key_id: attribution.key_id,
    tenant_id: tenantId,
    workflow_id: attribution.workflow_id,
    step_id: attribution.step_id,
    now,
  };
}

function effectiveDecision(row: LedgerRow): DecisionBody['decision'] {
  if (row.decision !== 'require_approval') return row.decision;
  if (row.approval_status === 'approved') return 'allow';
  if (row.approval_status === 'rejected' || row.approval_status === 'expired') return 'block';
  return row.decision;
}

function retryContext(row: LedgerRow, gateCount: number, now: number, idempotencyKey: string): RetryState {
  return {
    gate_count: gateCount,
    completion_count: row.completion_count,
    prior_completion_status: row.completion_count > 0 ? 'completed' : 'gated_not_completed',
    prior_output_available: row.prior_output_available,
    last_decision: row.decision,
    first_attempt_at: new Date(row.first_attempt_at).toISOString(),
    last_attempt_at: new Date(now).toISOString(),
    idempotency_key: idempotencyKey,
  };
}
