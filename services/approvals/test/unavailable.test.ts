import { randomUUID } from 'node:crypto';
import { v5 as uuidv5, validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { ApprovalRequest } from '@stepgate/contracts';
import {
  APPROVAL_START_REFUSED,
  UNAVAILABLE_OUTCOME_NAMESPACE,
  unavailableOutcome,
  unavailableOutcomeIds,
} from '../src/unavailable.js';

const request = (over: Partial<ApprovalRequest> = {}): ApprovalRequest => ({
  type: 'approval.requested',
  approval_id: '6d1f3c2a-0b4e-5a7d-9c8f-1e2d3c4b5a69',
  tenant_id: 'acme',
  workflow_id: 'wf-1',
  step_id: 'deploy',
  step_name: null,
  step_type: 'tool_call',
  request_id: randomUUID(),
  decision_id: '0b9f6a52-3c1d-4e8f-a7b6-5d4c3b2a1f0e',
  requested_by: { principal: 'orchestrator', user_id: null, agent_id: null },
  reason: 'Deploys need a human',
  severity: null,
  timeout_seconds: 60,
  policies_matched: [],
  inputs_summary: '',
  reply_to: null,
  requested_at: new Date().toISOString(),
  usage_increments: [],
  ...over,
});

describe('the outcome of an approval that could not be started', () => {
  it('has ids derived from its approval and decision: the same for every delivery, whatever else the request says', () => {
    const ids = unavailableOutcomeIds(request());
    expect(unavailableOutcomeIds(request({ request_id: randomUUID(), reason: 'other', tenant_id: 'globex' }))).toEqual(
      ids,
    );
    // Pinned: UUIDv5 of the JSON array [approval_id, decision_id, purpose] in its own namespace.
    expect(ids.decision_id).toBe(
      uuidv5(
        JSON.stringify(['6d1f3c2a-0b4e-5a7d-9c8f-1e2d3c4b5a69', '0b9f6a52-3c1d-4e8f-a7b6-5d4c3b2a1f0e', 'decision_id']),
        UNAVAILABLE_OUTCOME_NAMESPACE,
      ),
    );
    for (const id of Object.values(ids)) {
      expect(validate(id)).toBe(true);
      // Never an id an approval workflow mints (uuid4): an outcome of a run can never be taken for this one.
      expect(version(id)).toBe(5);
    }
    expect(new Set(Object.values(ids)).size).toBe(4);
  });

  it('has other ids for another approval or another decision of the step (a step gated again asks again)', () => {
    const ids = unavailableOutcomeIds(request());
    const otherDecision = unavailableOutcomeIds(request({ decision_id: randomUUID() }));
    const otherApproval = unavailableOutcomeIds(request({ approval_id: randomUUID() }));
    for (const other of [otherDecision, otherApproval])
      for (const id of Object.values(other)) expect(Object.values(ids)).not.toContain(id);
    // The parts are delimited: moving text between approval and decision id cannot spell the same name.
    expect(unavailableOutcomeIds({ approval_id: 'a', decision_id: 'bc' })).not.toEqual(
      unavailableOutcomeIds({ approval_id: 'ab', decision_id: 'c' }),
    );
  });

  it('expires the approval without a decider, marked unavailable with the dlq reason, at the time given', () => {
    const r = request();
    const at = '2026-05-01T10:00:00.000Z';
    expect(unavailableOutcome(r, at)).toEqual({
      request: r,
      status: 'expired',
      decided_by: null,
      decided_at: at,
      comment: null,
      evidence: null,
      action_digest: null,
      ...unavailableOutcomeIds(r),
      unavailable: { dlq_reason: APPROVAL_START_REFUSED },
    });
  });
});
