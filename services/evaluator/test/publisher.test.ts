import { describe, expect, it } from 'vitest';
import type { MessageProducer, OutgoingMessage } from '@stepgate/messaging';
import { topicsFor } from '@stepgate/contracts';
import { BatchMessages } from '../src/batch-messages.js';
import { Publisher } from '../src/publisher.js';

/** A producer whose sends complete when the test says so. */
function fakeProducer() {
  const sends: OutgoingMessage[][] = [];
  const pending: Array<(err?: Error) => void> = [];
  const producer = {
    publish: (messages: OutgoingMessage[]) => {
      sends.push(messages);
      return new Promise<void>((resolve, reject) => pending.push((err) => (err ? reject(err) : resolve())));
    },
  } as unknown as MessageProducer;
  return { producer, sends, pending };
}

const batchOf = (...keys: string[]) => {
  const o = new BatchMessages(topicsFor('t.'));
  for (const k of keys) o.add('gate.decisions', k, { k });
  return o;
};
const tick = () => new Promise((r) => setImmediate(r));

describe('publisher', () => {
  it('sends what arrives in one event-loop turn together, and what arrives meanwhile in the next request, each batch in order', async () => {
    const p = fakeProducer();
    const publisher = new Publisher(() => p.producer);
    const first = publisher.publish(batchOf('a1', 'a2'));
    const alongside = publisher.publish(batchOf('z1'));
    expect(p.sends).toHaveLength(0);
    await tick();
    expect(p.sends).toEqual([
      [
        expect.objectContaining({ key: 'a1' }),
        expect.objectContaining({ key: 'a2' }),
        expect.objectContaining({ key: 'z1' }),
      ],
    ]);
    let secondDone = false;
    const second = publisher.publish(batchOf('b1', 'b2')).then(() => (secondDone = true));
    const third = publisher.publish(batchOf('c1'));
    expect(p.sends).toHaveLength(1);
    p.pending.shift()!();
    await Promise.all([first, alongside]);
    await tick();
    expect(p.sends).toHaveLength(2);
    expect(p.sends[1]!.map((m) => m.key)).toEqual(['b1', 'b2', 'c1']);
    expect(secondDone).toBe(false);
    p.pending.shift()!();
    await Promise.all([second, third]);
  });

  it('fails every batch of a failed request, and the next publish sends again', async () => {
    const p = fakeProducer();
    const publisher = new Publisher(() => p.producer);
    const first = publisher.publish(batchOf('a'));
    await tick();
    p.pending.shift()!(new Error('broker unavailable'));
    await expect(first).rejects.toThrow('broker unavailable');
    const again = publisher.publish(batchOf('b'));
    await tick();
    p.pending.shift()!();
    await again;
    expect(p.sends).toHaveLength(2);
  });

  it('publishes nothing for an empty batch', async () => {
    const p = fakeProducer();
    await new Publisher(() => p.producer).publish(new BatchMessages(topicsFor('t.')));
    expect(p.sends).toHaveLength(0);
  });
});
