import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaConnection, REDO_FIRST_MS } from '@stepgate/messaging';
import { testNamespace } from '@stepgate/test';

const ns = testNamespace('consumer-handler-errors');
beforeAll(() => ns.createTopics());
afterAll(() => ns.cleanup());

describe('a batch handler that fails is tried again after a pause of its partition (real broker)', () => {
  it('failures over a member’s life (a redo each, spread over many good batches) never crash the consumer; each message is handled once it succeeds, in order', async () => {
    const topic = ns.topics.dlq;
    const kafka = new KafkaConnection({ clientId: ns.id, brokers: ns.endpoints.kafkaBrokers });
    const attempts = new Map<string, number>();
    const handled: string[] = [];
    const crashes: Error[] = [];
    const retries: number[] = [];
    const consumer = kafka.batchConsumer({
      groupId: `${ns.groupPrefix}handler-errors`,
      topics: [topic],
      maxWaitTimeInMs: 20,
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
    // At least once: a rejoin (topics of parallel tests churn the broker's metadata) may hand a
    // message over again; each is handled, in order, once its first failure is past.
    expect([...new Set(handled)]).toEqual(values);
    expect(crashes).toEqual([]);
    expect(consumer.restartCount).toBe(0);
    // Each failure followed a success of its partition: the first pause each time, not a growing one.
    expect(retries.length).toBeGreaterThanOrEqual(values.length);
    expect(new Set(retries)).toEqual(new Set([REDO_FIRST_MS]));
    expect(consumer.ready).toBe(true);
    await consumer.stop();
  }, 180_000);

  it('a partition whose batches keep failing does not hold the others: they are fetched and handled while it is paused', async () => {
    const topic = ns.topics.dlq;
    const kafka = new KafkaConnection({ clientId: `${ns.id}-2`, brokers: ns.endpoints.kafkaBrokers });
    let stuck = true;
    const failures: number[] = [];
    const handledAt = new Map<string, { at: number; partition: number }>();
    let stuckPartition = -1;
    const consumer = kafka.batchConsumer({
      groupId: `${ns.groupPrefix}handler-errors-2`,
      topics: [topic],
      maxWaitTimeInMs: 20,
      fromNow: true,
      partitionsConcurrently: 12,
      onCommitError: () => undefined,
      onHandlerError: (_err, failed) => failures.push(failed.retryInMs),
      handle: async (batch) => {
        for (const m of batch.messages) {
          const value = m.value!.toString();
          if (value === 'stuck' && stuck) {
            stuckPartition = batch.partition;
            throw new Error('this partition keeps failing');
          }
          handledAt.set(value, { at: Date.now(), partition: batch.partition });
          batch.resolveOffset(m.offset);
        }
        batch.commit();
      },
    });
    await consumer.start();
    const producer = await kafka.producer();
    await producer.publish([{ topic, key: 'stuck-key', value: 'stuck' }]);
    // Paused for 2 s, then 4 s: the others must not wait for that.
    await expect
      .poll(() => failures.length, { timeout: 30_000, interval: 20, message: 'the stuck partition fails 5 times' })
      .toBeGreaterThanOrEqual(5);
    const others = Array.from({ length: 8 }, (_, i) => `other-${i}`);
    await producer.publish(others.map((value) => ({ topic, key: `${value}-key`, value })));
    // Those on other partitions are handled well within the stuck one's pause (a sleeping handler held
    // its broker's fetcher, so they waited for it); those behind it wait for it.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const early = others.filter((v) => handledAt.has(v));
    expect(early.length).toBeGreaterThan(0);
    for (const v of early) expect(handledAt.get(v)!.partition).not.toBe(stuckPartition);
    stuck = false;
    await expect
      .poll(() => ['stuck', ...others].filter((v) => !handledAt.has(v)), { timeout: 30_000, interval: 20 })
      .toEqual([]);
    await producer.disconnect();
    await consumer.stop();
  }, 180_000);
});

describe('a message handler that fails is tried again from that message after a pause (real broker)', () => {
  it('fourteen failures (the approvals intake meeting a broker that refuses its dlq write, say) never crash the consumer; messages before the failed one are not handled again, and every message is handled in order', async () => {
    const topic = ns.topics.dlq;
    const kafka = new KafkaConnection({ clientId: `${ns.id}-3`, brokers: ns.endpoints.kafkaBrokers });
    const attempts = new Map<string, number>();
    const handled: string[] = [];
    const crashes: Error[] = [];
    const retries: number[] = [];
    const consumer = kafka.messageConsumer({
      groupId: `${ns.groupPrefix}message-handler-errors`,
      topics: [topic],
      maxWaitTimeInMs: 20,
      fromNow: true,
      onCrash: (error) => crashes.push(error),
      onCommitError: () => undefined,
      onHandlerError: (_err, failed) => retries.push(failed.retryInMs),
      handle: async (message) => {
        const value = message.value!.toString();
        const attempt = (attempts.get(value) ?? 0) + 1;
        attempts.set(value, attempt);
        if (attempt === 1 && value.startsWith('fails-')) throw new Error(`first delivery of ${value} fails`);
        handled.push(value);
      },
    });
    await consumer.start();
    const producer = await kafka.producer();
    const values = Array.from({ length: 14 }, (_, i) => [`ok-${i}`, `fails-${i}`]).flat();
    // Both of a pair in one batch: the one before the failure is resolved, not handled again.
    for (let i = 0; i < values.length; i += 2) {
      await producer.publish(values.slice(i, i + 2).map((value) => ({ topic, key: 'one-partition', value })));
      await expect.poll(() => handled.includes(values[i + 1]!), { timeout: 30_000, interval: 20 }).toBe(true);
    }
    await producer.disconnect();
    expect([...new Set(handled)]).toEqual(values);
    // At least once across a rejoin only (topics of parallel tests churn the broker's metadata).
    const handledTwice = values.filter((v) => v.startsWith('ok-') && attempts.get(v)! > 1);
    expect(handledTwice.length).toBeLessThanOrEqual(2);
    expect(crashes).toEqual([]);
    expect(consumer.restartCount).toBe(0);
    expect(retries.length).toBeGreaterThanOrEqual(14);
    expect(new Set(retries)).toEqual(new Set([REDO_FIRST_MS]));
    await consumer.stop();
  }, 180_000);
});
