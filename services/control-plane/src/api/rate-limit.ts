import { normalizeIP, type CreateRateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Identity } from '../auth/identity.js';
import { HttpError } from './errors.js';

const IDENTITY_KEY = 'identity:';
const ADDRESS_KEY = 'address:';

/** A hook that answers 429 RATE_LIMITED (with Retry-After) when its budget is spent. */
export type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface ApiRateLimitOptions {
  /** Requests per minute of one proven identity (bearer subject or session). */
  perIdentity: number;
  /** Requests per minute of one client address whose request proves no identity. */
  perAddress: number;
  /** Who is calling; the limiter never trusts a claimed name, only what this proves. */
  authenticate(request: FastifyRequest): Promise<Identity | undefined>;
}

export const rateLimited = (retryAfterSeconds: number) =>
  new HttpError(429, 'RATE_LIMITED', `too many requests; try again in ${retryAfterSeconds} s`);

/**
 * A budget per minute of @fastify/rate-limit's counters (this process's). Its own hooks mark a request
 * as limited once, so a second limiter on the same request would be skipped: these count through
 * `createRateLimit` instead, each limiter independently.
 */
function limiter(app: FastifyInstance, options: CreateRateLimitOptions): RateLimitHook {
  const count = app.createRateLimit({ timeWindow: 60_000, ...options });
  return async (request, reply) => {
    const r = await count(request);
    if (r.isAllowed || !r.isExceeded) return;
    void reply.header('retry-after', r.ttlInSeconds);
    throw rateLimited(r.ttlInSeconds);
  };
}

/**
 * Every request of one client address, before anything about it is verified (an onRequest hook): a
 * ceiling on what random cookies or tokens can cost (a session query or a JWT verification each).
 * Generous: many people behind one proxy share it.
 */
export function addressCeiling(app: FastifyInstance, o: { perMinute: number }): RateLimitHook {
  return limiter(app, { keyGenerator: (request) => normalizeIP(request.ip), max: o.perMinute });
}

/**
 * The budget of whoever a request proves to be (a preHandler, after the body is parsed, so a session's
 * CSRF check can run): keyed by the proven identity, or by the client address when the request proves
 * none (no credentials, or ones that do not verify).
 */
export function identityRateLimit(app: FastifyInstance, o: ApiRateLimitOptions): RateLimitHook {
  return limiter(app, {
    keyGenerator: async (request) => {
      // A refusal (bad token, CSRF) is answered by the route itself; here it only means "no identity".
      const identity = await o.authenticate(request).catch(() => undefined);
      return identity
        ? `${IDENTITY_KEY}${identity.issuer}\n${identity.subject}`
        : `${ADDRESS_KEY}${normalizeIP(request.ip)}`;
    },
    max: (_request, key) => (key.startsWith(IDENTITY_KEY) ? o.perIdentity : o.perAddress),
  });
}
