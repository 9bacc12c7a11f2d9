import pg from 'pg';

/** A pool or a client (possibly inside the caller's transaction): what a repository queries through. */
export type Db = pg.Pool | pg.ClientBase;

/**
 * Runs fn with a client of the pool. A checked-out client has no 'error' listener of the pool's: a
 * connection lost meanwhile would be an uncaught exception, so it is listened to here, and a client
 * whose work failed is released with the error (the pool discards it rather than reuse it).
 */
export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failure: Error | undefined;
  const onError = (err: Error) => (failure = err);
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    failure ??= err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.off('error', onError);
    client.release(failure);
  }
}

/** Runs fn in a transaction on a client of the pool; rolls back when fn throws. */
export function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query('begin');
    try {
      const result = await fn(client);
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
  });
}

/** Postgres refused a row for the named unique constraint or index (SQLSTATE 23505 unique_violation). */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  return err instanceof pg.DatabaseError && err.code === '23505' && err.constraint === constraint;
}

/** The batch ledger's write found a first gate stored by another evaluator (our SQLSTATE SG409, migration 0021). */
export function isFirstGateStoredConcurrently(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.code === 'SG409';
}

/** A server process, told apart from a later one that reuses its pid by when it started. */
export interface BackendIdentity {
  pid: number;
  /** backend_start in microseconds since the epoch, as text. */
  startedAt: string;
}

const STARTED_AT = `((extract(epoch from backend_start) * 1000000)::bigint)::text`;

/** The backend serving this connection. */
export async function backendIdentity(client: pg.ClientBase): Promise<BackendIdentity> {
  const { rows } = await client.query<{ pid: number; started_at: string }>(
    `select pid, ${STARTED_AT} as started_at from pg_stat_activity where pid = pg_backend_pid()`,
  );
  return { pid: rows[0]!.pid, startedAt: rows[0]!.started_at };
}

/**
 * Ends a backend (the same role's) and waits up to `timeoutMs` for it to be gone; whether it is gone.
 * A backend that already ended counts as gone, as does one whose pid now serves a later process (a
 * server restart, or the pid reused): that one is left alone. Needs Postgres 14 or later.
 */
export async function endBackend(pool: pg.Pool, backend: BackendIdentity, timeoutMs: number): Promise<boolean> {
  const values = [backend.pid, backend.startedAt];
  await pool.query(`select pg_terminate_backend(pid, $3) from pg_stat_activity where pid = $1 and ${STARTED_AT} = $2`, [
    ...values,
    timeoutMs,
  ]);
  const { rows } = await pool.query(`select 1 from pg_stat_activity where pid = $1 and ${STARTED_AT} = $2`, values);
  return rows.length === 0;
}

/**
 * Cancels the statement a backend (the same role's) is running, if it is still that process: one that
 * ended, or whose pid now serves a later process, is left alone. Whether a cancel was sent; the
 * backend ends the statement (SQLSTATE 57014 query_canceled to its client) at its next interrupt check.
 */
export async function cancelBackend(pool: pg.Pool, backend: BackendIdentity): Promise<boolean> {
  const { rows } = await pool.query<{ sent: boolean }>(
    `select pg_cancel_backend(pid) as sent from pg_stat_activity where pid = $1 and ${STARTED_AT} = $2`,
    [backend.pid, backend.startedAt],
  );
  return rows[0]?.sent === true;
}

/**
 * Failures of the moment, not of what the statement was given: a statement or lock timeout, a
 * deadlock, a serialization failure, a session ended for idling in a transaction. Redoing it may succeed.
 */
export function isTransientDatabaseError(err: unknown): boolean {
  return err instanceof pg.DatabaseError && TRANSIENT_SQLSTATES.has(err.code ?? '');
}

const TRANSIENT_SQLSTATES = new Set(['57014', '55P03', '40P01', '40001', '25P03']);

/**
 * Postgres refused what the statement was given, not the moment or itself: a data exception (class
 * 22), an integrity constraint (23), a program limit such as an index row too large (54), a raise in a
 * PL/pgSQL function (P0). A read-only node, a full disk, a lost connection or a missing privilege is none
 * of these.
 */
export function isRefusalOfTheData(err: unknown): boolean {
  return err instanceof pg.DatabaseError && DATA_REFUSAL_CLASSES.has((err.code ?? '').slice(0, 2));
}

const DATA_REFUSAL_CLASSES = new Set(['22', '23', '54', 'P0']);
