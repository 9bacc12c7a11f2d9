import type { KafkaSecurity } from '@stepgate/messaging';
import {
  KafkaSecurityEnvSchema,
  PostgresTlsEnvSchema,
  TemporalTlsEnvSchema,
  kafkaSecurity,
  postgresSsl,
  readSettings,
  temporalConnectionOptions,
  type PostgresSsl,
  type TemporalConnectionOptions,
} from '@stepgate/runtime';

/** Where the three real services are. The same variables drive infra/local, the services and the tests. */
export interface Endpoints {
  kafkaBrokers: string[];
  temporalAddress: string;
  databaseUrl: string;
  /** Transport security, when the services require it (secure mode); absent: plaintext. */
  kafkaSecurity?: KafkaSecurity;
  temporalTls?: Omit<TemporalConnectionOptions, 'address'>;
  databaseSsl?: PostgresSsl;
}

export const DEFAULT_ENDPOINTS = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
  DATABASE_URL: 'postgres://stepgate:stepgate@127.0.0.1:5433/stepgate',
} as const;

const TransportEnvSchema = KafkaSecurityEnvSchema.extend(PostgresTlsEnvSchema.shape).extend(TemporalTlsEnvSchema.shape);

export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoints {
  const transport = readSettings('infra', TransportEnvSchema, env);
  const temporalAddress = env.TEMPORAL_ADDRESS ?? DEFAULT_ENDPOINTS.TEMPORAL_ADDRESS;
  const { address: _address, ...temporalTls } = temporalConnectionOptions(temporalAddress, transport, 'infra');
  return {
    kafkaBrokers: (env.KAFKA_BROKERS ?? DEFAULT_ENDPOINTS.KAFKA_BROKERS)
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    temporalAddress,
    databaseUrl: env.DATABASE_URL ?? DEFAULT_ENDPOINTS.DATABASE_URL,
    kafkaSecurity: kafkaSecurity(transport, 'infra'),
    temporalTls,
    databaseSsl: postgresSsl(transport, 'infra'),
  };
}
