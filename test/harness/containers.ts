/** The same three services as docker-compose.yml, for hosts where a container runtime answers. */
import type { Endpoints, ServiceName } from '@stepgate/infra';

export const IMAGES = {
  kafka: 'apache/kafka:3.9.1',
  temporal: 'temporalio/temporal:1.5.1',
  postgres: 'postgres:15',
} as const;

export interface StartedContainers {
  endpoints: Partial<Endpoints>;
  stop(): Promise<void>;
}

export async function startContainers(services: ServiceName[]): Promise<StartedContainers> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const stops: Array<() => Promise<unknown>> = [];
  const endpoints: Partial<Endpoints> = {};

  if (services.includes('postgres')) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const pg = await new PostgreSqlContainer(IMAGES.postgres)
      .withDatabase('stepgate')
      .withUsername('stepgate')
      .withPassword('stepgate')
      .start();
    stops.push(() => pg.stop());
    endpoints.databaseUrl = pg.getConnectionUri();
  }
  if (services.includes('kafka')) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const kafka = await new KafkaContainer(IMAGES.kafka)
      .withEnvironment({ KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false', KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0' })
      .start();
    stops.push(() => kafka.stop());
    endpoints.kafkaBrokers = [`${kafka.getHost()}:${kafka.getMappedPort(9093)}`];
  }
  if (services.includes('temporal')) {
    const temporal = await new GenericContainer(IMAGES.temporal)
      .withEntrypoint(['temporal'])
      .withCommand([
        'server',
        'start-dev',
        '--headless',
        '--ip',
        '0.0.0.0',
        '--search-attribute',
        'StepgateTenant=Keyword',
        '--search-attribute',
        'StepgateApprovalStatus=Keyword',
        '--search-attribute',
        'StepgateGovernedWorkflow=Keyword',
      ])
      .withExposedPorts(7233)
      .withWaitStrategy(Wait.forListeningPorts())
      .start();
    stops.push(() => temporal.stop());
    endpoints.temporalAddress = `${temporal.getHost()}:${temporal.getMappedPort(7233)}`;
  }
  return {
    endpoints,
    stop: async () => {
      await Promise.allSettled(stops.map((stop) => stop()));
    },
  };
}
