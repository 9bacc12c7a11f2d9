import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
import { password, startControlPlaneStack, type ControlPlaneStack, type Person } from './stack.js';

/**
 * Roles from the provider's groups claim are only read at sign-in, so such a session ends at the ID
 * token's expiry (or OIDC_GROUPS_SESSION_MAX_SECONDS): a person removed from a group at the provider
 * does not keep the role for the whole session TTL.
 */
const ns = testNamespace('cp_groups');
const ID_TOKEN_TTL_SECONDS = 4;
let stack: ControlPlaneStack;

beforeAll(async () => {
  stack = await startControlPlaneStack(ns, {
    groups: { sessionMaxSeconds: 3600 },
    idTokenTtlSeconds: ID_TOKEN_TTL_SECONDS,
    overrides: { sessionTtlSeconds: 8 * 3600 },
  });
});

afterAll(async () => {
  await stack?.stop();
  await ns.cleanup();
});

/** Cookies per origin, as a browser keeps them (enough for the portal and the embedded provider). */
class CookieJar {
  private readonly jars = new Map<string, Map<string, string>>();

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const origin = new URL(url).origin;
    const jar = this.jars.get(origin) ?? new Map<string, string>();
    this.jars.set(origin, jar);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) },
    });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return res;
  }

  get(origin: string, name: string): string | undefined {
    return this.jars.get(origin)?.get(name);
  }
}

/** Signs in at the portal through the embedded provider's code flow; the browser's cookies. */
async function signIn(who: Person): Promise<{ browser: CookieJar; sessionCookie: string }> {
  const browser = new CookieJar();
  let res = await browser.fetch(`${stack.portal}/login?return_to=/approvals`);
  let location = res.headers.get('location');
  for (let hop = 0; location && hop < 10; hop++) {
    const url = new URL(location, res.url).href;
    if (url.startsWith(`${stack.provider.issuer}/interaction/`) && !url.endsWith('/login')) {
      await (await browser.fetch(url)).text();
      res = await browser.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ login: who, password: password(who) }).toString(),
      });
    } else {
      if (url === `${stack.portal}/approvals`) break;
      res = await browser.fetch(url);
    }
    location = res.headers.get('location');
  }
  const sessionCookie = browser.get(stack.portal, 'sg_session');
  if (!sessionCookie) throw new Error(`no session after signing in as ${who} (last answer ${res.status})`);
  return { browser, sessionCookie };
}

const storedSession = async (token: string) =>
  (
    await ns.pool.query<{ created_at: Date; expires_at: Date; roles: string[] }>(
      'select created_at, expires_at, roles from control_plane_sessions where token_sha256 = $1',
      [createHash('sha256').update(token).digest('hex')],
    )
  ).rows[0];

describe('a session whose roles came from the groups claim', () => {
  it('ends at the ID token’s expiry, long before the session TTL: 401 on the API, the portal asks to sign in', async () => {
    const { browser, sessionCookie } = await signIn('bob');
    const stored = await storedSession(sessionCookie);
    expect(stored?.roles).toEqual(['approver']);
    const lifetime = stored!.expires_at.getTime() - stored!.created_at.getTime();
    expect(lifetime).toBeLessThanOrEqual((ID_TOKEN_TTL_SECONDS + 2) * 1000);

    const me = await browser.fetch(`${stack.portal}/api/v1/me`);
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ principal: 'bob', roles: ['approver'] });

    await expect
      .poll(async () => (await browser.fetch(`${stack.portal}/api/v1/me`)).status, {
        timeout: (ID_TOKEN_TTL_SECONDS + 10) * 1000,
        interval: 500,
      })
      .toBe(401);
    const refused = await browser.fetch(`${stack.portal}/api/v1/me`);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    const page = await browser.fetch(`${stack.portal}/approvals`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?return_to=%2Fapprovals');
  });
});
