import { KafkaConnection, type KafkaSecurity } from '@stepgate/messaging';
import type { PostgresSsl } from '@stepgate/runtime';
import pg from 'pg';
import type { Endpoints } from './endpoints.js';
import { migrate, type MigrateResult } from './migrate.js';

export async function migrateDatabase(
  databaseUrl: string,
  schema?: string,
  ssl: PostgresSsl = false,
): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: databaseUrl, ...(ssl ? { ssl } : {}) });
  await client.connect();
  try {
    return await migrate(client, schema === undefined ? {} : { schema });
  } finally {
    await client.end();
  }
}

export async function provisionTopics(
  brokers: string[],
  prefix?: string,
  security: KafkaSecurity = {},
): Promise<string[]> {
  return new KafkaConnection({ clientId: 'stepgate-provision', brokers, ...security }).withAdmin((admin) =>
    admin.ensureTopics(prefix === undefined ? {} : { prefix }),
  );
}

/** What `infra:up` and `npm run dev` do after the services answer: migrations, then topics. */
export async function provision(endpoints: Endpoints, topicPrefix?: string) {
  const migrations = await migrateDatabase(endpoints.databaseUrl, undefined, endpoints.databaseSsl);
  const createdTopics = await provisionTopics(endpoints.kafkaBrokers, topicPrefix, endpoints.kafkaSecurity);
  return { migrations, createdTopics };
}
