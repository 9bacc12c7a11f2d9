import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import type { Endpoints } from '@stepgate/infra';
import { kafkajsSecurity } from '@stepgate/messaging';

/** The bench's own Kafka client, with the endpoints' TLS and SASL (KAFKA_SSL*, KAFKA_SASL_*). */
export function benchKafka(clientId: string, endpoints: Endpoints): Kafka {
  return new Kafka({
    clientId,
    brokers: endpoints.kafkaBrokers,
    logLevel: logLevel.WARN,
    ...kafkajsSecurity(endpoints.kafkaSecurity ?? {}),
  });
}

/** A database client on the endpoints' database, with their TLS (DATABASE_SSLMODE, DATABASE_SSL_CA_FILE). */
export function benchDb(endpoints: Endpoints, options: pg.ClientConfig = {}): pg.Client {
  return new pg.Client({
    connectionString: endpoints.databaseUrl,
    ...(endpoints.databaseSsl ? { ssl: endpoints.databaseSsl } : {}),
    ...options,
  });
}
