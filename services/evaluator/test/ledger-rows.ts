import type { LedgerRow } from '@stepgate/store';

/** A step's ledger row after its first gate, allowed. */
export function firstGateRow(fingerprint = 'f', now = new Date()): LedgerRow {
  return {
    input_fingerprint: fingerprint,
    idempotency_key: null,
    decision: 'allow',
    last_decision: null,
    decision_body: {} as never,
    gate_count: 1,
    completion_count: 0,
    prior_output_available: false,
    approval_id: null,
    approval_status: null,
    first_attempt_at: now,
    last_attempt_at: now,
  };
}
