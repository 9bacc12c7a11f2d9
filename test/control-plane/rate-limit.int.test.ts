import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
import { email, startControlPlaneStack, type ControlPlaneStack, type Person } from './stack.js';
import { startTokenIssuer } from './token-issuer.js';

/** The API's budget on the real stack: per proven identity, and per client address without one. */
const ns = testNamespace('cp_rate');
const PER_IDENTITY = 5;
const PER_ADDRESS = 3;
let stack: ControlPlaneStack;
let issuer: Awaited<ReturnType<typeof startTokenIssuer>>;

beforeAll(async () => {
  issuer = await startTokenIssuer();
  stack = await startControlPlaneStack(ns, {
    issuer: issuer.issuer,
    overrides: { apiRatePerMinute: { identity: PER_IDENTITY, anonymous: PER_ADDRESS } },
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

async function get(path: string, token?: string): Promise<Answer> {
  const res = await fetch(`${stack.portal}${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Answer['body'],
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
    const { answered, refusal } = await exhaust(() => get('/api/v1/me', alice), PER_IDENTITY);
    expect(answered).toBe(PER_IDENTITY);
    expect(refusal.body?.error?.code).toBe('RATE_LIMITED');
    expect(Number(refusal.retryAfter)).toBeGreaterThan(0);
    expect(Number(refusal.retryAfter)).toBeLessThanOrEqual(60);
    // A fresh token of the same person is the same identity: no fresh budget.
    expect((await get('/api/v1/approvals', await tokenOf('alice'))).status).toBe(429);

    const bob = await get('/api/v1/me', await tokenOf('bob'));
    expect([bob.status, bob.body]).toMatchObject([200, { principal: 'bob' }]);
  });

  it('requests proving no identity share their address’s budget, whatever subject a forged token claims', async () => {
    const forged = (n: number) =>
      issuer.token({ sub: `sub-forged-${n}`, email: `forged-${n}@x.example`, forged: true });
    let n = 0;
    const { answered, refusal } = await exhaust(async () => get('/api/v1/me', await forged(n++)), PER_ADDRESS);
    expect(answered).toBe(PER_ADDRESS);
    expect(refusal.body?.error?.code).toBe('RATE_LIMITED');
    expect(refusal.retryAfter).not.toBeNull();
    expect((await get('/api/v1/approvals')).status).toBe(429);
    // Identities from that same address keep their own budgets.
    expect((await get('/api/v1/me', await tokenOf('dave'))).status).toBe(200);
  });

  it('the OpenAPI document names the 429 answer', async () => {
    const doc = (await (await fetch(`${stack.portal}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(doc.paths['/api/v1/me']?.get?.responses['429']).toMatchObject({ headers: { 'Retry-After': {} } });
  });
});
