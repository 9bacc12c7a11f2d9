import pg from 'pg';
import type { ServiceEnv } from './env.js';

interface Log {
  error(obj: object, msg: string): void;
  info(msg: string): void;
}

export async function databaseAnswers(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query('select 1');
    return true;
  } catch {
    return false;
  }
}

/**
 * Holds a consumer's batch while Postgres does not answer: backs off up to 5 s, heartbeating so the
 * consumer keeps its partitions, and returns once a query succeeds again.
 */
export async function waitForDatabase(pool: pg.Pool, heartbeat: () => Promise<void>, log: Log, cause: unknown): Promise<void> {
  log.error({ error: cause instanceof Error ? cause.message : String(cause) }, 'database unreachable: consumption paused until it answers');
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    await new Promise((r) => setTimeout(r, delay));
    await heartbeat().catch(() => undefined);
    if (await databaseAnswers(pool)) {
      log.info('database reachable again: resuming');
      return;
    }
  }
}

/** A pool on the service's schema that survives idle connections dropping (the next query reconnects). */
export function createPool(env: Pick<ServiceEnv, 'databaseUrl' | 'databaseSchema'>, max: number, log: Pick<Log, 'error'> & { warn(obj: object, msg: string): void }, queryTimeoutMs = 15_000): pg.Pool {
  const pool = new pg.Pool({
    connectionString: env.databaseUrl,
    max,
    options: `-c search_path=${env.databaseSchema}`,
    connectionTimeoutMillis: 5_000,
    query_timeout: queryTimeoutMs,
  });
  pool.on('error', (err) => log.warn({ error: err.message }, 'idle database connection lost'));
  return pool;
}

/**
 * Runs a consumer's batch. If it fails and the database does not answer (classified by behaviour,
 * not by message), holds the batch until it does; then rethrows, so kafkajs redelivers the batch
 * from the last committed offset.
 */
export async function holdBatchWhileDatabaseDown(pool: pg.Pool, heartbeat: () => Promise<void>, log: Log, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (!(await databaseAnswers(pool))) await waitForDatabase(pool, heartbeat, log, err);
    throw err;
  }
}
