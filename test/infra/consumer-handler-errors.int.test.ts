import { afterAll, describe, expect, it } from 'vitest';
import { KafkaConnection, REDO_FIRST_MS } from '@stepgate/messaging';
import { testNamespace } from '@stepgate/test';

const ns = testNamespace('consumer-handler-errors');
afterAll(() => ns.cleanup());

describe('a batch handler that fails is redone in place (real broker)', () => {
  it('failures over a member’s life (a redo each, spread over many good batches) never crash the consumer or rejoin its group; each message is handled once it succeeds, in order', async () => {
    await ns.createTopics();
    const topic = ns.topics.dlq;
    const kafka = new KafkaConnection({ clientId: ns.id, brokers: ns.endpoints.kafkaBrokers });
    const attempts = new Map<string, number>();
    const handled: string[] = [];
    let joins = 0;
    const crashes: Error[] = [];
    const retries: number[] = [];
    const consumer = kafka.batchConsumer({
      groupId: `${ns.groupPrefix}handler-errors`,
      topics: [topic],
      maxWaitTimeInMs: 20,
      onGroupJoin: () => joins++,
      onCrash: (error) => crashes.push(error),
      onCommitError: () => undefined,
      onHandlerError: (_err, failed) => retries.push(failed.retryInMs),
      handle: async (batch) => {
        for (const m of batch.messages) {
          const value = m.value!.toString();
          const attempt = (attempts.get(value) ?? 0) + 1;
          attempts.set(value, attempt);
          // Each message fails its first delivery, as a batch meeting a deadlock or Postgres for a
          // moment would: kafkajs's retrier counted each such failure, and never forgot them.
          if (attempt === 1) throw new Error(`first delivery of ${value} fails`);
          handled.push(value);
          batch.resolveOffset(m.offset);
        }
        batch.commit();
      },
    });
    await consumer.start();
    const producer = await kafka.producer();
    const values = Array.from({ length: 14 }, (_, i) => `m${i}`);
    for (const value of values) {
      await producer.publish([{ topic, key: 'one-partition', value }]);
      await expect.poll(() => handled.includes(value), { timeout: 30_000, interval: 20 }).toBe(true);
    }
    await producer.disconnect();
    expect(handled).toEqual(values);
    expect(crashes).toEqual([]);
    expect(joins).toBe(1);
    // Each failure followed a success of its partition: the first wait each time, not a growing one.
    expect(retries).toEqual(values.map(() => REDO_FIRST_MS));
    expect(consumer.ready).toBe(true);
    await consumer.stop();
  }, 180_000);
});
