import { afterAll, describe, expect, it } from 'vitest';
import { KafkaConnection } from '@stepgate/messaging';
import { testNamespace } from '@stepgate/test';

const ns = testNamespace('consumer-restart');
afterAll(() => ns.cleanup());

describe('group consumers (real broker)', () => {
  it('a crash kafkajs will not recover from recreates the consumer; not ready meanwhile; nothing is lost', async () => {
    await ns.createTopics();
    const topic = ns.topics.dlq;
    const kafka = new KafkaConnection({ clientId: ns.id, brokers: ns.endpoints.kafkaBrokers });
    const handled: string[] = [];
    const readiness: boolean[] = [];
    let failures = 0;
    const consumer = kafka.batchConsumer({
      groupId: `${ns.groupPrefix}restart`,
      topics: [topic],
      maxWaitTimeInMs: 20,
      onCommitError: () => undefined,
      // A handler failure is redone in place unless onHandlerError throws: then kafkajs crashes the consumer.
      onHandlerError: (err) => {
        throw err;
      },
      onCrash: () => readiness.push(consumer.ready),
      handle: async (batch) => {
        for (const m of batch.messages) {
          // What a stack overflow in a handler looks like to kafkajs: not a Kafka error, not retriable.
          if (m.value?.toString() === 'poison' && failures++ === 0)
            throw new RangeError('Maximum call stack size exceeded');
          handled.push(m.value!.toString());
          batch.resolveOffset(m.offset);
        }
        batch.commit();
      },
    });
    await consumer.start();
    const producer = await kafka.producer();
    await producer.publish(['a', 'poison', 'b'].map((value) => ({ topic, key: 'one-partition', value })));
    await producer.disconnect();

    await expect.poll(() => handled.includes('b'), { timeout: 60_000 }).toBe(true);
    // At least once: what the crashed batch had handled before the failure comes again.
    expect(new Set(handled)).toEqual(new Set(['a', 'poison', 'b']));
    expect(handled.filter((v) => v === 'poison')).toEqual(['poison']);
    expect(consumer.restartCount).toBeGreaterThanOrEqual(1);
    expect(readiness[0]).toBe(false);
    await expect.poll(() => consumer.ready, { timeout: 30_000 }).toBe(true);
    await consumer.stop();
  });
});
