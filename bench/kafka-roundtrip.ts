/**
 * Baseline: the bare kafkajs produce → consume round trip on the real broker, one message at a
 * time at a fixed rate. The gate pipeline's round trip is later reported as a ratio to this.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { Endpoints } from '@stepgate/infra';
import { summarize, type LatencySummary } from './stats.js';

export interface RoundTripOptions {
  messages: number;
  ratePerSecond: number;
}

export async function kafkaRoundTrip(endpoints: Endpoints, options: RoundTripOptions): Promise<LatencySummary> {
  const id = `bench-${randomBytes(4).toString('hex')}`;
  const kafka = new Kafka({ clientId: id, brokers: endpoints.kafkaBrokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: id, numPartitions: 12, replicationFactor: 1 }] });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const consumer = kafka.consumer({ groupId: id, maxWaitTimeInMs: 5 });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic: id, fromBeginning: true });

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
    void producer.send({ topic: id, acks: -1, messages: [{ key, value: randomBytes(256).toString('base64') }] });
  }
  await allDone;
  await Promise.all([consumer.disconnect(), producer.disconnect()]);
  await admin.deleteTopics({ topics: [id] });
  await admin.disconnect();
  return summarize(latenciesMs);
}
