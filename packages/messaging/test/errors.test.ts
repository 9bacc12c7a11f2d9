import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaUnreachable } from '../src/index.js';

const {
  Kafka,
  KafkaJSConnectionError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
} = kafkajs;

describe('kafkaUnreachable', () => {
  it('is true for a failed connection or a timed-out request, through the retry wrappers', () => {
    expect(kafkaUnreachable(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'))).toBe(true);
    const refused = new KafkaJSConnectionError('refused');
    expect(kafkaUnreachable(new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 300 }))).toBe(true);
    const timedOut = new KafkaJSRequestTimeoutError('Request ApiVersions(key: 18, version: 2) timed out');
    expect(kafkaUnreachable(new KafkaJSNumberOfRetriesExceeded(timedOut, { retryCount: 5, retryTime: 300 }))).toBe(
      true,
    );
  });

  it('is false for a refusal of what was sent, and for anything not from kafkajs', () => {
    const tooLarge = new KafkaJSProtocolError('MESSAGE_TOO_LARGE');
    expect(kafkaUnreachable(tooLarge)).toBe(false);
    expect(kafkaUnreachable(new KafkaJSNumberOfRetriesExceeded(tooLarge, { retryCount: 5, retryTime: 300 }))).toBe(
      false,
    );
    expect(kafkaUnreachable(new Error('connection refused'))).toBe(false);
    expect(kafkaUnreachable(undefined)).toBe(false);
  });

  it('is true for what a producer throws when nothing listens at the broker address', async () => {
    const kafka = new Kafka({
      clientId: 'unreachable-test',
      brokers: ['127.0.0.1:1'],
      connectionTimeout: 200,
      retry: { retries: 0 },
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const producer = kafka.producer();
    const failure = await producer.connect().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeDefined();
    expect(kafkaUnreachable(failure)).toBe(true);
  });
});
