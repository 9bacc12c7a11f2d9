export { kafkajsFastPaths, type KafkajsFastPaths } from './kafkajs-fast-paths.js';
export { KafkaConnection, type ConnectionOptions } from './connection.js';
export {
  kafkajsSecurity,
  type KafkaSasl,
  type KafkaSecurity,
  type KafkaSettings,
  type KafkaTls,
  type SaslMechanism,
} from './settings.js';
export { MAX_PRODUCE_REQUEST_BYTES, MessageProducer, produceRequests, type ProducerOptions } from './producer.js';
export {
  GroupConsumer,
  REDO_FIRST_MS,
  REDO_MAX_MS,
  type BatchConsumerOptions,
  type ConsumerCommon,
  type FailedBatch,
  type IncomingBatch,
  type MessageConsumerOptions,
  type MessageContext,
} from './consumer.js';
export { TopicAdmin, topicCreation, type EnsureTopicsOptions } from './admin.js';
export type { AclGrant } from './acls.js';
export { OffsetCommitter } from './committer.js';
export {
  groupMembershipLost,
  isRetriableKafkaError,
  kafkaRefusal,
  kafkaUnreachable,
  MessageAbandoned,
  retryRetriable,
  type KafkaRefusal,
} from './errors.js';
export {
  describeSource,
  header,
  type IncomingMessage,
  type MessageHeaders,
  type ReceivedHeaders,
  type MessageSource,
  type OutgoingMessage,
} from './messages.js';
export { deadLetter, DLQ_HEADER, DLQ_LIMITS, type DeadLetter } from './dead-letter.js';
