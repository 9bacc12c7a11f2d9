import { randomUUID } from 'node:crypto';
import type { EachMessagePayload } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { TOPIC_SPECS } from '@stepgate/contracts';
import { testNamespace } from '@stepgate/test';

const ns = testNamespace('kafka-smoke');
afterAll(() => ns.cleanup());

describe('kafka (real broker)', () => {
  it('round-trips messages from a producer to a consumer group on a topic the test created', async () => {
    const created = await ns.createTopics();
    expect(created).toHaveLength(TOPIC_SPECS.length);
    const topic = ns.topics['gate.requests'];
    const metadata = await ns.withAdmin((admin) => admin.fetchTopicMetadata({ topics: [topic] }));
    expect(metadata.topics[0]!.partitions).toHaveLength(12);

    const consumer = ns.kafka.consumer({ groupId: `${ns.groupPrefix}smoke` });
    const producer = ns.kafka.producer({ idempotent: true });
    await Promise.all([consumer.connect(), producer.connect()]);
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const sent = Array.from({ length: 20 }, (_, i) => ({
        key: `wf-${i % 4}`,
        value: JSON.stringify({ n: i, id: randomUUID() }),
      }));
      const received: Array<{ key: string; value: string; partition: number }> = [];
      const allReceived = new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message, partition }: EachMessagePayload) => {
            received.push({ key: message.key!.toString(), value: message.value!.toString(), partition });
            if (received.length === sent.length) resolve();
          },
        });
      });
      await producer.send({ topic, messages: sent });
      await allReceived;

      expect(received.map((r) => r.value).sort()).toEqual(sent.map((s) => s.value).sort());
      // Keyed messages keep to one partition per key: the ordering guarantee the gate pipeline relies on.
      const partitionsByKey = new Map<string, Set<number>>();
      for (const r of received) partitionsByKey.set(r.key, (partitionsByKey.get(r.key) ?? new Set()).add(r.partition));
      for (const partitions of partitionsByKey.values()) expect(partitions.size).toBe(1);
    } finally {
      await Promise.all([consumer.disconnect(), producer.disconnect()]);
    }
  });

  it('does not auto-create topics: producing to an unknown topic fails', async () => {
    const producer = ns.kafka.producer({ retry: { retries: 1 } });
    await producer.connect();
    try {
      await expect(
        producer.send({ topic: `${ns.topicPrefix}does-not-exist`, messages: [{ value: 'x' }] }),
      ).rejects.toThrow();
    } finally {
      await producer.disconnect();
    }
  });
});
