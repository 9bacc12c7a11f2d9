import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, preHandlerAsyncHookHandler, FastifyRequest } from 'fastify';
import type { Identity } from '../auth/identity.js';
import { HttpError } from './errors.js';

const IDENTITY_KEY = 'identity:';
const ADDRESS_KEY = 'address:';

export interface ApiRateLimitOptions {
  /** Requests per minute of one proven identity (bearer subject or session). */
  perIdentity: number;
  /** Requests per minute of one client address whose request proves no identity. */
  perAddress: number;
  /** Who is calling; the limiter never trusts a claimed name, only what this proves. */
  authenticate(request: FastifyRequest): Promise<Identity | undefined>;
}

export const rateLimited = (retryAfter: string) =>
  new HttpError(429, 'RATE_LIMITED', `too many requests; try again in ${retryAfter}`);

/**
 * One budget over every `/api/v1` route (a preHandler, after the body is parsed, so a session's CSRF
 * check can run): keyed by the proven identity, or by the client address when the request proves none
 * (no credentials, or ones that do not verify). The counters are this process's.
 */
export function apiRateLimit(app: FastifyInstance, o: ApiRateLimitOptions): preHandlerAsyncHookHandler {
  return app.rateLimit({
    timeWindow: 60_000,
    keyGenerator: async (request) => {
      // A refusal (bad token, CSRF) is answered by the route itself; here it only means "no identity".
      const identity = await o.authenticate(request).catch(() => undefined);
      return identity
        ? `${IDENTITY_KEY}${identity.issuer}\n${identity.subject}`
        : `${ADDRESS_KEY}${normalizeIP(request.ip)}`;
    },
    max: (_request, key) => (key.startsWith(IDENTITY_KEY) ? o.perIdentity : o.perAddress),
    errorResponseBuilder: (_request, context) => rateLimited(context.after),
  });
}
