import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { throttledHeartbeat } from '../src/consumer.js';

// As kafkajs makes them from the coordinator's answer (protocol/error.js createErrorFromCode).
const protocol = (type: string, code: number) =>
  new kafkajs.KafkaJSProtocolError(
    Object.assign(new Error(`the coordinator answered ${type}`), { type, code, retriable: false }),
  );

describe('throttledHeartbeat', () => {
  it('answers calls within the interval after a beat said the membership is lost with that failure, without a request, then tries again', async () => {
    let clock = 0;
    let requests = 0;
    let membershipLost = true;
    const lost = protocol('UNKNOWN_MEMBER_ID', 25);
    const beat = throttledHeartbeat(
      async () => {
        requests++;
        if (membershipLost) throw lost;
      },
      1_000,
      () => clock,
    );
    for (let i = 0; i < 1_000; i++) await expect(beat()).rejects.toBe(lost);
    expect(requests).toBe(1);
    clock = 999;
    await expect(beat()).rejects.toBe(lost);
    expect(requests).toBe(1);
    clock = 1_000;
    membershipLost = false;
    await beat();
    await beat();
    expect(requests).toBe(3); // a successful beat is throttled by kafkajs itself, not here
  });

  it('keeps no transient failure: the next call beats again', async () => {
    let requests = 0;
    const timedOut = new kafkajs.KafkaJSRequestTimeoutError('Request Heartbeat(key: 12, version: 3) timed out');
    const beat = throttledHeartbeat(
      async () => {
        if (++requests === 1) throw timedOut;
      },
      1_000,
      () => 0,
    );
    await expect(beat()).rejects.toBe(timedOut);
    await beat();
    expect(requests).toBe(2);
  });
});
