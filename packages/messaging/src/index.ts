export { KafkaConnection, type ConnectionOptions } from './connection.js';
export type { KafkaSettings } from './settings.js';
export { MessageProducer, type ProducerOptions } from './producer.js';
export {
  GroupConsumer,
  type BatchConsumerOptions,
  type IncomingBatch,
  type MessageConsumerOptions,
  type MessageContext,
} from './consumer.js';
export { TopicAdmin, type EnsureTopicsOptions } from './admin.js';
export { OffsetCommitter } from './committer.js';
export { isRetriableKafkaError, retryRetriable } from './errors.js';
export {
  describeSource,
  type IncomingMessage,
  type MessageHeaders,
  type MessageSource,
  type OutgoingMessage,
} from './messages.js';
export { deadLetter, DLQ_HEADER, DLQ_LIMITS, type DeadLetter } from './dead-letter.js';
