import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
import { storeOn } from '@stepgate/store';
import type { Identity } from '../src/auth/identity.js';
import { Sessions } from '../src/auth/sessions.js';

/** How long a portal session lasts, by where its roles come from (real Postgres). */
const ns = testNamespace('cp_sessions');
const ISSUER = 'https://idp.example';
const TTL_SECONDS = 8 * 3600;
const GROUPS_MAX_SECONDS = 600;
const identity: Identity = {
  tenantId: 'acme',
  principal: 'bob',
  roles: ['approver'],
  issuer: ISSUER,
  subject: 'b',
  claimValue: 'bob@acme.example',
};

beforeAll(async () => {
  await ns.migrate();
  const store = storeOn(ns.pool);
  await store.tenants.ensure('acme');
  await store.credentials.createPrincipal({ tenantId: 'acme', principal: 'bob', roles: ['approver'] });
  await store.identities.link({ issuer: ISSUER, claimValue: 'bob@acme.example', tenantId: 'acme', principal: 'bob' });
});
afterAll(() => ns.cleanup());

const inSeconds = (s: number) => new Date(Date.now() + s * 1000);
const secondsUntil = (d: Date) => (d.getTime() - Date.now()) / 1000;

describe('portal sessions', () => {
  it('roles from the principals table (read each request): the session TTL, whatever the ID token’s expiry', async () => {
    const sessions = new Sessions(storeOn(ns.pool).sessions, { ttlSeconds: TTL_SECONDS });
    const { token, expiresAt } = await sessions.open({ identity, idTokenExpiresAt: inSeconds(60) });
    expect(secondsUntil(expiresAt)).toBeGreaterThan(TTL_SECONDS - 60);
    await ns.pool.query(`update control_plane_sessions set created_at = now() - interval '2 hours'`);
    expect(await sessions.identity(token)).toMatchObject({ principal: 'bob', roles: ['approver'] });
  });

  it('roles from the groups claim: the ID token’s expiry or the maximum, whichever is first', async () => {
    const sessions = new Sessions(storeOn(ns.pool).sessions, {
      ttlSeconds: TTL_SECONDS,
      rolesFromGroups: { maxSeconds: GROUPS_MAX_SECONDS },
    });
    const byToken = await sessions.open({ identity, idTokenExpiresAt: inSeconds(120) });
    expect(secondsUntil(byToken.expiresAt)).toBeLessThanOrEqual(120);
    expect(secondsUntil(byToken.expiresAt)).toBeGreaterThan(100);
    const byMaximum = await sessions.open({ identity, idTokenExpiresAt: inSeconds(7200) });
    expect(secondsUntil(byMaximum.expiresAt)).toBeLessThanOrEqual(GROUPS_MAX_SECONDS);
    expect(secondsUntil(byMaximum.expiresAt)).toBeGreaterThan(GROUPS_MAX_SECONDS - 20);
    const noExpiry = await sessions.open({ identity });
    expect(secondsUntil(noExpiry.expiresAt)).toBeLessThanOrEqual(GROUPS_MAX_SECONDS);
    expect(await sessions.identity(byToken.token)).toMatchObject({ roles: ['approver'] });
  });

  it('roles from the groups claim: a longer-lived session (opened before groups were configured) ends at the maximum', async () => {
    const before = new Sessions(storeOn(ns.pool).sessions, { ttlSeconds: TTL_SECONDS });
    const { token } = await before.open({ identity });
    const now = new Sessions(storeOn(ns.pool).sessions, {
      ttlSeconds: TTL_SECONDS,
      rolesFromGroups: { maxSeconds: GROUPS_MAX_SECONDS },
    });
    expect(await now.identity(token)).toBeDefined();
    await ns.pool.query(
      `update control_plane_sessions set created_at = now() - make_interval(secs => $1) where expires_at > now() + interval '1 hour'`,
      [GROUPS_MAX_SECONDS + 1],
    );
    expect(await now.identity(token)).toBeUndefined();
    expect(await before.identity(token)).toBeDefined();
  });
});
