/**
 * Per-test-file isolation on shared services: every file gets its own Postgres schema, Kafka topic
 * prefix, consumer-group prefix and Temporal task queue, so files run in parallel and reruns never
 * see old data.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import pg from 'pg';
import { inject } from 'vitest';
import { topicsFor, type TopicName } from '@stepgate/contracts';
import { migrate, type Endpoints } from '@stepgate/infra';
import { TopicAdmin, kafkajsSecurity } from '@stepgate/messaging';

export interface TestNamespace {
  /** Lower-case identifier, unique per call: `t_<label>_<random>`. */
  id: string;
  endpoints: Endpoints;
  schema: string;
  topicPrefix: string;
  topics: Record<TopicName, string>;
  groupPrefix: string;
  taskQueue: string;
  kafka: Kafka;
  /** A pool whose connections use this namespace's schema. */
  pool: pg.Pool;
  /** Runs fn with this namespace's connected Kafka admin client. */
  withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T>;
  /** Applies the project's migrations to this namespace's schema. */
  migrate(): Promise<void>;
  /** Creates this namespace's topics (all of the contract's topics under its prefix). */
  createTopics(): Promise<string[]>;
  /** Drops the schema and topics, closes the pool. */
  cleanup(): Promise<void>;
}

/**
 * `endpoints`: other services than the suite's shared ones (the secure mode's broker, TLS Postgres);
 * the namespace's own clients then use their transport security too.
 */
export function testNamespace(label: string, options: { endpoints?: Endpoints } = {}): TestNamespace {
  const endpoints = options.endpoints ?? inject('endpoints');
  const ssl = endpoints.databaseSsl ? { ssl: endpoints.databaseSsl } : {};
  const safeLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 30);
  const id = `t_${safeLabel}_${randomBytes(4).toString('hex')}`;
  const topicPrefix = `test.${id}.`;
  const kafka = new Kafka({
    clientId: id,
    brokers: endpoints.kafkaBrokers,
    logLevel: logLevel.WARN,
    ...kafkajsSecurity(endpoints.kafkaSecurity ?? {}),
  });
  const pool = new pg.Pool({
    connectionString: endpoints.databaseUrl,
    max: 10,
    options: `-c search_path=${id}`,
    ...ssl,
  });
  let admin: Admin | undefined;
  const createdTopics: string[] = [];

  const withAdmin = async <T>(fn: (a: Admin) => Promise<T>): Promise<T> => {
    if (!admin) {
      admin = kafka.admin();
      await admin.connect();
    }
    return fn(admin);
  };

  return {
    id,
    endpoints,
    schema: id,
    topicPrefix,
    topics: topicsFor(topicPrefix),
    groupPrefix: `${id}.`,
    taskQueue: `tq-${id}`,
    kafka,
    pool,
    withAdmin,
    async migrate() {
      const client = new pg.Client({ connectionString: endpoints.databaseUrl, ...ssl });
      await client.connect();
      try {
        await migrate(client, { schema: id });
      } finally {
        await client.end();
      }
    },
    async createTopics() {
      const created = await withAdmin((a) => new TopicAdmin(a).ensureTopics({ prefix: topicPrefix }));
      createdTopics.push(...created);
      return created;
    },
    async cleanup() {
      await pool.end().catch(() => undefined);
      const client = new pg.Client({ connectionString: endpoints.databaseUrl, ...ssl });
      await client.connect();
      await client.query(`drop schema if exists ${id} cascade`).finally(() => client.end());
      if (createdTopics.length)
        await withAdmin((a) => a.deleteTopics({ topics: createdTopics })).catch(() => undefined);
      await admin?.disconnect();
    },
  };
}

/** Whether a consumer group's committed offsets have reached the end of every partition of a topic. */
export async function groupCaughtUp(ns: TestNamespace, groupId: string, topic: string): Promise<boolean> {
  return ns.withAdmin(async (admin) => {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return ends.every(
      (end) =>
        committed!.partitions.find((p) => p.partition === end.partition)?.offset === end.high || end.high === '0',
    );
  });
}
