import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
import { email, startControlPlaneStack, type ControlPlaneStack, type Person } from './stack.js';
import { startTokenIssuer } from './token-issuer.js';

/**
 * The API's budget on the real stack: a ceiling per client address, then per proven identity, and per
 * client address without one. Each test calls from its own loopback address (127.0.0.x).
 */
const ns = testNamespace('cp_rate');
const PER_IDENTITY = 5;
const PER_ADDRESS = 3;
const ADDRESS_CEILING = 10;
let stack: ControlPlaneStack;
let issuer: Awaited<ReturnType<typeof startTokenIssuer>>;

beforeAll(async () => {
  issuer = await startTokenIssuer();
  stack = await startControlPlaneStack(ns, {
    issuer: issuer.issuer,
    overrides: {
      apiRatePerMinute: { identity: PER_IDENTITY, anonymous: PER_ADDRESS },
      addressRatePerMinute: ADDRESS_CEILING,
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

/** A GET from the client address `from` (a loopback address), with a bearer token when given. */
function get(from: string, path: string, token?: string): Promise<Answer> {
  const url = new URL(path, stack.portal);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        localAddress: from,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: (res.headers['retry-after'] as string | undefined) ?? null,
            body: JSON.parse(text) as Answer['body'],
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
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

  it('the OpenAPI document names the 429 answer', async () => {
    const doc = (await (await fetch(`${stack.portal}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(doc.paths['/api/v1/me']?.get?.responses['429']).toMatchObject({ headers: { 'Retry-After': {} } });
  });
});
