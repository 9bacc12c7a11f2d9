import './kafkajs-fast-paths.js'; // before kafkajs: it replaces two of kafkajs's internals as they load
import { Partitioners, type Producer } from 'kafkajs';
import type { OutgoingMessage } from './messages.js';

/** A produce request's values at most: a broker refuses a record batch over its message.max.bytes (1 MiB by default). */
export const MAX_PRODUCE_REQUEST_BYTES = 512 * 1024;

/**
 * The messages, in order, in produce requests of at most `maxBytes` of values each (a message larger
 * than that goes alone, and the broker answers for it).
 */
export function produceRequests<M extends Pick<OutgoingMessage, 'value'>>(
  messages: Iterable<M>,
  maxBytes = MAX_PRODUCE_REQUEST_BYTES,
): M[][] {
  const out: M[][] = [];
  let current: M[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = m.value.length;
    if (bytes > 0 && bytes + size > maxBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length) out.push(current);
  return out;
}

/** Acknowledgement by every in-sync replica: a publish that resolves has been stored. */
const ALL_REPLICAS = -1;

/**
 * A connected producer. `publish` sends messages of any topics as one produce request per call,
 * in order per topic, and resolves once every in-sync replica has them.
 */
export class MessageProducer {
  constructor(private readonly producer: Producer) {}

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const byTopic = new Map<string, Array<Omit<OutgoingMessage, 'topic'>>>();
    for (const { topic, ...message } of messages) {
      const list = byTopic.get(topic);
      if (list) list.push(message);
      else byTopic.set(topic, [message]);
    }
    await this.producer.sendBatch({
      acks: ALL_REPLICAS,
      topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })),
    });
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

export interface ProducerOptions {
  /**
   * Idempotent (the default): retries never duplicate or reorder a message, at the cost of one
   * request in flight per broker. Off only for one-shot tools.
   */
  idempotent?: boolean;
}

export function producerConfig(options: ProducerOptions) {
  const idempotent = options.idempotent ?? true;
  return {
    idempotent,
    ...(idempotent ? { maxInFlightRequests: 1 } : {}),
    allowAutoTopicCreation: false,
    // kafkajs's default since v2, named so it does not warn on every start.
    createPartitioner: Partitioners.DefaultPartitioner,
  };
}
