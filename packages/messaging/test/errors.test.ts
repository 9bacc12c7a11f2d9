import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { groupMembershipLost, kafkaUnreachable } from '../src/index.js';

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

describe('groupMembershipLost', () => {
  // As kafkajs makes them from a response's error code (protocol/error.js createErrorFromCode).
  const protocol = (type: string, code: number) =>
    new KafkaJSProtocolError(
      Object.assign(new Error(`the coordinator answered ${type}`), { type, code, retriable: false }),
    );

  it("is true for the coordinator's answers that take the member's partitions, by the protocol's code", () => {
    expect(groupMembershipLost(protocol('UNKNOWN_MEMBER_ID', 25))).toBe(true);
    expect(groupMembershipLost(protocol('REBALANCE_IN_PROGRESS', 27))).toBe(true);
    expect(groupMembershipLost(protocol('ILLEGAL_GENERATION', 22))).toBe(true);
    // As kafkajs's retrier wraps an error it gave up retrying.
    const lost = protocol('UNKNOWN_MEMBER_ID', 25);
    expect(groupMembershipLost(new KafkaJSNumberOfRetriesExceeded(lost, { retryCount: 5, retryTime: 300 }))).toBe(true);
  });

  it('is false for what the next beat may get past, and for anything not from kafkajs', () => {
    expect(groupMembershipLost(protocol('NOT_COORDINATOR', 16))).toBe(false);
    expect(
      groupMembershipLost(new KafkaJSRequestTimeoutError('Request Heartbeat(key: 12, version: 3) timed out')),
    ).toBe(false);
    expect(groupMembershipLost(new Error('UNKNOWN_MEMBER_ID'))).toBe(false);
  });
});
