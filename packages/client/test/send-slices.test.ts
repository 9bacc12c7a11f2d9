import { describe, expect, it } from 'vitest';
import { MAX_SEND_BYTES, sendable } from '../src/send-slices.js';

const queued = (...sizes: number[]) => sizes.map((n) => ({ message: { value: Buffer.alloc(n) } }));

describe('what one produce request takes of the queued sends', () => {
  it('everything while it fits', () => {
    expect(sendable(queued(1_000, 2_000, 3_000))).toBe(3);
    expect(sendable([])).toBe(0);
  });

  it('stops before the message that would take it past the bound', () => {
    const half = MAX_SEND_BYTES / 2;
    expect(sendable(queued(half, half, 1, half))).toBe(2);
  });

  it('one message at least, however large (the broker then answers for it alone)', () => {
    expect(sendable(queued(MAX_SEND_BYTES * 3, 10))).toBe(1);
  });
});
