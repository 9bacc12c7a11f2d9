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

/** What a held batch needs of its consumer: its heartbeat, and whether it is still its to handle. */
export interface HeldBatch {
  heartbeat(): Promise<void>;
  /** False once the consumer stops (or the partition is taken back): the wait is given up. */
  isActive(): boolean;
}

/**
 * Holds a consumer's batch while Postgres does not answer: backs off up to 5 s, heartbeating so the
 * consumer keeps its partitions, and returns once a query succeeds again. It returns early when the
 * batch is no longer active (the consumer is stopping, which waits for running batches) or a beat
 * fails (a rebalance, which waits for them too): the batch is then fetched again by whoever has it.
 */
export async function waitForDatabase(p: {
  pool: pg.Pool;
  batch: HeldBatch;
  log: Log;
  cause: unknown;
  sleep?: (ms: number) => Promise<void>;
}): Promise<void> {
  const sleep = p.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  p.log.error(
    { error: p.cause instanceof Error ? p.cause.message : String(p.cause) },
    'database unreachable: consumption paused until it answers',
  );
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    for (let waited = 0; waited < delay; waited += WAIT_STEP_MS) {
      if (!p.batch.isActive()) return;
      await sleep(Math.min(WAIT_STEP_MS, delay - waited));
    }
    try {
      await p.batch.heartbeat();
    } catch {
      return;
    }
    if (await databaseAnswers(p.pool)) {
      p.log.info('database reachable again: resuming');
      return;
    }
  }
}

const WAIT_STEP_MS = 250;

export interface PoolOptions {
  queryTimeoutMs?: number;
  /** Session settings (`-c name=value`) for every connection of the pool. */
  settings?: Record<string, string>;
  /**
   * Connections send each query as soon as it is made, without waiting for the answers before it
   * (node-postgres pipeline mode): a transaction's BEGIN and first statement, or its last statement
   * and COMMIT, cost one round trip. Statements that keep a portal open (cursors, streams) are refused.
   */
  pipeline?: boolean;
}

/**
 * Planner settings for a pool whose statements are all keyed lookups and small keyed joins, prepared
 * once per connection. A named statement's generic plan is cached from its sixth execution: planned
 * while the tables are new and small (no statistics yet), it scans them whole, and keeps doing so as
 * they grow until autovacuum's next ANALYZE, with a cost that grows with every gate. Index lookups
 * through nested loops are the right plan at any size for these statements, so they are the only one.
 * That plan is the same whatever the parameters, so it is planned once per connection: left to choose,
 * Postgres plans some executions again with their parameters (measured: the batch ledger's write
 * re-planned 145 times in 1,025 batches as its tables grew, ~11 µs of Postgres CPU per gate).
 */
export const KEYED_LOOKUP_PLANS: Readonly<Record<string, string>> = {
  enable_seqscan: 'off',
  enable_hashjoin: 'off',
  enable_mergejoin: 'off',
  plan_cache_mode: 'force_generic_plan',
};

/** A pool on the service's schema that survives idle connections dropping (the next query reconnects). */
export function createPool(
  env: Pick<ServiceEnv, 'databaseUrl' | 'databaseSchema' | 'databaseSsl'>,
  max: number,
  log: Pick<Log, 'error'> & { warn(obj: object, msg: string): void },
  options: PoolOptions = {},
): pg.Pool {
  const settings = { search_path: env.databaseSchema, ...options.settings };
  const pool = new pg.Pool({
    connectionString: env.databaseUrl,
    ...(env.databaseSsl ? { ssl: env.databaseSsl } : {}),
    max,
    options: Object.entries(settings)
      .map(([name, value]) => `-c ${name}=${value}`)
      .join(' '),
    connectionTimeoutMillis: 5_000,
    query_timeout: options.queryTimeoutMs ?? 15_000,
    pipeline: options.pipeline === true,
  });
  pool.on('error', (err) => log.warn({ error: err.message }, 'idle database connection lost'));
  return pool;
}

/**
 * Runs a consumer's batch. If it fails and the database does not answer (classified by behaviour,
 * not by message), holds the batch until it does; then rethrows, so the batch is fetched again from
 * the last resolved offset (messaging's `retriedAfterPause`; the last committed one after a rebalance).
 */
export async function holdBatchWhileDatabaseDown(
  p: { pool: pg.Pool; batch: HeldBatch; log: Log },
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (!(await databaseAnswers(p.pool))) await waitForDatabase({ ...p, cause: err });
    throw err;
  }
}
