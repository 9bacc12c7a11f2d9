import './kafkajs-fast-paths.js'; // before kafkajs: it replaces two of kafkajs's internals as they load
import { Partitioners, type Producer } from 'kafkajs';
import type { OutgoingMessage } from './messages.js';

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
