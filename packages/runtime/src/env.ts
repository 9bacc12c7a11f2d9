import { DEFAULT_TOPIC_PREFIX } from '@stepgate/contracts';

/** What every service reads from the environment, with the local stack's defaults. */
export interface ServiceEnv {
  kafkaBrokers: string[];
  databaseUrl: string;
  /** Postgres schema holding stepgate's tables (tests give each file its own). */
  databaseSchema: string;
  topicPrefix: string;
  groupId: string;
  /** Identifies this instance in logs and Kafka client ids. */
  instanceId: string;
  /** Consumer-group session timeout: how soon a dead instance's partitions move to the survivors. */
  sessionTimeoutMs: number;
  metricsPort: number | undefined;
}

export function serviceEnv(service: string, env: NodeJS.ProcessEnv = process.env): ServiceEnv {
  return {
    kafkaBrokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    databaseUrl: env.DATABASE_URL ?? 'postgres://stepgate:stepgate@127.0.0.1:5433/stepgate',
    databaseSchema: env.STEPGATE_DB_SCHEMA ?? 'public',
    topicPrefix: env.STEPGATE_TOPIC_PREFIX ?? DEFAULT_TOPIC_PREFIX,
    groupId: env[`STEPGATE_${service.toUpperCase()}_GROUP`] ?? `stepgate-${service}`,
    instanceId: env.STEPGATE_INSTANCE_ID ?? `${service}-${process.pid}`,
    sessionTimeoutMs: Number(env.STEPGATE_SESSION_TIMEOUT_MS ?? 10_000),
    metricsPort: env.METRICS_PORT ? Number(env.METRICS_PORT) : undefined,
  };
}
