import { afterAll, describe, expect, it } from 'vitest';
import { KafkaConnection } from '@stepgate/messaging';
import { testNamespace } from '@stepgate/test';

const ns = testNamespace('consumer-keepalive');
afterAll(() => ns.cleanup());

describe('group consumers keep their membership while a handler waits (real broker)', () => {
  it('a handler awaiting longer than the session timeout, without beating, keeps its partitions: no rejoin, no redelivery', async () => {
    await ns.createTopics();
    const topic = ns.topics.dlq;
    const kafka = new KafkaConnection({ clientId: ns.id, brokers: ns.endpoints.kafkaBrokers });
    const handled: string[] = [];
    let joins = 0;
    /** Joins when the first wait began: the group may rejoin once at start-up on a loaded host (the topics were just made, their leaders still moving), never during the waits. */
    let joinsBeforeWaits: number | undefined;
    const consumer = kafka.batchConsumer({
      groupId: `${ns.groupPrefix}keepalive`,
      topics: [topic],
      maxWaitTimeInMs: 20,
      // Longer than the services' 6 s in tests: a loaded CI host stalled a member past 6 s (joined 6 times).
      sessionTimeoutMs: 10_000,
      onGroupJoin: () => joins++,
      onCommitError: () => undefined,
      onHandlerError: () => undefined,
      handle: async (batch) => {
        for (const m of batch.messages) {
          handled.push(m.value!.toString());
          joinsBeforeWaits ??= joins;
          // One awaited statement well past the session (as a decide statement at its timeout).
          await new Promise((resolve) => setTimeout(resolve, 18_000));
          batch.resolveOffset(m.offset);
        }
        batch.commit();
      },
    });
    await consumer.start();
    const producer = await kafka.producer();
    await producer.publish([{ topic, key: 'one-partition', value: 'slow' }]);
    await producer.publish([{ topic, key: 'one-partition', value: 'next' }]);
    await producer.disconnect();

    await expect.poll(() => handled.includes('next'), { timeout: 60_000, interval: 200 }).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 11_000)); // a redelivery, had the session lapsed
    expect(handled).toEqual(['slow', 'next']);
    expect(joinsBeforeWaits).toBeGreaterThanOrEqual(1);
    expect(joins).toBe(joinsBeforeWaits);
    expect(consumer.ready).toBe(true);
    await consumer.stop();
  }, 120_000);
});
