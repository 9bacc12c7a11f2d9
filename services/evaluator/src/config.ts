import { readFileSync } from 'node:fs';
import { DEFAULT_REDACTED_KEYS } from '@stepgate/contracts';
import { privateKeyFromPem } from '@stepgate/contracts/node';
import { EvaluatorEnvSchema, readSettings, serviceEnv, type ServiceEnv } from '@stepgate/runtime';
import type { KeyObject } from 'node:crypto';

export interface EvaluatorConfig extends ServiceEnv {
  signingKeyId: string;
  signingKey: KeyObject;
  /** Accepted distance between a request's requested_at and the evaluator's clock. */
  maxClockSkewMs: number;
  /** How long a looked-up credential is trusted before it is read again (revocation latency). */
  credentialCacheMs: number;
  /** How long a tenant's bundle is used before its newest version is read again (a lost notice's cost). */
  bundleMaxAgeMs?: number;
  portalBaseUrl: string | undefined;
  /**
   * Partitions processed at once (order is per partition). At least all partitions of a fetch: kafkajs
   * fetches again only when every batch of its last fetch is handled, and batches that start together
   * share one transaction and one produce request.
   */
  partitionsConcurrently: number;
  /** Most gates one decide transaction writes: a larger group commit is split (a backlog's fetch can hold tens of thousands). */
  gatesPerTransaction: number;
  /**
   * How long a batch Postgres refuses for its own reasons (read-only after a failover, disk full) is
   * redone, from its group commit's start, before it is split and its requests blocked (ENGINE_ERROR);
   * default DEFAULT_REDO_UNWRITABLE_FOR_MS, 0: at once.
   */
  redoUnwritableForMs?: number;
  /** Worker threads verifying requests and signing decisions (0: on the event loop); default: cores − 1, 1 to 4. */
  signatureThreads?: number;
  /** Key fragments masked in inputs summaries (audit rows, approvers' view); default DEFAULT_REDACTED_KEYS. */
  redactKeys?: readonly string[];
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): EvaluatorConfig {
  const e = readSettings('evaluator', EvaluatorEnvSchema, env);
  return {
    ...serviceEnv('evaluator', e),
    signingKeyId: e.STEPGATE_EVALUATOR_KEY_ID,
    signingKey: privateKeyFromPem(readFileSync(e.STEPGATE_EVALUATOR_KEY_FILE, 'utf8')),
    maxClockSkewMs: e.STEPGATE_MAX_CLOCK_SKEW_MS,
    credentialCacheMs: e.STEPGATE_CREDENTIAL_CACHE_MS,
    bundleMaxAgeMs: e.STEPGATE_BUNDLE_MAX_AGE_MS,
    portalBaseUrl: e.PORTAL_BASE_URL,
    partitionsConcurrently: e.STEPGATE_PARTITIONS_CONCURRENTLY,
    gatesPerTransaction: e.STEPGATE_GATES_PER_TRANSACTION,
    ...(e.STEPGATE_REDO_UNWRITABLE_MS === undefined ? {} : { redoUnwritableForMs: e.STEPGATE_REDO_UNWRITABLE_MS }),
    ...(e.STEPGATE_SIGNATURE_THREADS === undefined ? {} : { signatureThreads: e.STEPGATE_SIGNATURE_THREADS }),
    // STEPGATE_REDACT_KEYS=ssn,iban adds to the defaults (password, token, secret, api_key, …).
    ...(e.STEPGATE_REDACT_KEYS ? { redactKeys: [...DEFAULT_REDACTED_KEYS, ...e.STEPGATE_REDACT_KEYS] } : {}),
  };
}
