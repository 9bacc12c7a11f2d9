import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { privateKeyFromPem } from '@stepgate/contracts/node';
import { serviceEnv, type ServiceEnv } from '@stepgate/runtime';
import { DEFAULT_APPROVALS_TASK_QUEUE } from '@stepgate/approvals-client/definitions';

export interface ApprovalsConfig extends ServiceEnv {
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  /** The receipt key: approval decisions are signed like the evaluator's, so clients verify both. */
  signingKeyId: string;
  signingKey: KeyObject;
  /** Used when neither the matching policy nor the tenant names an approval timeout. */
  defaultTimeoutSeconds: number;
  /** Fraction of the wait after which a reminder goes out on `approvals` (null: no reminders). */
  reminderFraction: number | null;
  /** On reject or expiry, ask a `reply_to` Temporal workflow to cancel (besides signalling it). */
  cancelOrchestratorOnReject: boolean;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ApprovalsConfig {
  const keyFile = env.STEPGATE_SIGNING_KEY_FILE ?? env.STEPGATE_EVALUATOR_KEY_FILE;
  if (!keyFile)
    throw new Error("STEPGATE_SIGNING_KEY_FILE: expected the path of stepgate's Ed25519 PKCS#8 PEM receipt key");
  const reminder = env.STEPGATE_APPROVAL_REMINDER_FRACTION ?? '0.5';
  return {
    ...serviceEnv('approvals', env),
    temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.STEPGATE_APPROVALS_TASK_QUEUE ?? DEFAULT_APPROVALS_TASK_QUEUE,
    signingKeyId: env.STEPGATE_SIGNING_KEY_ID ?? env.STEPGATE_EVALUATOR_KEY_ID ?? 'stepgate-evaluator',
    signingKey: privateKeyFromPem(readFileSync(keyFile, 'utf8')),
    defaultTimeoutSeconds: Number(env.STEPGATE_APPROVAL_TIMEOUT_SECONDS ?? 86_400),
    reminderFraction: reminder === 'off' ? null : Number(reminder),
    cancelOrchestratorOnReject: env.STEPGATE_CANCEL_ORCHESTRATOR_ON_REJECT === 'true',
  };
}
