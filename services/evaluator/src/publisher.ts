import type { MessageProducer } from '@stepgate/messaging';
import type { Outbox } from './outbox.js';

interface Waiting {
  outbox: Outbox;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Publishes the outboxes of concurrently processed batches. The idempotent producer keeps one
 * request in flight per broker, so batches of different partitions finishing together would each
 * wait for the others' acknowledgements in turn; instead, what arrives while a send is in flight
 * goes out together in the next one. A send starts at once when none is in flight, so a lone
 * batch waits for nothing. Each batch's messages stay together and in order.
 */
export class Publisher {
  private waiting: Waiting[] = [];
  private sending = false;

  constructor(private readonly producer: () => MessageProducer) {}

  publish(outbox: Outbox): Promise<void> {
    if (outbox.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiting.push({ outbox, resolve, reject });
      if (!this.sending) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    while (this.waiting.length) {
      const group = this.waiting;
      this.waiting = [];
      const merged = group[0]!.outbox;
      for (const w of group.slice(1)) merged.absorb(w.outbox);
      try {
        for (const chunk of merged.chunks()) await this.producer().publish(chunk);
        for (const w of group) w.resolve();
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
    this.sending = false;
  }
}
