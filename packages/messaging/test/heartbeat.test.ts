import { describe, expect, it } from 'vitest';
import { throttledHeartbeat } from '../src/consumer.js';

describe('throttledHeartbeat', () => {
  it('answers calls within the interval after a failed beat with that failure, without a request, then tries again', async () => {
    let clock = 0;
    let requests = 0;
    let membershipLost = true;
    const lost = new Error('The coordinator is not aware of this member');
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
});
