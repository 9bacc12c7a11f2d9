import { describe, expect, it } from 'vitest';
import { topicsFor } from '@stepgate/contracts';
import { BatchMessages } from '../src/batch-messages.js';

describe('batch messages', () => {
  it('splits a batch into produce requests under the byte limit, keeping every message once and in order', () => {
    const outbox = new BatchMessages(topicsFor('t.'));
    for (let i = 0; i < 100; i++) outbox.add('gate.decisions', `k${i}`, { i, pad: 'x'.repeat(1000) });
    outbox.add('audit', 'acme', { a: 1 });
    const chunks = outbox.chunks(20_000);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      const bytes = chunk.reduce((n, m) => n + m.value.length, 0);
      expect(bytes).toBeLessThanOrEqual(20_000);
    }
    const decisions = chunks.flat().filter((m) => m.topic === 't.gate.decisions');
    expect(decisions.map((m) => m.key)).toEqual(Array.from({ length: 100 }, (_, i) => `k${i}`));
    expect(chunks.flat().filter((m) => m.topic === 't.audit')).toHaveLength(1);
    expect(outbox.size).toBe(101);
  });

  it('a single message larger than the limit still goes, alone', () => {
    const outbox = new BatchMessages(topicsFor('t.'));
    outbox.add('dlq', null, Buffer.alloc(50_000));
    outbox.add('dlq', null, Buffer.alloc(10));
    expect(outbox.chunks(20_000).map((c) => c.length)).toEqual([1, 1]);
  });
});
