import { readFileSync } from 'node:fs';
import { DEFAULT_REDACTED_KEYS } from '@stepgate/contracts';
import { privateKeyFromPem } from '@stepgate/contracts/node';
import { serviceEnv, type ServiceEnv } from '@stepgate/runtime';
import type { KeyObject } from 'node:crypto';

export interface EvaluatorConfig extends ServiceEnv {
  signingKeyId: string;
  signingKey: KeyObject;
  /** Accepted distance between a request's requested_at and the evaluator's clock. */
  maxClockSkewMs: number;
  /** How long a looked-up credential is trusted before it is read again (revocation latency). */
  credentialCacheMs: number;
  portalBaseUrl: string | undefined;
  /**
   * Partitions processed at once. Each request's work is mostly Postgres round trips, so
   * concurrency across partitions (order is per partition anyway) is what raises throughput.
   */
  partitionsConcurrently: number;
  /** Key fragments masked in inputs summaries (audit rows, approvers' view); default DEFAULT_REDACTED_KEYS. */
  redactKeys?: readonly string[];
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): EvaluatorConfig {
  const keyFile = env.STEPGATE_EVALUATOR_KEY_FILE;
  if (!keyFile)
    throw new Error("STEPGATE_EVALUATOR_KEY_FILE: expected the path of the evaluator's Ed25519 PKCS#8 PEM key");
  return {
    ...serviceEnv('evaluator', env),
    signingKeyId: env.STEPGATE_EVALUATOR_KEY_ID ?? 'stepgate-evaluator',
    signingKey: privateKeyFromPem(readFileSync(keyFile, 'utf8')),
    maxClockSkewMs: Number(env.STEPGATE_MAX_CLOCK_SKEW_MS ?? 300_000),
    credentialCacheMs: Number(env.STEPGATE_CREDENTIAL_CACHE_MS ?? 5_000),
    portalBaseUrl: env.PORTAL_BASE_URL,
    partitionsConcurrently: Number(env.STEPGATE_PARTITIONS_CONCURRENTLY ?? 8),
    // STEPGATE_REDACT_KEYS=ssn,iban adds to the defaults (password, token, secret, api_key, …).
    ...(env.STEPGATE_REDACT_KEYS
      ? {
          redactKeys: [
            ...DEFAULT_REDACTED_KEYS,
            ...env.STEPGATE_REDACT_KEYS.split(',')
              .map((k) => k.trim())
              .filter(Boolean),
          ],
        }
      : {}),
  };
}
