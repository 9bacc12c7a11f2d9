import { KafkaConnection } from '@stepgate/messaging';
import pg from 'pg';
import type { Endpoints } from './endpoints.js';
import { migrate, type MigrateResult } from './migrate.js';

export async function migrateDatabase(databaseUrl: string, schema?: string): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await migrate(client, schema === undefined ? {} : { schema });
  } finally {
    await client.end();
  }
}

export async function provisionTopics(brokers: string[], prefix?: string): Promise<string[]> {
  return new KafkaConnection({ clientId: 'stepgate-provision', brokers }).withAdmin((admin) =>
    admin.ensureTopics(prefix === undefined ? {} : { prefix }),
  );
}

/** What `infra:up` and `npm run dev` do after the services answer: migrations, then topics. */
export async function provision(endpoints: Endpoints, topicPrefix?: string) {
  const migrations = await migrateDatabase(endpoints.databaseUrl);
  const createdTopics = await provisionTopics(endpoints.kafkaBrokers, topicPrefix);
  return { migrations, createdTopics };
}
