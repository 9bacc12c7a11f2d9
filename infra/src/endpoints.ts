/** Where the three real services are. The same variables drive infra/local, the services and the tests. */
export interface Endpoints {
  kafkaBrokers: string[];
  temporalAddress: string;
  databaseUrl: string;
}

export const DEFAULT_ENDPOINTS = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
  DATABASE_URL: 'postgres://stepgate:stepgate@127.0.0.1:5433/stepgate',
} as const;

export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoints {
  return {
    kafkaBrokers: (env.KAFKA_BROKERS ?? DEFAULT_ENDPOINTS.KAFKA_BROKERS)
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    temporalAddress: env.TEMPORAL_ADDRESS ?? DEFAULT_ENDPOINTS.TEMPORAL_ADDRESS,
    databaseUrl: env.DATABASE_URL ?? DEFAULT_ENDPOINTS.DATABASE_URL,
  };
}
