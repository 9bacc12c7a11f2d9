import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS_DIR } from '@stepgate/infra';
import {
  IdentitiesRepository,
  PrincipalAlreadyLinkedError,
  SessionsRepository,
  storeOn,
  withTransaction,
} from '@stepgate/store';
import { testNamespace } from '@stepgate/test';

/** One identity per principal, held by the database (migration 0016), not only by link()'s check. */
const ns = testNamespace('principal_identities');
const ISSUER = 'https://idp.example';

beforeAll(async () => {
  await ns.migrate();
  const store = storeOn(ns.pool);
  await store.tenants.ensure('acme');
  for (const principal of ['bob', 'carol', 'dave', 'p', 'p1', 'p2', 'q'])
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

/** A session opened by the identity `claimValue` (at ISSUER) acting as `principal`; its token hash. */
async function openSession(principal: string, claimValue: string): Promise<string> {
  const tokenSha256 = `${principal}/${claimValue}/${Math.random()}`;
  await new SessionsRepository(ns.pool).create({
    tokenSha256,
    tenantId: 'acme',
    principal,
    issuer: ISSUER,
    subject: `sub-${claimValue}`,
    claimValue,
    roles: ['approver'],
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  return tokenSha256;
}
const isLive = async (tokenSha256: string) => (await new SessionsRepository(ns.pool).live(tokenSha256)) !== undefined;
/** A link written without link() (as before 0016, or by hand): only live()'s own check stands. */
const rawLink = (principal: string, claimValue: string) =>
  ns.pool.query(
    `insert into principal_identities (issuer, claim_value, tenant_id, principal) values ($1, $2, 'acme', $3)
     on conflict (issuer, claim_value) do update set principal = excluded.principal`,
    [ISSUER, claimValue, principal],
  );
const rawUnlink = (claimValue: string) =>
  ns.pool.query('delete from principal_identities where issuer = $1 and claim_value = $2', [ISSUER, claimValue]);

describe('a session lives only while the identity that opened it is linked to its principal', () => {
  it('principal P unlinked from Y (as 0016 did), then X linked to P: Y’s session for P stays dead', async () => {
    await link(ns.pool, 'p', 'y@a.example');
    const ofY = await openSession('p', 'y@a.example');
    expect(await isLive(ofY)).toBe(true);
    await rawUnlink('y@a.example');
    await rawLink('p', 'x@a.example');
    expect(await isLive(ofY)).toBe(false);
    // X's own session is live: the link is exactly X's.
    expect(await isLive(await openSession('p', 'x@a.example'))).toBe(true);
  });

  it('Y moved from P1 to P2, then X linked to P1: Y’s old P1 session does not come back (no two votes)', async () => {
    await rawLink('p1', 'y1@a.example');
    const ofYAsP1 = await openSession('p1', 'y1@a.example');
    await rawLink('p2', 'y1@a.example');
    await rawLink('p1', 'x1@a.example');
    expect(await isLive(ofYAsP1)).toBe(false);
    expect(await isLive(await openSession('p2', 'y1@a.example'))).toBe(true);
  });

  it('link() ends the sessions of the identity’s previous principal and of the principal it now acts as', async () => {
    await rawUnlink('x@a.example');
    await rawUnlink('x1@a.example');
    await rawUnlink('y1@a.example');
    await link(ns.pool, 'q', 'z@a.example');
    const ofZAsQ = await openSession('q', 'z@a.example');
    const ofP2 = await openSession('p2', 'stale@a.example');
    await link(ns.pool, 'p2', 'z@a.example');
    const { rows } = await ns.pool.query<{ token_sha256: string }>(
      `select token_sha256 from control_plane_sessions where principal in ('q', 'p2')`,
    );
    expect(rows.map((r) => r.token_sha256)).not.toContain(ofZAsQ);
    expect(rows.map((r) => r.token_sha256)).not.toContain(ofP2);
  });

  it('unlink() removes the link of the tenant’s principal and ends its sessions; another tenant’s name unlinks nothing', async () => {
    const ofZ = await openSession('p2', 'z@a.example');
    const identities = new IdentitiesRepository(ns.pool);
    expect(await identities.unlink({ issuer: ISSUER, claimValue: 'z@a.example', tenantId: 'globex' })).toBeUndefined();
    expect(await isLive(ofZ)).toBe(true);
    expect(await identities.unlink({ issuer: ISSUER, claimValue: 'z@a.example', tenantId: 'acme' })).toBe('p2');
    expect(await linksOf('p2')).toEqual([]);
    const { rowCount } = await ns.pool.query('select 1 from control_plane_sessions where token_sha256 = $1', [ofZ]);
    expect(rowCount).toBe(0);
    // The principal can now be linked to another identity.
    await link(ns.pool, 'p2', 'w@a.example');
    expect(await linksOf('p2')).toEqual(['w@a.example']);
  });
});

/**
 * A side schema migrated up to (not including) `version`, seeded by `seed`, then migrated to the end;
 * `check` sees the result. The schema is dropped afterwards.
 */
async function acrossMigration(
  version: string,
  seed: (client: pg.PoolClient, schema: string) => Promise<void>,
  check: (client: pg.PoolClient, schema: string, applied: number[]) => Promise<void>,
): Promise<void> {
  const schema = `${ns.schema}_m${version}`;
  const before = await mkdtemp(path.join(tmpdir(), 'stepgate-migrations-'));
  const client = await ns.pool.connect();
  try {
    for (const file of (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql') && f < version))
      await copyFile(path.join(MIGRATIONS_DIR, file), path.join(before, file));
    await migrate(client, { schema, dir: before });
    await client.query(`insert into ${schema}.tenants (tenant_id) values ('acme')`);
    await seed(client, schema);
    await check(client, schema, (await migrate(client, { schema })).applied);
  } finally {
    await client.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    client.release();
    await rm(before, { recursive: true, force: true });
  }
}

describe('migration 0016 on a table that already holds a principal with two identities', () => {
  it('unlinks every identity of that principal (which is the person’s is unknown), keeps the others', async () => {
    await acrossMigration(
      '0016',
      async (client, schema) => {
        await client.query(`insert into ${schema}.principals (tenant_id, principal, roles) values
          ('acme', 'twice', '{approver}'), ('acme', 'once', '{approver}')`);
        await client.query(
          `insert into ${schema}.principal_identities (issuer, claim_value, tenant_id, principal) values
          ($1, 'twice@a.example', 'acme', 'twice'), ($1, 'twice@b.example', 'acme', 'twice'),
          ($1, 'once@a.example', 'acme', 'once')`,
          [ISSUER],
        );
      },
      async (client, schema, applied) => {
        expect(applied).toContain(16);
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
      },
    );
  });
});

describe('migration 0018: sessions record the identity that opened them', () => {
  it('ends every existing session (which identity opened it is unknown); new ones need the claim value', async () => {
    await acrossMigration(
      '0018',
      async (client, schema) => {
        await client.query(`insert into ${schema}.principals (tenant_id, principal, roles) values ('acme', 'p', '{}')`);
        await client.query(
          `insert into ${schema}.control_plane_sessions (token_sha256, tenant_id, principal, issuer, subject, roles, expires_at)
           values ('old', 'acme', 'p', $1, 'sub-y', '{approver}', now() + interval '1 hour')`,
          [ISSUER],
        );
      },
      async (client, schema, applied) => {
        expect(applied).toContain(18);
        expect((await client.query(`select 1 from ${schema}.control_plane_sessions`)).rowCount).toBe(0);
        await expect(
          client.query(
            `insert into ${schema}.control_plane_sessions (token_sha256, tenant_id, principal, issuer, subject, roles, expires_at)
             values ('new', 'acme', 'p', $1, 'sub-y', '{approver}', now() + interval '1 hour')`,
            [ISSUER],
          ),
        ).rejects.toMatchObject({ code: '23502' });
      },
    );
  });
});
