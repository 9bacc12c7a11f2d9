import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { privateKeyFromPem, publicKeyFromPem } from '@stepgate/contracts/node';
import {
  ApprovalsEnvSchema,
  readSettings,
  serviceEnv,
  SettingsError,
  temporalConnectionOptions,
  type ServiceEnv,
  type TemporalConnectionOptions,
} from '@stepgate/runtime';
import { DEFAULT_APPROVALS_TASK_QUEUE } from '@stepgate/approvals-client/definitions';

export interface ApprovalsConfig extends ServiceEnv {
  temporalAddress: string;
  /** How to connect to Temporal: its address, TLS/mTLS and API key (TEMPORAL_TLS*, TEMPORAL_API_KEY). */
  temporal?: TemporalConnectionOptions;
  temporalNamespace: string;
  taskQueue: string;
  /** The receipt key: approval decisions are signed like the evaluator's, so clients verify both. */
  signingKeyId: string;
  signingKey: KeyObject;
  /**
   * The evaluators' receipt keys by key id, besides the service's own (the evaluators' by default):
   * approval requests signed with one of them start approvals, no others do.
   */
  evaluatorKeys?: ReadonlyMap<string, KeyObject>;
  /** Used when neither the matching policy nor the tenant names an approval timeout. */
  defaultTimeoutSeconds: number;
  /** Fraction of the wait after which a reminder goes out on `approvals` (null: no reminders). */
  reminderFraction: number | null;
  /** On reject or expiry, ask a `reply_to` Temporal workflow to cancel (besides signalling it). */
  cancelOrchestratorOnReject: boolean;
  /** The portal's base URL: webhooks link `<portal>/approvals/<id>` (none: no link). */
  portalBaseUrl?: string | undefined;
  /** Development only: webhooks may be http to a loopback host. */
  allowLoopbackWebhooks?: boolean;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ApprovalsConfig {
  const e = readSettings('approvals', ApprovalsEnvSchema, env);
  const keyFile = e.STEPGATE_SIGNING_KEY_FILE ?? e.STEPGATE_EVALUATOR_KEY_FILE;
  if (!keyFile)
    throw new SettingsError('approvals', [
      {
        variable: 'STEPGATE_SIGNING_KEY_FILE',
        expected: "required: the path of stepgate's Ed25519 PKCS#8 PEM receipt key",
        got: undefined,
      },
    ]);
  const reminder = e.STEPGATE_APPROVAL_REMINDER_FRACTION;
  const signingKeyId = e.STEPGATE_SIGNING_KEY_ID ?? e.STEPGATE_EVALUATOR_KEY_ID ?? 'stepgate-evaluator';
  const evaluatorKeys = new Map(evaluatorPublicKeys(e.STEPGATE_EVALUATOR_PUBLIC_KEY_FILES ?? []));
  if (evaluatorKeys.has(signingKeyId))
    throw new SettingsError('approvals', [
      {
        variable: 'STEPGATE_EVALUATOR_PUBLIC_KEY_FILES',
        expected: `key ids other than the service's own receipt key's (${signingKeyId}), which it trusts already`,
        got: signingKeyId,
      },
    ]);
  return {
    ...serviceEnv('approvals', e),
    temporalAddress: e.TEMPORAL_ADDRESS,
    temporal: temporalConnectionOptions(e.TEMPORAL_ADDRESS, e, 'approvals'),
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.STEPGATE_APPROVALS_TASK_QUEUE ?? DEFAULT_APPROVALS_TASK_QUEUE,
    signingKeyId,
    signingKey: privateKeyFromPem(readFileSync(keyFile, 'utf8')),
    evaluatorKeys,
    defaultTimeoutSeconds: e.STEPGATE_APPROVAL_TIMEOUT_SECONDS,
    reminderFraction: reminder === 'off' ? null : reminder,
    cancelOrchestratorOnReject: e.STEPGATE_CANCEL_ORCHESTRATOR_ON_REJECT,
    portalBaseUrl: e.PORTAL_BASE_URL,
    allowLoopbackWebhooks: e.STEPGATE_WEBHOOK_ALLOW_LOOPBACK,
  };
}

/** `key_id=path` entries: each evaluator public key (Ed25519, PEM) by its key id, each id once. */
function evaluatorPublicKeys(entries: readonly string[]): Array<[string, KeyObject]> {
  const refuse = (expected: string, entry: string) =>
    new SettingsError('approvals', [{ variable: 'STEPGATE_EVALUATOR_PUBLIC_KEY_FILES', expected, got: entry }]);
  const seen = new Set<string>();
  return entries.map((entry) => {
    const at = entry.indexOf('=');
    const keyId = entry.slice(0, at).trim();
    const file = entry.slice(at + 1).trim();
    if (at <= 0 || !file) throw refuse('key_id=path entries, comma-separated', entry);
    if (seen.has(keyId)) throw refuse('each key id once', entry);
    seen.add(keyId);
    let key: KeyObject;
    try {
      key = publicKeyFromPem(readFileSync(file, 'utf8'));
    } catch {
      throw refuse('a readable file holding a PEM public key', entry);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw refuse('an Ed25519 public key', entry);
    return [keyId, key];
  });
}
