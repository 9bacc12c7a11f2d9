import { normalizeIP, type CreateRateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Identity } from '../auth/identity.js';
import { HttpError } from './errors.js';

const IDENTITY_KEY = 'identity:';
const ADDRESS_KEY = 'address:';

/** A hook that answers 429 RATE_LIMITED (with Retry-After) when its budget is spent. */
export type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** How many keys each limiter counts at once (its LRU); a key pushed out starts a fresh budget. */
export interface LimiterCache {
  cacheSize: number;
}

export interface ApiRateLimitOptions extends LimiterCache {
  /** Requests per minute of one proven principal (bearer token or session, whichever identity maps to it). */
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
function limiter(app: FastifyInstance, options: CreateRateLimitOptions & LimiterCache): RateLimitHook {
  const { cacheSize, ...rest } = options;
  // `cache` is read by the store each limiter gets (its type is missing from CreateRateLimitOptions).
  const settings: CreateRateLimitOptions & { cache: number } = { timeWindow: 60_000, ...rest, cache: cacheSize };
  const count = app.createRateLimit(settings);
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
export function addressCeiling(app: FastifyInstance, o: { perMinute: number } & LimiterCache): RateLimitHook {
  return limiter(app, {
    keyGenerator: (request) => normalizeIP(request.ip),
    max: o.perMinute,
    cacheSize: o.cacheSize,
  });
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
      // The principal, not the token's subject: every identity that maps to it spends one budget.
      return identity
        ? `${IDENTITY_KEY}${JSON.stringify([identity.tenantId, identity.principal])}`
        : `${ADDRESS_KEY}${normalizeIP(request.ip)}`;
    },
    max: (_request, key) => (key.startsWith(IDENTITY_KEY) ? o.perIdentity : o.perAddress),
    cacheSize: o.cacheSize,
  });
}
