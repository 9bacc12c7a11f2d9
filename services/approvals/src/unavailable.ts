// An approval that could not be started: its step is blocked, as an expiry would block it, by an
// outcome the intake records through the activities' own path. Its ids derive from the request, so a
// request delivered again finds the outcome it recorded and publishes that same decision again.
import { v5 as uuidv5 } from 'uuid';
import type { ApprovalRequest } from '@stepgate/contracts';
import type { OutcomeInput } from './activities.js';

/** The dlq reason of a request whose approval could not be started (refused, or failing while Postgres and Temporal answer). */
export const APPROVAL_START_REFUSED = 'APPROVAL_START_REFUSED';

/** Why an approval was unavailable, as its outcome says (the dlq reason its request went with). */
export interface Unavailability {
  dlq_reason: typeof APPROVAL_START_REFUSED;
}

/** Namespace of the ids of unavailable approvals' outcomes: UUIDv5 of the JSON array `[approval_id, decision_id, purpose]`. */
export const UNAVAILABLE_OUTCOME_NAMESPACE = 'eb08a63f-b5e0-401a-b490-3a2639b98dc8';

/** The ids an outcome publishes, one per purpose. */
export type OutcomeIds = Pick<
  OutcomeInput,
  'decision_id' | 'audit_event_id' | 'abort_event_id' | 'abort_audit_event_id'
>;

/**
 * The ids of the outcome that blocks the step of `request` because its approval could not be started:
 * the same for every delivery of the request (its approval and the decision that asked for it), distinct
 * for every other request, and never one an approval workflow mints (those are random, version 4).
 */
export function unavailableOutcomeIds(request: Pick<ApprovalRequest, 'approval_id' | 'decision_id'>): OutcomeIds {
  const id = (purpose: keyof OutcomeIds) =>
    uuidv5(JSON.stringify([request.approval_id, request.decision_id, purpose]), UNAVAILABLE_OUTCOME_NAMESPACE);
  return {
    decision_id: id('decision_id'),
    audit_event_id: id('audit_event_id'),
    abort_event_id: id('abort_event_id'),
    abort_audit_event_id: id('abort_audit_event_id'),
  };
}

/**
 * The outcome of an approval that could not be started, decided at `decidedAt` (when the intake gave up
 * on it; a redelivery passes the time its recorded decision names): `expired`, since the approval ended
 * without a human decision, and marked `unavailable`, so its decision is a block with APPROVAL_UNAVAILABLE.
 */
export function unavailableOutcome(request: ApprovalRequest, decidedAt: string): OutcomeInput {
  return {
    request,
    status: 'expired',
    decided_by: null,
    decided_at: decidedAt,
    comment: null,
    evidence: null,
    action_digest: null,
    ...unavailableOutcomeIds(request),
    unavailable: { dlq_reason: APPROVAL_START_REFUSED },
  };
}
