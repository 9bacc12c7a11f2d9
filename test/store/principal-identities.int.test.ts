import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS_DIR } from '@stepgate/infra';
import { IdentitiesRepository, PrincipalAlreadyLinkedError, storeOn, withTransaction } from '@stepgate/store';
import { testNamespace } from '@stepgate/test';

/** One identity per principal, held by the database (migration 0016), not only by link()'s check. */
const ns = testNamespace('principal_identities');
const ISSUER = 'https://idp.example';

beforeAll(async () => {
  await ns.migrate();
  const store = storeOn(ns.pool);
  await store.tenants.ensure('acme');
  for (const principal of ['bob', 'carol', 'dave'])
    await store.credentials.createPrincipal({ tenantId: 'acme', principal, roles: ['approver'] });
});
afterAll(() => ns.cleanup());

const linksOf = async (principal: string) =>
  (
    await ns.pool.query<{ claim_value: string }>(
      `select claim_value from principal_identities where tenant_id = 'acme' and principal = $1`,
      [principal],
    )
  ).rows.map((r) => r.claim_value);

const link = (db: ConstructorParameters<typeof IdentitiesRepository>[0], principal: string, claimValue: string) =>
  new IdentitiesRepository(db).link({ issuer: ISSUER, claimValue, tenantId: 'acme', principal });

describe('linking identities to a principal', () => {
  it('two concurrent links of one principal to different identities: exactly one succeeds, the other PRINCIPAL_ALREADY_LINKED', async () => {
    const outcomes = await Promise.allSettled([
      link(ns.pool, 'bob', 'bob@a.example'),
      link(ns.pool, 'bob', 'bob@b.example'),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((o) => o.status === 'rejected')!.reason as unknown;
    expect(refused).toBeInstanceOf(PrincipalAlreadyLinkedError);
    expect((refused as PrincipalAlreadyLinkedError).code).toBe('PRINCIPAL_ALREADY_LINKED');
    expect(await linksOf('bob')).toHaveLength(1);
  });

  it('when both pass the check (neither sees the other’s uncommitted row), the unique index refuses the second', async () => {
    let secondPid: number | undefined;
    let second: Promise<unknown> | undefined;
    await withTransaction(ns.pool, async (first) => {
      await link(first, 'carol', 'carol@a.example');
      second = withTransaction(ns.pool, async (tx) => {
        secondPid = (await tx.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
        await link(tx, 'carol', 'carol@b.example');
      }).then(
        () => 'linked',
        (err: unknown) => err,
      );
      // The second insert waits on the first's index entry: its check found nothing to refuse.
      await expect
        .poll(async () => {
          if (secondPid === undefined) return undefined;
          const { rows } = await ns.pool.query<{ wait_event_type: string | null }>(
            'select wait_event_type from pg_stat_activity where pid = $1',
            [secondPid],
          );
          return rows[0]?.wait_event_type;
        })
        .toBe('Lock');
    });
    const refused = await second;
    expect(refused).toBeInstanceOf(PrincipalAlreadyLinkedError);
    expect((refused as PrincipalAlreadyLinkedError).code).toBe('PRINCIPAL_ALREADY_LINKED');
    expect(await linksOf('carol')).toEqual(['carol@a.example']);
  });
});

describe('migration 0016 on a table that already holds a principal with two identities', () => {
  it('unlinks every identity of that principal (which is the person’s is unknown), keeps the others', async () => {
    const schema = `${ns.schema}_m`;
    const before = await mkdtemp(path.join(tmpdir(), 'stepgate-migrations-'));
    const client = await ns.pool.connect();
    try {
      for (const file of (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql') && f < '0016'))
        await copyFile(path.join(MIGRATIONS_DIR, file), path.join(before, file));
      await migrate(client, { schema, dir: before });
      await client.query(`insert into ${schema}.tenants (tenant_id) values ('acme')`);
      await client.query(`insert into ${schema}.principals (tenant_id, principal, roles) values
        ('acme', 'twice', '{approver}'), ('acme', 'once', '{approver}')`);
      await client.query(
        `insert into ${schema}.principal_identities (issuer, claim_value, tenant_id, principal) values
        ($1, 'twice@a.example', 'acme', 'twice'), ($1, 'twice@b.example', 'acme', 'twice'),
        ($1, 'once@a.example', 'acme', 'once')`,
        [ISSUER],
      );

      const result = await migrate(client, { schema });
      expect(result.applied).toContain(16);
      const { rows } = await client.query<{ principal: string }>(
        `select principal from ${schema}.principal_identities`,
      );
      expect(rows.map((r) => r.principal)).toEqual(['once']);
      await expect(
        client.query(
          `insert into ${schema}.principal_identities (issuer, claim_value, tenant_id, principal)
                      values ($1, 'once@b.example', 'acme', 'once')`,
          [ISSUER],
        ),
      ).rejects.toMatchObject({ code: '23505', constraint: 'principal_identities_one_per_principal' });
    } finally {
      await client.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
      client.release();
      await rm(before, { recursive: true, force: true });
    }
  });
});
