import { readFileSync } from 'node:fs';
import { DEFAULT_TOPIC_PREFIX, privateKeyFromPem } from '@stepgate/contracts';
import type { KeyObject } from 'node:crypto';

export interface EvaluatorConfig {
  kafkaBrokers: string[];
  databaseUrl: string;
  /** Postgres schema holding stepgate's tables (tests give each file its own). */
  databaseSchema: string;
  topicPrefix: string;
  groupId: string;
  /** Identifies this instance (its policy-change subscription is its own). */
  instanceId: string;
  signingKeyId: string;
  signingKey: KeyObject;
  /** Accepted distance between a request's requested_at and the evaluator's clock. */
  maxClockSkewMs: number;
  /** How long a looked-up credential is trusted before it is read again (revocation latency). */
  credentialCacheMs: number;
  portalBaseUrl: string | undefined;
  metricsPort: number | undefined;
  /** Consumer-group session timeout: how soon a dead evaluator's partitions move to the survivors. */
  sessionTimeoutMs: number;
  /**
   * Partitions processed at once. Each request's work is mostly Postgres round trips, so
   * concurrency across partitions (order is per partition anyway) is what raises throughput.
   */
  partitionsConcurrently: number;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): EvaluatorConfig {
  const keyFile = env.STEPGATE_EVALUATOR_KEY_FILE;
  if (!keyFile) throw new Error('STEPGATE_EVALUATOR_KEY_FILE: expected the path of the evaluator\'s Ed25519 PKCS#8 PEM key');
  return {
    kafkaBrokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    databaseUrl: env.DATABASE_URL ?? 'postgres://stepgate:stepgate@127.0.0.1:5433/stepgate',
    databaseSchema: env.STEPGATE_DB_SCHEMA ?? 'public',
    topicPrefix: env.STEPGATE_TOPIC_PREFIX ?? DEFAULT_TOPIC_PREFIX,
    groupId: env.STEPGATE_EVALUATOR_GROUP ?? 'stepgate-evaluator',
    instanceId: env.STEPGATE_INSTANCE_ID ?? `evaluator-${process.pid}`,
    signingKeyId: env.STEPGATE_EVALUATOR_KEY_ID ?? 'stepgate-evaluator',
    signingKey: privateKeyFromPem(readFileSync(keyFile, 'utf8')),
    maxClockSkewMs: Number(env.STEPGATE_MAX_CLOCK_SKEW_MS ?? 300_000),
    credentialCacheMs: Number(env.STEPGATE_CREDENTIAL_CACHE_MS ?? 5_000),
    portalBaseUrl: env.PORTAL_BASE_URL,
    metricsPort: env.METRICS_PORT ? Number(env.METRICS_PORT) : undefined,
    sessionTimeoutMs: Number(env.STEPGATE_SESSION_TIMEOUT_MS ?? 10_000),
    partitionsConcurrently: Number(env.STEPGATE_PARTITIONS_CONCURRENTLY ?? 8),
  };
}
