import './kafkajs-fast-paths.js'; // before kafkajs: it replaces two of kafkajs's internals as they load
import kafkajs from 'kafkajs';

// kafkajs is CommonJS and its error classes are not visible as named ES exports under Node's loader.
const {
  KafkaJSError,
  KafkaJSProtocolError,
  KafkaJSSASLAuthenticationError,
  KafkaJSConnectionError,
  KafkaJSRequestTimeoutError,
} = kafkajs;

/** Whether Kafka marks the error retriable (e.g. NOT_LEADER right after a topic was created). */
export function isRetriableKafkaError(err: unknown): boolean {
  return err instanceof KafkaJSError && err.retriable;
}

/**
 * Retries Kafka errors the protocol marks retriable, which kafkajs' admin calls surface instead of
 * retrying.
 */
export async function retryRetriable<T>(fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetriableKafkaError(err) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** i)));
    }
  }
}

/** How Kafka refused a client: the protocol's code, or what happened to the connection. */
export type KafkaRefusal =
  /** A protocol error code, e.g. TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED. */
  | { kind: 'protocol'; code: string }
  /** The broker rejected the SASL credentials (wrong user or password, unknown mechanism). */
  | { kind: 'sasl'; code: 'SASL_AUTHENTICATION_FAILED' }
  /** The connection failed or was closed by the broker (e.g. a client without TLS or SASL on a SASL_SSL listener). */
  | { kind: 'connection'; code: 'CONNECTION_ERROR' };

/**
 * The refusal inside a kafkajs error (through its retry and non-retriable wrappers), classified by the
 * error's type, never by its message; undefined for anything that is not a Kafka refusal.
 */
export function kafkaRefusal(err: unknown): KafkaRefusal | undefined {
  for (let e = err, depth = 0; e instanceof KafkaJSError && depth < 8; e = e.cause, depth++) {
    if (e instanceof KafkaJSSASLAuthenticationError) return { kind: 'sasl', code: 'SASL_AUTHENTICATION_FAILED' };
    if (e instanceof KafkaJSProtocolError && typeof e.type === 'string') return { kind: 'protocol', code: e.type };
    if (e instanceof KafkaJSConnectionError) return { kind: 'connection', code: 'CONNECTION_ERROR' };
  }
  return undefined;
}

/**
 * Whether the error (through kafkajs' retry and non-retriable wrappers) is the broker not being reached:
 * a connection that failed or a request that timed out (e.g. a broker still starting). An outage to wait
 * out, not a refusal of what was sent.
 */
export function kafkaUnreachable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof KafkaJSError && depth < 8; e = e.cause, depth++)
    if (e instanceof KafkaJSConnectionError || e instanceof KafkaJSRequestTimeoutError) return true;
  return false;
}

/** The group coordinator's answers that mean this member's assignment is gone: it must rejoin. */
const MEMBERSHIP_LOST = new Set([
  'REBALANCE_IN_PROGRESS',
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'FENCED_INSTANCE_ID',
]);

/**
 * Whether a heartbeat's failure says the member no longer holds its partitions (a rebalance, or the
 * coordinator having dropped it), as against a transient failure (a timeout, a moved coordinator)
 * that the next beat may get past.
 */
export function groupMembershipLost(err: unknown): boolean {
  const refusal = kafkaRefusal(err);
  return refusal?.kind === 'protocol' && MEMBERSHIP_LOST.has(refusal.code);
}

/**
 * Thrown by a per-message handler's `heartbeat` once its batch is no longer active (the consumer is
 * stopping, or lost the partition): the handler gives the message up, unresolved, and whoever has
 * the partition fetches it again. A handler that waits out an outage must let it through.
 */
export class MessageAbandoned extends Error {
  constructor() {
    super('the consumer is stopping or lost the partition: the message is left for redelivery');
    this.name = 'MessageAbandoned';
  }
}
