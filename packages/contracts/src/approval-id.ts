import { v5 as uuidv5 } from 'uuid';

// Apart from gate-request.ts: uuid's Node build imports node:crypto (SHA-1), so this lives under
// '@stepgate/contracts/node'.

/** Fixed namespace for approval ids, so every service derives the same id for a step. */
export const APPROVAL_ID_NAMESPACE = '6f0b5b1e-8f5c-4d0a-9a57-3c1f0e4b7d21';

/** Deterministic approval id: UUIDv5 of `tenant:workflow:step`. */
export function approvalIdFor(tenantId: string, workflowId: string, stepId: string): string {
  return uuidv5(`${tenantId}:${workflowId}:${stepId}`, APPROVAL_ID_NAMESPACE);
}
