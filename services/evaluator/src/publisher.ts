import type { MessageProducer } from '@stepgate/messaging';
import type { BatchMessages } from './batch-messages.js';
import { Coalescer } from '@stepgate/runtime';

/**
 * Publishes the message batches of concurrently processed batches. The idempotent producer keeps one
 * request in flight per broker, so batches of different partitions finishing together would each
 * wait for the others' acknowledgements in turn; instead, what arrives while a send is in flight
 * goes out together in the next one. With none in flight, a send starts after the current
 * event-loop turn with every batch submitted in it. Each batch's messages stay together and in order.
 */
export class Publisher {
  private readonly sends: Coalescer<BatchMessages, void>;

  constructor(producer: () => MessageProducer) {
    this.sends = new Coalescer<BatchMessages, void>(async (group) => {
      const merged = group[0]!;
      for (const messages of group.slice(1)) merged.absorb(messages);
      for (const chunk of merged.chunks()) await producer().publish(chunk);
      return group.map(() => undefined);
    });
  }

  publish(messages: BatchMessages): Promise<void> {
    if (messages.size === 0) return Promise.resolve();
    return this.sends.submit(messages);
  }
}
