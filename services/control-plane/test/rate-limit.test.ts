import Fastify, { type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Identity } from '../src/auth/identity.js';
import { addressCeiling, identityRateLimit } from '../src/api/rate-limit.js';
import { Api } from '../src/api/route.js';
import { asHttpError } from '../src/api/errors.js';

/** The limiter's order in-process: what a request over budget still costs (authentications counted). */
const apps: ReturnType<typeof Fastify>[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function appWith(limits: { ceiling: number; perIdentity: number; perAddress: number }) {
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
    const who = request.headers['x-test-principal'];
    return typeof who === 'string'
      ? { tenantId: 'acme', principal: who, roles: ['viewer'], issuer: 'https://idp', subject: who, claimValue: who }
      : undefined;
  };
  const api = new Api(app, {
    authenticate,
    addressCeiling: addressCeiling(app, { perMinute: limits.ceiling }),
    rateLimit: identityRateLimit(app, { perIdentity: limits.perIdentity, perAddress: limits.perAddress, authenticate }),
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
    return { status: res.statusCode, code: (res.json() as { error?: { code?: string } }).error?.code };
  };
  return { call, authentications: () => authenticated.size };
}

describe('the API rate limit', () => {
  it('over the address ceiling: 429 RATE_LIMITED before any authentication, whoever the request claims to be', async () => {
    const { call, authentications } = await appWith({ ceiling: 4, perIdentity: 100, perAddress: 100 });
    for (const who of ['a', 'b', 'c', 'd']) expect((await call(who)).status).toBe(200);
    expect(authentications()).toBe(4);
    for (const who of ['e', undefined, 'f']) expect(await call(who)).toEqual({ status: 429, code: 'RATE_LIMITED' });
    expect(authentications()).toBe(4);
  });

  it('under the ceiling, the identity’s budget applies; requests proving none share the address’s', async () => {
    const { call } = await appWith({ ceiling: 100, perIdentity: 2, perAddress: 1 });
    expect((await call('a')).status).toBe(200);
    expect((await call('a')).status).toBe(200);
    expect(await call('a')).toEqual({ status: 429, code: 'RATE_LIMITED' });
    expect((await call('b')).status).toBe(200);
    expect((await call()).code).toBe('UNAUTHENTICATED');
    expect(await call()).toEqual({ status: 429, code: 'RATE_LIMITED' });
  });
});
