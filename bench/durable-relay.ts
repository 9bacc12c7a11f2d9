import type { Consumer, Kafka, Message } from 'kafkajs';
import { Coalescer } from '@stepgate/runtime';
import type pg from 'pg';

/**
 * A consumer group that writes the batches it reads to Postgres, those ready together in one durable
 * transaction, and after the commit republishes each message to every topic of `to`: the evaluator's shape (ledger rows
 * committed before the decision and its audit event are published) with none of its work. One row per
 * message, the message's own bytes, no index: a floor, lighter than the evaluator's three rows of a
 * decision's size.
 */
/** `run` on everything submitted while a run is in flight, in one go (runtime's Coalescer): each submission resolves with its run. */
export function together<T>(run: (items: T[]) => Promise<void>): (items: T[]) => Promise<void> {
  const coalescer = new Coalescer<T[], void>(async (groups) => {
    await run(groups.flat());
    return groups.map(() => undefined);
  });
  return (items) => coalescer.submit(items);
}

export async function startDurableRelay(p: {
  kafka: Kafka;
  groupId: string;
  from: string;
  to: string[];
  db: () => pg.Client;
  table: string;
}): Promise<{ stop: () => Promise<void> }> {
  const producer = p.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  const consumer: Consumer = p.kafka.consumer({ groupId: p.groupId, maxWaitTimeInMs: 5 });
  const db = p.db();
  await Promise.all([producer.connect(), consumer.connect(), db.connect()]);
  await db.query(`create table if not exists ${p.table} (k text, v text)`);
  // One connection, and the batches ready while a transaction is in flight share the next, as in the
  // evaluator's group commit; so do the sends after them, as in its publisher.
  const writes = together<Message>(async (messages) => {
    await db.query('begin');
    try {
      await db.query(`insert into ${p.table} (k, v) select * from unnest($1::text[], $2::text[])`, [
        messages.map((m) => m.key?.toString() ?? ''),
        messages.map((m) => m.value?.toString() ?? ''),
      ]);
      await db.query('commit');
    } catch (err) {
      await db.query('rollback').catch(() => undefined); // else every later transaction fails on this connection
      throw err;
    }
  });
  const sends = together<Message>(async (messages) => {
    await producer.sendBatch({ acks: -1, topicMessages: p.to.map((topic) => ({ topic, messages })) });
  });
  await consumer.subscribe({ topic: p.from, fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    partitionsConsumedConcurrently: 8,
    eachBatch: async ({ batch }) => {
      const messages = batch.messages.map((m) => ({ key: m.key, value: m.value }));
      await writes(messages);
      await sends(messages);
    },
  });
  await joined;
  return {
    stop: async () => {
      await consumer.disconnect();
      await producer.disconnect();
      await db.query(`drop table if exists ${p.table}`); // the relay's own: written only while it runs
      await db.end();
    },
  };
}
