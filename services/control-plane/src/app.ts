import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { ControlPlaneConfig } from './config.js';
import { identityFromClaims, type Identity } from './auth/identity.js';
import { InvalidTokenError, type OidcProvider } from './auth/provider.js';
import { cookieName, SESSION_COOKIE, type Sessions } from './auth/sessions.js';
import { CsrfTokens } from './auth/csrf.js';
import { Api } from './api/route.js';
import { addressCeiling, identityRateLimit } from './api/rate-limit.js';
import { asHttpError, HttpError, refuseUnacceptableInput } from './api/errors.js';
import type { ApiDeps } from './api/deps.js';
import { approvalRoutes } from './api/approval-routes.js';
import { auditRoutes } from './api/audit-routes.js';
import { adminRoutes } from './api/admin-routes.js';
import { webhookRoutes } from './api/webhook-routes.js';
import { portalRoutes } from './portal/routes.js';
import { html, page } from './portal/html.js';

export interface AppDeps extends ApiDeps {
  config: ControlPlaneConfig;
  provider: OidcProvider;
  sessions: Sessions;
  log: Logger;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity | undefined;
    /** The session cookie's token, when the request was authenticated by it. */
    sessionToken?: string | undefined;
  }
  interface FastifyContextConfig {
    /** The route refuses unacceptable input itself, after authenticating (see INPUT_CHECKED_AFTER_AUTH). */
    inputCheckedAfterAuth?: boolean;
  }
}

/** The control plane's HTTP app: the API under /api/v1, its OpenAPI document, and the portal. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const secure = new URL(config.portalBaseUrl).protocol === 'https:';
  const loggerInstance: FastifyBaseLogger = deps.log;
  const app = Fastify({ loggerInstance, trustProxy: false, bodyLimit: 1_048_576, forceCloseConnections: true });
  await app.register(cookie, { secret: config.cookieSecret });
  await app.register(formbody, { bodyLimit: 65_536 });
  await app.register(rateLimit, { global: false });
  if (config.corsOrigins?.length) await app.register(cors, { origin: config.corsOrigins, credentials: false });
  const csrf = new CsrfTokens(config.cookieSecret);

  /** Who is calling: a bearer token (programs) or the session cookie (the portal). */
  const identify = async (request: FastifyRequest): Promise<Identity | undefined> => {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(authorization);
      if (!m) throw new InvalidTokenError('expected "Authorization: Bearer <token>"');
      const claims = await deps.provider.verifyBearer(m[1]!);
      return (request.identity = await identityFromClaims(claims, config.oidc, deps.store.identities));
    }
    const token = request.cookies[cookieName(SESSION_COOKIE, secure)];
    if (!token) return undefined;
    const identity = await deps.sessions.identity(token);
    if (!identity) return undefined;
    // A cookie rides along with any cross-site request: changes also need the session's CSRF token.
    if (!SAFE_METHODS.has(request.method)) {
      const body = request.body as { _csrf?: unknown } | undefined;
      if (!csrf.matches(token, body?._csrf ?? request.headers['x-csrf-token']))
        throw new HttpError(403, 'CSRF_REFUSED', 'missing or invalid CSRF token');
    }
    request.sessionToken = token;
    return (request.identity = identity);
  };
  // Once per request, refusals included: the rate limiter and the route both ask.
  const attempts = new WeakMap<FastifyRequest, Promise<Identity | undefined>>();
  const authenticate = (request: FastifyRequest): Promise<Identity | undefined> => {
    let attempt = attempts.get(request);
    if (!attempt) attempts.set(request, (attempt = identify(request)));
    return attempt;
  };

  app.setErrorHandler((err, request, reply) => {
    const e = asHttpError(err);
    if (e.status >= 500) request.log.error({ err }, 'request failed');
    const body = { error: { code: e.code, message: e.message, ...(e.fields ? { fields: e.fields } : {}) } };
    if (request.url.startsWith('/api/') || !request.headers.accept?.includes('text/html'))
      return reply.status(e.status).send(body);
    return reply
      .status(e.status)
      .type('text/html; charset=utf-8')
      .send(
        page({
          title: e.status === 404 ? 'Not found' : 'Refused',
          body: html`<p class="error" role="alert">${e.message} (${e.code})</p>
            <p><a href="/approvals">Approvals</a></p>`,
        }),
      );
  });
  // Every route, API and portal form alike: what Postgres cannot store is refused before anything
  // reads it. Routes for signed-in callers check it themselves once the caller is known, so an
  // anonymous caller is told to sign in whatever it sent.
  app.addHook('preValidation', async (request) => {
    if (!request.routeOptions.config.inputCheckedAfterAuth) refuseUnacceptableInput(request);
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
    reply.header('x-frame-options', 'DENY');
    reply.header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
    );
    return payload;
  });

  // One budget for the API and the signed-in portal: a person spends the same one through either.
  const limits = {
    addressCeiling: addressCeiling(app, {
      perMinute: config.addressRatePerMinute,
      cacheSize: config.rateLimitCacheSize,
    }),
    identity: identityRateLimit(app, {
      perIdentity: config.apiRatePerMinute.identity,
      perAddress: config.apiRatePerMinute.anonymous,
      cacheSize: config.rateLimitCacheSize,
      authenticate,
    }),
  };
  const api = new Api(app, { authenticate, addressCeiling: limits.addressCeiling, rateLimit: limits.identity });
  approvalRoutes(api, deps);
  auditRoutes(api, deps);
  adminRoutes(api, deps);
  webhookRoutes(api, deps);
  const openapi = api.document(new URL('/', config.portalBaseUrl).href);
  app.get('/api/openapi.json', async () => openapi);

  portalRoutes(app, {
    ...deps,
    csrf,
    secureCookies: secure,
    authenticate,
    limits,
    redirectUri: callbackUrl(config.portalBaseUrl),
  });
  app.get('/healthz', async () => ({ status: 'alive' }));
  return app;
}

export function callbackUrl(portalBaseUrl: string): string {
  return new URL('auth/callback', portalBaseUrl).href;
}

export type { FastifyReply };
