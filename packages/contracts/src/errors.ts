/** Why a gate request was blocked without (or before) a policy decision. */
export const GATE_ERROR_CODES = [
  'INVALID_REQUEST',
  'UNAUTHENTICATED',
  'TENANT_MISMATCH',
  'STALE_REQUEST',
  'IDEMPOTENCY_KEY_MISMATCH',
  'STEP_INPUT_MISMATCH',
  'WORKFLOW_TERMINAL',
  'APPROVAL_PENDING',
  'NO_POLICY_BUNDLE',
  'INVALID_POLICY_BUNDLE',
  'ENGINE_ERROR',
  'REQUEST_ID_CONFLICT',
  /** `reply_to` names a Temporal namespace or workflow id outside what the tenant's settings allow. */
  'REPLY_TO_NOT_ALLOWED',
  /** An operator's kill switch covers the step (tenant, agent, workflow or tool): blocked until released. */
  'KILL_SWITCH',
  /**
   * The human approval the step waits for could not be started (Temporal refused its request, or
   * starting it kept failing while Postgres and Temporal answered): nobody can decide it, so the
   * approvals service blocks the step (approval_status `expired`) and aborts its workflow.
   */
  'APPROVAL_UNAVAILABLE',
] as const;
export type GateErrorCode = (typeof GATE_ERROR_CODES)[number];

/** Why a message went to the dead-letter topic instead of getting a decision. */
export const DLQ_REASONS = [
  'NOT_UTF8_JSON',
  'OVERSIZE',
  'TOO_DEEP',
  'NO_REQUEST_ID',
  'UNKNOWN_MESSAGE',
  /** An audit event the schema refuses, or Postgres cannot store. */
  'INVALID_AUDIT_EVENT',
  /** An audit event dated outside the window the audit service accepts (`AUDIT_TIMESTAMP_WINDOW` in services/audit). */
  'TIMESTAMP_OUT_OF_RANGE',
] as const;
export type DlqReason = (typeof DLQ_REASONS)[number];
