import { mkdtemp, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, MigrationError, loadMigrations, migrate } from '@stepgate/infra';
import { testNamespace } from '@stepgate/test';

const ns = testNamespace('postgres-smoke');
let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: ns.endpoints.databaseUrl });
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await ns.cleanup();
});

describe('postgres (real server) and the migration runner', () => {
  it('applies every migration in order, records it, and a second run applies nothing', async () => {
    const all = await loadMigrations();
    const first = await migrate(client, { schema: ns.schema });
    expect(first.applied).toEqual(all.map((m) => m.version));
    const { rows } = await ns.pool.query<{ version: number; name: string }>(
      'select version, name from schema_migrations order by version',
    );
    expect(rows.map((r) => r.version)).toEqual(all.map((m) => m.version));

    const second = await migrate(client, { schema: ns.schema });
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(all.map((m) => m.version));
  });

  it('writes a row through the migrated schema and reads it back', async () => {
    await ns.pool.query('insert into tenants (tenant_id, display_name) values ($1, $2)', ['acme', 'Acme Corp']);
    const { rows } = await ns.pool.query<{ display_name: string; created_at: Date }>(
      'select display_name, created_at from tenants where tenant_id = $1',
      ['acme'],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.display_name).toBe('Acme Corp');
    expect(rows[0]!.created_at).toBeInstanceOf(Date);
  });

  it('refuses to run when an applied migration was edited afterwards', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'stepgate-migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const [firstFile] = (await loadMigrations(dir)).map((m) => `${String(m.version).padStart(4, '0')}_${m.name}.sql`);
    await writeFile(path.join(dir, firstFile!), '-- edited after it was applied\nselect 1;\n');
    const error = await migrate(client, { schema: ns.schema, dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).version).toBe(1);
  });

  it('rejects a schema name that is not a plain identifier', async () => {
    await expect(migrate(client, { schema: 'x; drop table y' })).rejects.toBeInstanceOf(MigrationError);
  });

  // The services publish decisions and commit offsets after their rows commit; that is only durable
  // when the server waits for the commit to reach disk. (The services' ordering is tested with them.)
  it('the server commits durably: synchronous_commit and fsync are on', async () => {
    const { rows } = await client.query<{ synchronous_commit: string }>('show synchronous_commit');
    expect(rows[0]!.synchronous_commit).toBe('on');
    const fsync = await client.query<{ fsync: string }>('show fsync');
    expect(fsync.rows[0]!.fsync).toBe('on');
  });
});
