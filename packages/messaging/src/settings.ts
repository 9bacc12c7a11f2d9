import { z } from 'zod';

/**
 * How a process reaches Kafka. Every Kafka client of stepgate is built from one of these, so transport
 * security (TLS, SASL) is added here once for services, clients, the CLI and tools alike.
 */
export interface KafkaSettings {
  brokers: string[];
  clientId: string;
}

const brokerList = z
  .string()
  .trim()
  .min(1)
  .transform((s) => s.split(',').map((b) => b.trim()))
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1));

/** The environment variables behind KafkaSettings; `KAFKA_BROKERS` is a comma-separated host:port list. */
export const KafkaEnvSchema = z.object({
  KAFKA_BROKERS: brokerList.default(['127.0.0.1:9092']),
});

export function kafkaSettingsFromEnv(clientId: string, env: NodeJS.ProcessEnv = process.env): KafkaSettings {
  const parsed = KafkaEnvSchema.parse({ KAFKA_BROKERS: env.KAFKA_BROKERS });
  return { brokers: parsed.KAFKA_BROKERS, clientId };
}
