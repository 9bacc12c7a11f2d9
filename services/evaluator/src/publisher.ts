import type { MessageProducer } from '@stepgate/messaging';
import type { BatchMessages } from './batch-messages.js';

interface Waiting {
  messages: BatchMessages;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Publishes the message batches of concurrently processed batches. The idempotent producer keeps one
 * request in flight per broker, so batches of different partitions finishing together would each
 * wait for the others' acknowledgements in turn; instead, what arrives while a send is in flight
 * goes out together in the next one. A send starts at once when none is in flight, so a lone
 * batch waits for nothing. Each batch's messages stay together and in order.
 */
export class Publisher {
  private waiting: Waiting[] = [];
  private sending = false;

  constructor(private readonly producer: () => MessageProducer) {}

  publish(messages: BatchMessages): Promise<void> {
    if (messages.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiting.push({ messages, resolve, reject });
      if (!this.sending) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    while (this.waiting.length) {
      const group = this.waiting;
      this.waiting = [];
      const merged = group[0]!.messages;
      for (const w of group.slice(1)) merged.absorb(w.messages);
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
