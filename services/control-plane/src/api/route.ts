import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Identity, Role } from '../auth/identity.js';
import {
  forbidden,
  HttpError,
  INPUT_CHECKED_AFTER_AUTH,
  invalidInput,
  refuseUnacceptableInput,
  unauthenticated,
} from './errors.js';
import type { RateLimitHook } from './rate-limit.js';

// Named schemas (`registry.register`) need zod's `openapi` method.
extendZodWithOpenApi(z);

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;
type ObjectSchema = z.ZodObject;

export interface RouteContext<P, Q, B> {
  identity: Identity;
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteSpec<P, Q, B, R extends z.ZodType> {
  method: Method;
  /** OpenAPI style, `{name}` for a parameter. */
  path: string;
  summary: string;
  tag: string;
  /** Any one of these roles may call it. */
  roles: readonly Role[];
  params?: P;
  query?: Q;
  body?: B;
  /** The 200 answer; `stream` for a route that writes its own body (an export). */
  response: R | { stream: Record<string, string> };
  handler(ctx: RouteContext<P, Q, B>): Promise<z.input<R> | void>;
}

/** Who is calling: resolved once per request by the app (bearer token or session cookie). */
export type Authenticate = (request: FastifyRequest, reply: FastifyReply) => Promise<Identity | undefined>;

/** An API of routes that are each validated by their zod schemas and described by the same schemas in OpenAPI. */
export class Api {
  readonly registry = new OpenAPIRegistry();

  constructor(
    private readonly app: FastifyInstance,
    private readonly options: {
      authenticate: Authenticate;
      /** Runs first on every route, before authentication (429 RATE_LIMITED with Retry-After). */
      addressCeiling: RateLimitHook;
      /** Runs before every route's handler (429 RATE_LIMITED with Retry-After). */
      rateLimit: RateLimitHook;
    },
  ) {}

  schema<T extends z.ZodType>(name: string, schema: T): T {
    return this.registry.register(name, schema);
  }

  route<
    P extends ObjectSchema | undefined,
    Q extends ObjectSchema | undefined,
    B extends z.ZodType | undefined,
    R extends z.ZodType,
  >(spec: RouteSpec<P, Q, B, R>): void {
    const responses = {
      200:
        'stream' in spec.response
          ? {
              description: 'streamed',
              content: Object.fromEntries(
                Object.entries(spec.response.stream).map(([type, description]) => [
                  type,
                  { schema: { type: 'string' as const, description } },
                ]),
              ),
            }
          : { description: 'OK', content: { 'application/json': { schema: spec.response } } },
      400: { description: 'invalid input (field-level errors)' },
      401: { description: 'no identity' },
      403: { description: 'wrong role' },
      404: { description: 'not found, or not yours' },
      429: {
        description:
          'too many requests (RATE_LIMITED): per client address, then per identity or, for a request without a valid one, per client address',
        headers: {
          'Retry-After': { description: 'seconds until the budget refills', schema: { type: 'integer' as const } },
        },
      },
    };
    this.registry.registerPath({
      method: spec.method,
      path: spec.path,
      summary: spec.summary,
      tags: [spec.tag],
      security: [{ bearer: [] }, { session: [] }],
      request: {
        ...(spec.params ? { params: spec.params } : {}),
        ...(spec.query ? { query: spec.query } : {}),
        ...(spec.body ? { body: { content: { 'application/json': { schema: spec.body } } } } : {}),
      },
      responses,
    });
    this.app.route({
      method: spec.method.toUpperCase(),
      url: spec.path.replace(/\{(\w+)\}/g, ':$1'),
      onRequest: this.options.addressCeiling,
      preHandler: this.options.rateLimit,
      config: INPUT_CHECKED_AFTER_AUTH,
      handler: async (request, reply) => {
        const identity = await this.options.authenticate(request, reply);
        if (!identity) throw unauthenticated();
        if (!spec.roles.some((r) => identity.roles.includes(r))) throw forbidden(spec.roles);
        refuseUnacceptableInput(request);
        const ctx: RouteContext<P, Q, B> = {
          identity,
          params: parse(spec.params, request.params, 'path') as Parsed<P>,
          query: parse(spec.query, request.query, 'query') as Parsed<Q>,
          body: parse(spec.body, request.body, 'body') as Parsed<B>,
          request,
          reply,
        };
        const result = await spec.handler(ctx);
        // A streaming route has called reply.send itself; Fastify then wants the reply back.
        return result === undefined ? reply : result;
      },
    });
  }

  document(serverUrl: string) {
    this.registry.registerComponent('securitySchemes', 'bearer', {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description:
        'An access token of the configured OpenID Connect provider (issuer, audience and expiry are checked).',
    });
    this.registry.registerComponent('securitySchemes', 'session', {
      type: 'apiKey',
      in: 'cookie',
      name: 'sg_session',
      description: 'A portal session; changes also need the CSRF token (header x-csrf-token).',
    });
    return new OpenApiGeneratorV31(this.registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: {
        title: 'stepgate control plane',
        version: '1',
        description: 'Approvals, decisions, audit, policies, credentials and tenant settings of the caller’s tenant.',
      },
      servers: [{ url: serverUrl }],
    });
  }
}

function parse(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw invalidInput(where, r.error);
  return r.data;
}

export { HttpError };
