import { KafkaConnection } from '@stepgate/messaging';
import pg from 'pg';
import { DEFAULT_TOPIC_PREFIX, newAuditEvent, topicsFor, type AuditEvent } from '@stepgate/contracts';
import { InputError } from '../io.js';

/** The CLI's view of the services, from the same variables the services read. */
export interface AdminEnv {
  databaseUrl: string;
  schema: string;
  brokers: string[];
  topicPrefix: string;
}

export function adminEnv(env: NodeJS.ProcessEnv = process.env): AdminEnv {
  return {
    databaseUrl: env.DATABASE_URL ?? 'postgres://stepgate:stepgate@127.0.0.1:5433/stepgate',
    schema: env.STEPGATE_DB_SCHEMA ?? 'public',
    brokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    topicPrefix: env.STEPGATE_TOPIC_PREFIX ?? DEFAULT_TOPIC_PREFIX,
  };
}

/** Runs fn with a database client (in a transaction) and a way to publish after it commits. */
export async function withServices<T>(
  env: AdminEnv,
  fn: (db: pg.ClientBase, publish: (topic: 'policies' | 'audit', key: string, value: unknown) => void) => Promise<T>,
): Promise<T> {
  const db = new pg.Client({ connectionString: env.databaseUrl, options: `-c search_path=${env.schema}` });
  await db.connect();
  const outgoing: Array<{ topic: string; key: string; value: string }> = [];
  const topics = topicsFor(env.topicPrefix);
  try {
    await db.query('begin');
    const result = await fn(db, (topic, key, value) =>
      outgoing.push({ topic: topics[topic], key, value: JSON.stringify(value) }),
    );
    await db.query('commit');
    if (outgoing.length) {
      const producer = await new KafkaConnection({ clientId: 'stepgate-cli', brokers: env.brokers }).producer({
        idempotent: false,
      });
      try {
        await producer.publish(outgoing);
      } finally {
        await producer.disconnect();
      }
    }
    return result;
  } catch (err) {
    await db.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await db.end();
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
