import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionsRepository } from '@stepgate/store';
import { testNamespace } from '@stepgate/test';
import { email, PEOPLE, startControlPlaneStack, type ControlPlaneStack, type Person } from './stack.js';
import { startTokenIssuer } from './token-issuer.js';

/**
 * The API's budget on the real stack: a ceiling per client address, then per proven identity, and per
 * client address without one. Each test calls from its own loopback address (127.0.0.x).
 */
const ns = testNamespace('cp_rate');
const PER_IDENTITY = 5;
const PER_ADDRESS = 3;
const ADDRESS_CEILING = 10;
const COOKIE_SECRET = randomBytes(32).toString('hex');
let stack: ControlPlaneStack;
let issuer: Awaited<ReturnType<typeof startTokenIssuer>>;

beforeAll(async () => {
  issuer = await startTokenIssuer();
  stack = await startControlPlaneStack(ns, {
    issuer: issuer.issuer,
    overrides: {
      apiRatePerMinute: { identity: PER_IDENTITY, anonymous: PER_ADDRESS },
      addressRatePerMinute: ADDRESS_CEILING,
      cookieSecret: COOKIE_SECRET,
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await issuer?.close();
  await ns.cleanup();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { error?: { code?: string; message?: string } } | undefined;
}

/** A request from the client address `from` (a loopback address). */
function send(
  from: string,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const url = new URL(path, stack.portal);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: o.method,
        localAddress: from,
        headers: o.headers,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'] ?? null,
            body: JSON.parse(text) as Answer['body'],
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A GET from the client address `from`, with a bearer token when given. */
const get = (from: string, path: string, token?: string) =>
  send(from, path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

/** A portal session of `who` (as the portal opens one at sign-in): its cookie and CSRF headers. */
async function portalSession(who: Person): Promise<Record<string, string>> {
  const token = randomBytes(32).toString('base64url');
  await new SessionsRepository(ns.pool).create({
    tokenSha256: createHash('sha256').update(token).digest('hex'),
    tenantId: PEOPLE[who].tenant,
    principal: who,
    issuer: issuer.issuer,
    subject: `sub-${who}`,
    claimValue: email(who),
    roles: [...PEOPLE[who].roles],
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  return {
    cookie: `sg_session=${token}`,
    'x-csrf-token': createHmac('sha256', COOKIE_SECRET).update(`csrf:${token}`).digest('base64url'),
  };
}

const tokenOf = (who: Person) => issuer.token({ sub: `sub-${who}`, email: email(who) });

/** Calls until the first refusal; how many were answered before it, and the refusal. */
async function exhaust(call: () => Promise<Answer>, limit: number): Promise<{ answered: number; refusal: Answer }> {
  for (let answered = 0; answered <= limit; answered++) {
    const a = await call();
    if (a.status === 429) return { answered, refusal: a };
  }
  throw new Error(`no 429 after ${limit + 1} requests`);
}

describe('the API rate limit', () => {
  it('an identity over its budget gets 429 RATE_LIMITED with Retry-After; another identity is not limited', async () => {
    const alice = await tokenOf('alice');
    const { answered, refusal } = await exhaust(() => get('127.0.0.2', '/api/v1/me', alice), PER_IDENTITY);
    expect(answered).toBe(PER_IDENTITY);
    expect(refusal.body?.error?.code).toBe('RATE_LIMITED');
    expect(Number(refusal.retryAfter)).toBeGreaterThan(0);
    expect(Number(refusal.retryAfter)).toBeLessThanOrEqual(60);
    // A fresh token of the same person is the same identity: no fresh budget.
    expect((await get('127.0.0.2', '/api/v1/approvals', await tokenOf('alice'))).status).toBe(429);

    const bob = await get('127.0.0.2', '/api/v1/me', await tokenOf('bob'));
    expect([bob.status, bob.body]).toMatchObject([200, { principal: 'bob' }]);
  });

  it('requests proving no identity share their address’s budget, whatever subject a forged token claims', async () => {
    const forged = (n: number) =>
      issuer.token({ sub: `sub-forged-${n}`, email: `forged-${n}@x.example`, forged: true });
    let n = 0;
    const { answered, refusal } = await exhaust(
      async () => get('127.0.0.3', '/api/v1/me', await forged(n++)),
      PER_ADDRESS,
    );
    expect(answered).toBe(PER_ADDRESS);
    expect(refusal.body?.error?.code).toBe('RATE_LIMITED');
    expect(refusal.retryAfter).not.toBeNull();
    expect((await get('127.0.0.3', '/api/v1/approvals')).status).toBe(429);
    // Identities from that same address keep their own budgets.
    expect((await get('127.0.0.3', '/api/v1/me', await tokenOf('dave'))).status).toBe(200);
  });

  it('many identities from one address: the address ceiling refuses first, whoever is proven', async () => {
    const from = '127.0.0.4';
    const people: Person[] = ['bob', 'carol', 'dave', 'erin'];
    const tokens = await Promise.all(people.map(tokenOf));
    // Three requests each (under every identity's budget): the ceiling is spent after ADDRESS_CEILING.
    const answers: Answer[] = [];
    for (let round = 0; round < 3; round++)
      for (const token of tokens) answers.push(await get(from, '/api/v1/me', token));
    expect(answers.slice(0, ADDRESS_CEILING).map((a) => a.status)).toEqual(Array(ADDRESS_CEILING).fill(200));
    const refused = answers[ADDRESS_CEILING]!;
    expect([refused.status, refused.body?.error?.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    // A request with nothing to verify is refused by the same ceiling; another address is not limited.
    expect((await get(from, '/api/v1/me')).body?.error?.code).toBe('RATE_LIMITED');
    expect((await get('127.0.0.5', '/api/v1/me', tokens[0])).status).toBe(200);
  });

  it('the portal pages that authenticate spend the same identity budget as the API', async () => {
    const from = '127.0.0.6';
    const session = await portalSession('mallory');
    const decide = () =>
      send(from, `/approvals/${randomUUID()}/decide`, {
        method: 'POST',
        headers: { ...session, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'decision=approve&comment=go',
      });
    // Mallory has no role: each is answered 403 FORBIDDEN, and each counts.
    const answers = [
      await send(from, '/audit', { headers: session }),
      await decide(),
      await send(from, '/audit', { headers: session }),
      await decide(),
    ];
    expect(answers.map((a) => [a.status, a.body?.error?.code])).toEqual(Array(4).fill([403, 'FORBIDDEN']));
    expect((await get(from, '/api/v1/me', await tokenOf('mallory'))).body?.error?.code).toBe('FORBIDDEN');
    for (const refused of [await decide(), await send(from, '/audit', { headers: session })]) {
      expect([refused.status, refused.body?.error?.code]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    }
    expect((await get(from, '/api/v1/me', await tokenOf('mallory'))).body?.error?.code).toBe('RATE_LIMITED');
  });

  it('the OpenAPI document names the 429 answer', async () => {
    const doc = (await (await fetch(`${stack.portal}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(doc.paths['/api/v1/me']?.get?.responses['429']).toMatchObject({ headers: { 'Retry-After': {} } });
  });
});
