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

/**
 * Ends a backend (the same role's) and waits up to `timeoutMs` for it to be gone. Whether it is gone
 * (a backend that already ended counts as gone).
 */
export async function endBackend(pool: pg.Pool, pid: number, timeoutMs: number): Promise<boolean> {
  // pg_terminate_backend warns and returns false for a pid that is no backend (any more): not an error.
  await pool.query('select pg_terminate_backend($1, $2)', [pid, timeoutMs]);
  const { rows } = await pool.query('select 1 from pg_stat_activity where pid = $1', [pid]);
  return rows.length === 0;
}
