/**
 * Baselines: bare kafkajs on the real broker, one message at a time at a fixed rate.
 * - one hop: produce → consume;
 * - request → reply: produce a request, a bare echo consumer group (eachBatch, acks -1, no work;
 *   batches finishing while a send is in flight go out in the next) publishes it on a reply topic, the
 *   requester consumes the reply. This is the shape of a gate (two topics, two hops) with nothing of
 *   stepgate's in between.
 * - durable request → reply: the same, with the echo writing its batches to Postgres (those ready
 *   together in one durable transaction) before it replies (durable-relay.ts): what publishing a
 *   decision only after its ledger rows commit adds to a round trip, with none of stepgate's work.
 * kafkajs here is the one the services run: with @stepgate/messaging's fast paths, loaded first by the bench.
 * The gate pipeline's round trip is reported as a ratio to each.
 */
import { randomBytes } from 'node:crypto';
import type { Consumer, Kafka, Message } from 'kafkajs';
import type { Endpoints } from '@stepgate/infra';
import { summarize, type LatencySummary } from './stats.js';
import { startDurableRelay, together } from './durable-relay.js';
import { benchDb, benchKafka } from './transport.js';

export interface RoundTripOptions {
  messages: number;
  ratePerSecond: number;
  /** Through a bare echo consumer group (request → reply) instead of one hop; `durable`: one that commits each batch to Postgres before replying. */
  echo?: boolean | 'durable';
}

export async function kafkaRoundTrip(endpoints: Endpoints, options: RoundTripOptions): Promise<LatencySummary> {
  const id = `bench-${randomBytes(4).toString('hex')}`;
  const requests = id;
  const replies = options.echo ? `${id}-replies` : id;
  const kafka = benchKafka(id, endpoints);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [...new Set([requests, replies])].map((topic) => ({ topic, numPartitions: 12, replicationFactor: 1 })),
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const consumer = kafka.consumer({ groupId: id, maxWaitTimeInMs: 5 });
  let echo: { stop: () => Promise<void> } | undefined;
  try {
    echo =
      options.echo === 'durable'
        ? await startDurableRelay({
            kafka,
            groupId: `${id}-echo`,
            from: requests,
            to: [replies],
            db: () => benchDb(endpoints),
            table: `bench_durable_${id.slice('bench-'.length)}`,
          })
        : options.echo
          ? await startEcho(kafka, `${id}-echo`, requests, replies)
          : undefined;
    await Promise.all([producer.connect(), consumer.connect()]);
    await consumer.subscribe({ topic: replies, fromBeginning: true });

    const sentAt = new Map<string, bigint>();
    const latenciesMs: number[] = [];
    let done!: () => void;
    const allDone = new Promise<void>((r) => (done = r));
    // Wait until the group has its partitions, so start-up is not measured.
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = message.key!.toString();
        const t0 = sentAt.get(key);
        if (t0 === undefined) return;
        latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (latenciesMs.length === options.messages) done();
      },
    });
    await joined;

    const intervalMs = 1000 / options.ratePerSecond;
    const start = performance.now();
    for (let i = 0; i < options.messages; i++) {
      const due = start + i * intervalMs;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const key = `k${i}`;
      sentAt.set(key, process.hrtime.bigint());
      void producer.send({
        topic: requests,
        acks: -1,
        messages: [{ key, value: randomBytes(256).toString('base64') }],
      });
    }
    await allDone;
    return summarize(latenciesMs);
  } finally {
    // A run that failed leaves nothing behind either: its groups, topics and the durable echo's table.
    await Promise.all([consumer.disconnect(), producer.disconnect(), echo?.stop()]).catch(() => undefined);
    await admin.deleteGroups([id, `${id}-echo`]).catch(() => undefined);
    await admin.deleteTopics({ topics: [...new Set([requests, replies])] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/** A consumer group that republishes every batch it reads, unchanged, on the reply topic. */
export async function startEcho(
  kafka: Kafka,
  groupId: string,
  from: string,
  to: string,
): Promise<{ stop: () => Promise<void> }> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 5 });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic: from, fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  // Batches finishing while a send is in flight go out together in the next (the evaluator and the
  // client do the same): sent one by one, they queue behind each other's acknowledgements, and the
  // echo saturated at 1,000 messages/s on its own.
  const sends = together<Message>(async (messages) => {
    await producer.send({ topic: to, acks: -1, messages });
  });
  await consumer.run({
    partitionsConsumedConcurrently: 8,
    eachBatch: async ({ batch }) => {
      await sends(batch.messages.map((m) => ({ key: m.key, value: m.value })));
    },
  });
  await joined;
  return { stop: async () => void (await Promise.all([consumer.disconnect(), producer.disconnect()])) };
}
