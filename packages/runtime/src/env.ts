import type { z } from 'zod';
import type { KafkaSecurity } from '@stepgate/messaging';
import type { ServiceEnvSchema } from './settings/service.js';
import { kafkaSecurity, postgresSsl, type PostgresSsl } from './transport.js';

/** What every service reads from the environment, with the local stack's defaults. */
export interface ServiceEnv {
  kafkaBrokers: string[];
  /** TLS and SASL of this process's Kafka clients (KAFKA_SSL*, KAFKA_SASL*). */
  kafkaSecurity?: KafkaSecurity;
  databaseUrl: string;
  /** pg's `ssl` option (DATABASE_SSLMODE, DATABASE_SSL_CA_FILE). */
  databaseSsl?: PostgresSsl;
  /** Decisions are published to each tenant's own topic (STEPGATE_TENANT_DECISION_TOPICS). */
  tenantDecisionTopics?: boolean;
  /** Postgres schema holding stepgate's tables (tests give each file its own). */
  databaseSchema: string;
  topicPrefix: string;
  groupId: string;
  /** Identifies this instance in logs and Kafka client ids. */
  instanceId: string;
  /** Consumer-group session timeout: how soon a dead instance's partitions move to the others. */
  sessionTimeoutMs: number;
  metricsPort: number | undefined;
  /** Interface of the metrics and health endpoint (default 127.0.0.1). */
  metricsHost?: string;
}

/** The common part of a service's settings, from its parsed environment. */
export function serviceEnv(
  service: string,
  env: z.output<typeof ServiceEnvSchema> & Partial<Record<string, unknown>>,
): ServiceEnv {
  const group = env[`STEPGATE_${service.toUpperCase()}_GROUP`];
  return {
    kafkaBrokers: env.KAFKA_BROKERS,
    kafkaSecurity: kafkaSecurity(env, service),
    databaseUrl: env.DATABASE_URL,
    databaseSsl: postgresSsl(env, service),
    tenantDecisionTopics: env.STEPGATE_TENANT_DECISION_TOPICS,
    databaseSchema: env.STEPGATE_DB_SCHEMA,
    topicPrefix: env.STEPGATE_TOPIC_PREFIX,
    groupId: typeof group === 'string' ? group : `stepgate-${service}`,
    instanceId: env.STEPGATE_INSTANCE_ID ?? `${service}-${process.pid}`,
    sessionTimeoutMs: env.STEPGATE_SESSION_TIMEOUT_MS,
    metricsPort: env.METRICS_PORT,
    metricsHost: env.METRICS_HOST,
  };
}
