import kafkajs from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keptAlive, throttledHeartbeat } from '../src/consumer.js';

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

describe('keptAlive', () => {
  afterEach(() => vi.useRealTimers());

  it('beats every half interval while the work runs (kafkajs sends one per interval), and stops when it ends', async () => {
    vi.useFakeTimers();
    let beats = 0;
    let finish!: (v: string) => void;
    const done = keptAlive(
      { beat: async () => void beats++, intervalMs: 1_000 },
      () => new Promise<string>((resolve) => (finish = resolve)),
    );
    await vi.advanceTimersByTimeAsync(15_250); // one awaited statement longer than a 10 s session
    expect(beats).toBe(30);
    finish('decided');
    await expect(done).resolves.toBe('decided');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(beats).toBe(30);
  });

  it('stops beating past its limit, so a stuck handler still loses its partitions', async () => {
    vi.useFakeTimers();
    let beats = 0;
    void keptAlive(
      { beat: async () => void beats++, intervalMs: 1_000, limitMs: 5_000 },
      () => new Promise(() => undefined),
    );
    await vi.advanceTimersByTimeAsync(60_000);
    expect(beats).toBe(10);
  });

  it("drops a failed timer beat; a lost membership comes back at the handler's own next beat", async () => {
    vi.useFakeTimers();
    const lost = protocol('REBALANCE_IN_PROGRESS', 27);
    const beat = throttledHeartbeat(async () => {
      throw lost;
    }, 1_000);
    const done = keptAlive({ beat, intervalMs: 1_000 }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      await beat();
    });
    const outcome = expect(done).rejects.toBe(lost);
    await vi.advanceTimersByTimeAsync(3_000);
    await outcome;
  });

  it('ends with the work failure, not a beat', async () => {
    const failure = new Error('statement failed');
    await expect(
      keptAlive({ beat: async () => undefined, intervalMs: 10 }, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
  });
});
