/**
 * Vitest globalSetup for integration tests: resolves the three real services, per service, in order:
 *   1. the endpoint named by KAFKA_BROKERS / TEMPORAL_ADDRESS / DATABASE_URL;
 *   2. a testcontainers container, when a container runtime answers;
 *   3. the native infra/local stack (started if it is not running).
 * It never lets a test run against a missing service: it fails with one message naming what is missing.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { checkService, DEFAULT_ENDPOINTS, type Endpoints, type ServiceName } from '@stepgate/infra';
import { startContainers, type StartedContainers } from './containers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENV_OF: Record<ServiceName, 'KAFKA_BROKERS' | 'TEMPORAL_ADDRESS' | 'DATABASE_URL'> = {
  kafka: 'KAFKA_BROKERS',
  temporal: 'TEMPORAL_ADDRESS',
  postgres: 'DATABASE_URL',
};

async function containerRuntimeAnswers(): Promise<boolean> {
  if (process.env.STEPGATE_NO_CONTAINERS === '1') return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

function startNative(services: ServiceName[]): void {
  const run = spawnSync('bash', ['infra/local/stack.sh', 'up', ...services], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: process.env,
  });
  if (run.status !== 0) {
    throw new Error(
      `stepgate's integration tests need ${services.join(', ')}: none of ${services.map((s) => ENV_OF[s]).join(', ')} is set, ` +
        `no container runtime answers, and the native stack (infra/local/stack.sh up) failed with exit ${String(run.status)} — its output is above.`,
    );
  }
}

let containers: StartedContainers | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const endpoints: Endpoints = {
    kafkaBrokers: process.env.KAFKA_BROKERS?.split(',') ?? [],
    temporalAddress: process.env.TEMPORAL_ADDRESS ?? '',
    databaseUrl: process.env.DATABASE_URL ?? '',
  };
  const missing = (Object.keys(ENV_OF) as ServiceName[]).filter((s) => !process.env[ENV_OF[s]]);

  if (missing.length > 0 && (await containerRuntimeAnswers())) {
    containers = await startContainers(missing);
    Object.assign(endpoints, containers.endpoints);
  } else if (missing.length > 0) {
    startNative(missing);
    if (!process.env.KAFKA_BROKERS) endpoints.kafkaBrokers = DEFAULT_ENDPOINTS.KAFKA_BROKERS.split(',');
    if (!process.env.TEMPORAL_ADDRESS) endpoints.temporalAddress = DEFAULT_ENDPOINTS.TEMPORAL_ADDRESS;
    if (!process.env.DATABASE_URL) endpoints.databaseUrl = DEFAULT_ENDPOINTS.DATABASE_URL;
  }

  const failures: string[] = [];
  for (const service of Object.keys(ENV_OF) as ServiceName[]) {
    try {
      await checkService(service, endpoints);
    } catch (err) {
      failures.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (failures.length)
    throw new Error(`stepgate's integration tests cannot reach their services:\n  ${failures.join('\n  ')}`);

  project.provide('endpoints', endpoints);
  return async () => {
    await containers?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: Endpoints;
  }
}
