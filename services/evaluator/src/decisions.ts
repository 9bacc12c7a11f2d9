import { randomUUID, type KeyObject } from 'node:crypto';
import type { DecisionBody, GateDecision, GateErrorCode } from '@stepgate/contracts';
import { makeReceipt } from '@stepgate/contracts/node';
import type { Attribution } from './intake.js';

export interface Signer {
  keyId: string;
  key: KeyObject;
}

export function sign(body: DecisionBody, signer: Signer): GateDecision {
  return { ...body, receipt: makeReceipt(body, signer.keyId, signer.key) };
}

/** A block that no policy decided: the request could not be gated (its error says why). */
export function errorDecision(
  attribution: Attribution,
  tenantId: string | null,
  code: GateErrorCode,
  message: string,
  details: unknown,
  now: number,
  retryContext: DecisionBody['retry_context'] = null,
): DecisionBody {
  return {
    request_id: attribution.id,
    decision_id: randomUUID(),
    tenant_id: tenantId,
    workflow_id: attribution.workflow_id,
    step_id: attribution.step_id,
    decision: 'block',
    reason: message,
    policies_evaluated: [],
    policies_matched: [],
    retry_context: retryContext,
    decision_source: 'fresh',
    error: { code, message, ...(details === undefined ? {} : { details }) },
    decided_at: new Date(now).toISOString(),
  };
}
