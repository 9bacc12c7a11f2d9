import { KafkaConnection, type KafkaSecurity } from '@stepgate/messaging';
import pg from 'pg';
import { newAuditEvent, topicsFor, type AuditEvent } from '@stepgate/contracts';
import { CliEnvSchema, kafkaSecurity, postgresSsl, readSettings, type PostgresSsl } from '@stepgate/runtime';
import {
  OutboxRelay,
  storeOn,
  withTransaction,
  type OutboxEntry,
  type PublishMessages,
  type Store,
} from '@stepgate/store';
import { InputError, type Io } from '../io.js';

/** The CLI's view of the services, from the same variables the services read. */
export interface AdminEnv {
  databaseUrl: string;
  databaseSsl: PostgresSsl;
  schema: string;
  brokers: string[];
  kafkaSecurity: KafkaSecurity;
  topicPrefix: string;
  /** Decisions are per tenant: a tenant's first credential also creates its decisions topic. */
  tenantDecisionTopics: boolean;
}

export function adminEnv(env: NodeJS.ProcessEnv = process.env): AdminEnv {
  const e = readSettings('stepgate', CliEnvSchema, env);
  return {
    databaseUrl: e.DATABASE_URL,
    databaseSsl: postgresSsl(e),
    schema: e.STEPGATE_DB_SCHEMA,
    brokers: e.KAFKA_BROKERS,
    kafkaSecurity: kafkaSecurity(e),
    topicPrefix: e.STEPGATE_TOPIC_PREFIX,
    tenantDecisionTopics: e.STEPGATE_TENANT_DECISION_TOPICS,
  };
}

/** The CLI's Kafka connection (as the control plane's principal, in secure mode). */
export function cliKafka(env: AdminEnv): KafkaConnection {
  return new KafkaConnection({ clientId: 'stepgate-cli', brokers: env.brokers, ...env.kafkaSecurity });
}

/** pg connection options of the CLI: its database, schema and TLS. */
export function adminDatabase(env: AdminEnv): pg.ClientConfig {
  return {
    connectionString: env.databaseUrl,
    options: `-c search_path=${env.schema}`,
    ...(env.databaseSsl ? { ssl: env.databaseSsl } : {}),
  };
}

/** Publishes relayed outbox messages with the CLI's producer, in order, each acknowledged by all in-sync replicas. */
export function kafkaPublisher(env: AdminEnv): PublishMessages {
  return async (messages) => {
    const producer = await cliKafka(env).producer();
    try {
      await producer.publish(messages);
    } finally {
      await producer.disconnect();
    }
  };
}

/**
 * Runs fn with the store over one transaction, and a way to announce the change: what fn publishes
 * is written to the outbox in the same transaction, so it commits (or not) with the change. After
 * the commit the outbox is relayed at once; with Kafka unreachable the messages stay in the outbox
 * and the audit service's relay publishes them when it is back (the command still succeeds).
 */
export async function withServices<T>(
  env: AdminEnv,
  fn: (store: Store, publish: (topic: 'policies' | 'audit', key: string, value: unknown) => void) => Promise<T>,
  io?: Pick<Io, 'err'>,
): Promise<T> {
  const pool = new pg.Pool({ ...adminDatabase(env), max: 1 });
  try {
    const outgoing: OutboxEntry[] = [];
    const result = await withTransaction(pool, async (db) => {
      const store = storeOn(db);
      const result = await fn(store, (topic, key, value) => outgoing.push({ topic, key, value }));
      await store.outbox.enqueue(outgoing);
      return result;
    });
    if (outgoing.length) {
      const relay = new OutboxRelay({ pool, topics: topicsFor(env.topicPrefix), publish: kafkaPublisher(env) });
      await relay
        .drain(3)
        .catch((err: unknown) =>
          io?.err(
            `note: committed; its notice stays in the outbox until Kafka is reachable (the audit service publishes it then): ${err instanceof Error ? err.message : String(err)}\n`,
          ),
        );
    }
    return result;
  } finally {
    await pool.end();
  }
}

export function adminAudit(
  action: AuditEvent['action'],
  tenantId: string,
  outcome: string,
  detail: Record<string, unknown>,
): AuditEvent {
  return newAuditEvent({
    tenant_id: tenantId,
    action,
    outcome,
    user_id: typeof detail.actor === 'string' ? detail.actor : null,
    detail,
  });
}

/** The refusal for a `--tenant` that names no tenant. */
export function unknownTenant(tenant: string): InputError {
  return new InputError(`--tenant "${tenant}": no such tenant (tenants come into being with their first credential)`);
}
