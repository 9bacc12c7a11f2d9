import './kafkajs-fast-paths.js'; // before kafkajs: it replaces two of kafkajs's internals as they load
import { Kafka, logLevel } from 'kafkajs';
import { TopicAdmin } from './admin.js';
import {
  batchConsumer,
  messageConsumer,
  type BatchConsumerOptions,
  type GroupConsumer,
  type MessageConsumerOptions,
} from './consumer.js';
import { MessageProducer, producerConfig, type ProducerOptions } from './producer.js';
import { kafkajsSecurity, type KafkaSettings } from './settings.js';

export interface ConnectionOptions {
  /** For probes: fail fast instead of retrying (health checks). */
  failFast?: boolean;
}

/** A process's way to Kafka: producers, consumers and admin clients, all from one KafkaSettings. */
export class KafkaConnection {
  private readonly kafka: Kafka;

  constructor(settings: KafkaSettings, options: ConnectionOptions = {}) {
    this.kafka = new Kafka({
      clientId: settings.clientId,
      brokers: settings.brokers,
      ...kafkajsSecurity(settings),
      logLevel: options.failFast ? logLevel.NOTHING : logLevel.WARN,
      ...(options.failFast ? { connectionTimeout: 1500, requestTimeout: 3000, retry: { retries: 0 } } : {}),
    });
  }

  async producer(options: ProducerOptions = {}): Promise<MessageProducer> {
    const producer = this.kafka.producer(producerConfig(options));
    await producer.connect();
    return new MessageProducer(producer);
  }

  /** A member of `groupId` that processes fetched batches itself and commits offsets through `batch.commit()`. */
  batchConsumer(options: Omit<BatchConsumerOptions, 'fromNow'> & { fromNow?: boolean }): GroupConsumer {
    return batchConsumer((config) => this.kafka.consumer(config), this.withEnds(options));
  }

  /**
   * A member of `groupId` that handles one message at a time, each committed once handled (through
   * the same committer as `batchConsumer`); a failed message is fetched again after a pause.
   */
  messageConsumer(options: Omit<MessageConsumerOptions, 'fromNow'> & { fromNow?: boolean }): GroupConsumer {
    return messageConsumer((config) => this.kafka.consumer(config), this.withEnds(options));
  }

  /** `fromNow: true` becomes a way to read each partition's end as of the consumer's start. */
  private withEnds<O extends { fromNow?: boolean }>(options: O) {
    const { fromNow, ...rest } = options;
    return {
      ...rest,
      ...(fromNow ? { fromNow: { ends: (topic: string) => this.withAdmin((a) => a.topicEnds(topic)) } } : {}),
    };
  }

  /** Runs fn with a connected admin client, disconnected afterwards. */
  async withAdmin<T>(fn: (admin: TopicAdmin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      return await fn(new TopicAdmin(admin));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** A connected admin client kept open (close it with the returned function). */
  async openAdmin(): Promise<{ admin: TopicAdmin; close: () => Promise<void> }> {
    const admin = this.kafka.admin();
    await admin.connect();
    return { admin: new TopicAdmin(admin), close: () => admin.disconnect() };
  }
}
