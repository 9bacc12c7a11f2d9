import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type pg from 'pg';

/** infra/migrations: plain SQL files named `NNNN_description.sql`, applied in version order. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  constructor(
    message: string,
    readonly version?: number,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_PATTERN.exec(file);
    if (!match) throw new MigrationError(`${file}: expected a name like 0001_description.sql`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version))
      throw new MigrationError(`${file}: version ${version} used twice`, version);
    migrations.push({ version, name: match[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return migrations;
}

export interface MigrateOptions {
  /** Target schema (created if missing). Tests give each file its own schema. Default `public`. */
  schema?: string;
  dir?: string;
}

export interface MigrateResult {
  schema: string;
  applied: number[];
  alreadyApplied: number[];
}

/**
 * Applies pending migrations, each in its own transaction, recording them in `schema_migrations`.
 * A transaction-scoped advisory lock makes concurrent runners (several services starting at once) safe.
 * An applied migration whose file changed since is an error, never silently skipped.
 */
export async function migrate(client: pg.ClientBase, options: MigrateOptions = {}): Promise<MigrateResult> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_PATTERN.test(schema))
    throw new MigrationError(`schema "${schema}": expected a lower-case SQL identifier`);
  const migrations = await loadMigrations(options.dir);
  const result: MigrateResult = { schema, applied: [], alreadyApplied: [] };

  await client.query('begin');
  try {
    await client.query('select pg_advisory_xact_lock(hashtext($1))', [`stepgate-migrate:${schema}`]);
    await client.query(`create schema if not exists ${schema}`);
    await client.query(`set local search_path to ${schema}`);
    await client.query(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: number; checksum: string }>(
      'select version, checksum from schema_migrations',
    );
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const m of migrations) {
      const checksum = applied.get(m.version);
      if (checksum === undefined) {
        await client.query(m.sql);
        await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
          m.version,
          m.name,
          m.checksum,
        ]);
        result.applied.push(m.version);
      } else if (checksum !== m.checksum) {
        throw new MigrationError(
          `migration ${m.version} (${m.name}) changed after it was applied to schema ${schema}`,
          m.version,
        );
      } else {
        result.alreadyApplied.push(m.version);
      }
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
  return result;
}
