import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Identity } from '../src/auth/identity.js';
import { addressCeiling, identityRateLimit } from '../src/api/rate-limit.js';
import { Api } from '../src/api/route.js';
import { asHttpError } from '../src/api/errors.js';

/** The limiter's order in-process: what a request over budget still costs (authentications counted). */
const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function appWith(limits: { ceiling: number; perIdentity: number; perAddress: number; cacheSize?: number }) {
  const cacheSize = limits.cacheSize ?? 1000;
  const app = Fastify();
  apps.push(app);
  await app.register(rateLimit, { global: false });
  app.setErrorHandler((err, _request, reply) => {
    const e = asHttpError(err);
    return reply.status(e.status).send({ error: { code: e.code } });
  });
  const authenticated = new Set<string>();
  const authenticate = async (request: FastifyRequest): Promise<Identity | undefined> => {
    authenticated.add(request.id);
    // `tenant/principal/subject`: a subject other than the principal's name is another identity of it.
    const [tenantId, principal, subject = principal] = String(request.headers['x-test-principal'] ?? '').split('/');
    return tenantId && principal && subject
      ? { tenantId, principal, roles: ['viewer'], issuer: 'https://idp', subject, claimValue: subject }
      : undefined;
  };
  const api = new Api(app, {
    authenticate,
    addressCeiling: addressCeiling(app, { perMinute: limits.ceiling, cacheSize }),
    rateLimit: identityRateLimit(app, { ...limits, cacheSize, authenticate }),
  });
  api.route({
    method: 'get',
    path: '/api/v1/me',
    summary: 'me',
    tag: 't',
    roles: ['viewer'],
    response: z.object({ principal: z.string() }),
    handler: async ({ identity }) => ({ principal: identity.principal }),
  });
  const call = async (principal?: string) => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: principal ? { 'x-test-principal': principal } : {},
    });
    return { status: res.statusCode, code: res.json<{ error?: { code?: string } }>().error?.code };
  };
  return { call, authentications: () => authenticated.size };
}

describe('the API rate limit', () => {
  it('over the address ceiling: 429 RATE_LIMITED before any authentication, whoever the request claims to be', async () => {
    const { call, authentications } = await appWith({ ceiling: 4, perIdentity: 100, perAddress: 100 });
    for (const who of ['acme/a', 'acme/b', 'acme/c', 'acme/d']) expect((await call(who)).status).toBe(200);
    expect(authentications()).toBe(4);
    for (const who of ['acme/e', undefined, 'acme/f'])
      expect(await call(who)).toEqual({ status: 429, code: 'RATE_LIMITED' });
    expect(authentications()).toBe(4);
  });

  it('under the ceiling, the identity’s budget applies; requests proving none share the address’s', async () => {
    const { call } = await appWith({ ceiling: 100, perIdentity: 2, perAddress: 1 });
    expect((await call('acme/a')).status).toBe(200);
    expect((await call('acme/a')).status).toBe(200);
    expect(await call('acme/a')).toEqual({ status: 429, code: 'RATE_LIMITED' });
    expect((await call('acme/b')).status).toBe(200);
    expect((await call()).code).toBe('UNAUTHENTICATED');
    expect(await call()).toEqual({ status: 429, code: 'RATE_LIMITED' });
  });

  it('the budget is the principal’s: another identity (subject) of it shares it; the same name in another tenant does not', async () => {
    const { call } = await appWith({ ceiling: 100, perIdentity: 1, perAddress: 100 });
    expect((await call('acme/a/sub-1')).status).toBe(200);
    expect(await call('acme/a/sub-2')).toEqual({ status: 429, code: 'RATE_LIMITED' });
    expect((await call('globex/a/sub-1')).status).toBe(200);
  });

  it('each limiter counts at most the configured number of keys (least recently used out)', async () => {
    const { call } = await appWith({ ceiling: 100, perIdentity: 1, perAddress: 100, cacheSize: 2 });
    for (const who of ['acme/a', 'acme/b', 'acme/c']) expect((await call(who)).status).toBe(200);
    // a's counter was pushed out by c: a fresh budget (why the cache must hold a minute's keys).
    expect((await call('acme/a')).status).toBe(200);
    expect(await call('acme/c')).toEqual({ status: 429, code: 'RATE_LIMITED' });
  });
});
