import { v5 as uuidv5 } from 'uuid';

// Apart from gate-request.ts: uuid's Node build imports node:crypto (SHA-1), so this lives under
// '@stepgate/contracts/node'.

/**
 * Namespace of the first approval ids, UUIDv5 of `tenant:workflow:step`: ambiguous, since workflow
 * `a:b` step `c` and workflow `a` step `b:c` shared one id. No longer derived; ids issued with it
 * stay valid, because nothing derives an existing approval's id again (below).
 */
export const LEGACY_APPROVAL_ID_NAMESPACE = '6f0b5b1e-8f5c-4d0a-9a57-3c1f0e4b7d21';

/**
 * Namespace of approval ids, UUIDv5 of the JSON array `[tenant, workflow, step]`. Another namespace
 * than the legacy ids', so that no new id can equal a legacy one (a JSON array of ids holding `:`
 * can spell a legacy name).
 */
export const APPROVAL_ID_NAMESPACE = 'c7d2a1f4-3b8e-5f60-9a1d-2e4b6c8f0a13';

/**
 * Deterministic approval id of a step: UUIDv5 of `JSON.stringify([tenant, workflow, step])`, an
 * unambiguous encoding (each part quoted and escaped), so distinct steps never share an id.
 *
 * Ids already issued keep working: an approval is looked up by the id stored with it
 * (`step_ledger.approval_id`, the `approvals` message key, the Temporal workflow id
 * `approvalWorkflowId(id)`, the CLI's argument), never by deriving it again. The evaluator derives
 * one only when it records a new `require_approval`; for a step whose ledger row already holds an
 * approval id it should keep that one (`row.approval_id ?? approvalIdFor(...)`), or a re-evaluated
 * step that was waiting under a legacy id would get a second approval.
 */
export function approvalIdFor(tenantId: string, workflowId: string, stepId: string): string {
  return uuidv5(JSON.stringify([tenantId, workflowId, stepId]), APPROVAL_ID_NAMESPACE);
}
