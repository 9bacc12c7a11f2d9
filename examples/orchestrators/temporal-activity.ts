/**
 * Gating a step of a Temporal workflow from an activity. The worker owns one GateClient; the workflow
 * calls `gateStep` before the step and stops on block. (Durably waiting for a human approval as a
 * signal, without holding an activity open, is the approvals service's job: issue "approvals".)
 */
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/activity';
import { GateClient, RefusedLocallyError, type GateStepRequest } from '@stepgate/client';
import type { GateDecision } from '@stepgate/contracts';

let client: GateClient | undefined;

/** Call once when the worker starts. */
export async function connectGateClient(keyFile: string): Promise<void> {
  const cred = JSON.parse(readFileSync(keyFile, 'utf8')) as { key_id: string; private_key_pem: string };
  client = new GateClient({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    keyId: cred.key_id,
    privateKeyPem: cred.private_key_pem,
    // The evaluator's published receipt keys (npm run dev serves them here), pinned at connect().
    receiptKeysUrl: process.env.STEPGATE_RECEIPT_KEYS_URL ?? 'http://127.0.0.1:9464/receipt-keys',
  });
  await client.connect();
}

/**
 * The activity: retries are safe, because a retried gate of the same step returns the stored decision.
 * A request the client refuses before sending (RefusedLocallyError) would be refused on every retry, so
 * it fails the activity for good (as `createGateActivities` in `@stepgate/client/temporal/activities` does).
 */
export async function gateStep(
  step: GateStepRequest,
): Promise<Pick<GateDecision, 'decision' | 'reason' | 'approval_id'>> {
  if (!client) throw new Error('connectGateClient was not called on this worker');
  const d = await client.gate({ retry_policy: 'idempotent', ...step }).catch((err: unknown) => {
    if (err instanceof RefusedLocallyError) throw ApplicationFailure.nonRetryable(err.message, err.name);
    throw err;
  });
  return { decision: d.decision, reason: d.reason, ...(d.approval_id ? { approval_id: d.approval_id } : {}) };
}

// In the workflow (deterministic code):
//   const { gateStep } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });
//   const d = await gateStep({ workflow_id: workflowInfo().workflowId, step_id: 'deploy', step_type: 'connector_call' });
//   if (d.decision === 'block') throw ApplicationFailure.nonRetryable(d.reason);
