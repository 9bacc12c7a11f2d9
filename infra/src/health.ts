import { KafkaConnection, type KafkaSecurity } from '@stepgate/messaging';
import type { PostgresSsl } from '@stepgate/runtime';
import pg from 'pg';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Endpoints } from './endpoints.js';

export type ServiceName = 'kafka' | 'temporal' | 'postgres';
export const SERVICE_NAMES: readonly ServiceName[] = ['postgres', 'kafka', 'temporal'];

export class ServiceUnhealthyError extends Error {
  constructor(
    readonly service: ServiceName,
    readonly endpoint: string,
    override readonly cause: unknown,
  ) {
    super(`${service} at ${endpoint} did not answer: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ServiceUnhealthyError';
  }
}

/** Kafka: a metadata round trip (describeCluster) through a real client. */
export async function checkKafka(brokers: string[], security: KafkaSecurity = {}): Promise<string> {
  const kafka = new KafkaConnection({ clientId: 'stepgate-health', brokers, ...security }, { failFast: true });
  const cluster = await kafka.withAdmin((admin) => admin.describeCluster());
  return `cluster ${cluster.clusterId}, ${cluster.brokers} broker(s), controller ${cluster.controller}`;
}

/** Temporal: the gRPC health service must report WorkflowService as SERVING. */
export async function checkTemporal(address: string, tls: Endpoints['temporalTls'] = {}): Promise<string> {
  const connection = await Connection.connect({ ...tls, address, connectTimeout: 3000 });
  try {
    const health = await connection.healthService.check({ service: 'temporal.api.workflowservice.v1.WorkflowService' });
    if (health.status !== proto.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING)
      throw new Error(`WorkflowService status ${String(health.status)}`);
    const info = await connection.workflowService.getSystemInfo({});
    return `server ${info.serverVersion}`;
  } finally {
    await connection.close();
  }
}

/** Postgres: `select 1` on the stepgate database. */
export async function checkPostgres(databaseUrl: string, ssl: PostgresSsl = false): Promise<string> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: 3000,
    ...(ssl ? { ssl } : {}),
  });
  try {
    await client.connect();
    const { rows } = await client.query<{ version: string }>('select version() as version');
    return rows[0]?.version.split(' ').slice(0, 2).join(' ') ?? 'answered';
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function checkService(service: ServiceName, endpoints: Endpoints): Promise<string> {
  const endpoint = {
    kafka: endpoints.kafkaBrokers.join(','),
    temporal: endpoints.temporalAddress,
    postgres: endpoints.databaseUrl.replace(/:[^:@/]*@/, ':***@'),
  }[service];
  try {
    switch (service) {
      case 'kafka':
        return await checkKafka(endpoints.kafkaBrokers, endpoints.kafkaSecurity);
      case 'temporal':
        return await checkTemporal(endpoints.temporalAddress, endpoints.temporalTls);
      case 'postgres':
        return await checkPostgres(endpoints.databaseUrl, endpoints.databaseSsl);
    }
  } catch (err) {
    throw new ServiceUnhealthyError(service, endpoint, err);
  }
}
