import kafkajs from 'kafkajs';

// kafkajs is CommonJS and its error classes are not visible as named ES exports under Node's loader.
const { KafkaJSError } = kafkajs;

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
