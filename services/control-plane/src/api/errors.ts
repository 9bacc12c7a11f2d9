import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ApprovalRefusedError } from '@stepgate/approvals-client';
import { UnknownBundleVersionError } from '@stepgate/store';
import { clip, findUnacceptable, UNACCEPTABLE_MESSAGES, type ApprovalErrorCode } from '@stepgate/contracts';
import { UnmappedIdentityError, UnverifiedEmailError } from '../auth/identity.js';
import { InvalidTokenError, ProviderUnavailableError } from '../auth/provider.js';
import { GatewayNotConfiguredError } from '../gateway.js';

export interface FieldError {
  field: string;
  message: string;
}

/** A refusal with its HTTP status and a stable code; `fields` for 400. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: FieldError[],
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const unauthenticated = () => new HttpError(401, 'UNAUTHENTICATED', 'sign in, or send a bearer token');
export const forbidden = (roles: readonly string[]) =>
  new HttpError(403, 'FORBIDDEN', `this needs the role ${roles.join(' or ')}`);
export const notFound = (what: string) => new HttpError(404, 'NOT_FOUND', `no ${what}`);

export const principalExists = (principal: string) =>
  new HttpError(409, 'PRINCIPAL_EXISTS', `the principal ${principal} exists; the API creates new principals only`);

export function invalidInput(where: string, error: z.ZodError): HttpError {
  return new HttpError(
    400,
    'INVALID_INPUT',
    `invalid ${where}`,
    error.issues.map((i) => ({ field: [where, ...i.path.map(String)].join('.'), message: i.message })),
  );
}

const APPROVAL_STATUS: Partial<Record<ApprovalErrorCode, number>> = {
  APPROVAL_NOT_FOUND: 404,
  APPROVAL_ALREADY_RESOLVED: 409,
  APPROVAL_EXPIRED: 409,
  DIGEST_MISMATCH: 409,
  INVALID_APPROVAL_INPUT: 400,
};

/** Any error as the refusal the API answers with (500 for what is not a known refusal). */
export function asHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof UnknownBundleVersionError) return new HttpError(404, 'NOT_FOUND', err.message);
  if (err instanceof InvalidTokenError) return new HttpError(401, err.code, err.message);
  if (err instanceof UnverifiedEmailError) return new HttpError(401, err.code, err.message);
  if (err instanceof UnmappedIdentityError) return new HttpError(403, err.code, err.message);
  if (err instanceof ProviderUnavailableError || err instanceof GatewayNotConfiguredError)
    return new HttpError(503, err.code, err.message);
  if (err instanceof ApprovalRefusedError)
    return new HttpError(APPROVAL_STATUS[err.code] ?? 403, err.code, err.message);
  const fastify = err as { statusCode?: number; code?: string; message?: string };
  if (typeof fastify.code === 'string' && fastify.code.startsWith('FST_CSRF'))
    return new HttpError(403, 'CSRF_REFUSED', 'missing or invalid CSRF token');
  if (fastify.statusCode === 429) return new HttpError(429, 'RATE_LIMITED', 'too many requests; try again later');
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500)
    return new HttpError(fastify.statusCode, fastify.code ?? 'BAD_REQUEST', fastify.message ?? 'bad request');
  return new HttpError(500, 'INTERNAL', 'internal error');
}

/**
 * The refusal of a path, query or body holding what Postgres cannot store (a NUL or a lone surrogate,
 * which JSON and percent-encoding can carry: the write fails, a 500 or worse) or a reserved key, naming
 * the field; undefined when there is none.
 */
export function unacceptableInput(parts: Record<'path' | 'query' | 'body', unknown>): HttpError | undefined {
  for (const [where, value] of Object.entries(parts)) {
    const found = findUnacceptable(value);
    if (!found) continue;
    const field = found.path === '(root)' ? where : `${where}.${clip(found.path)}`;
    return new HttpError(400, 'INVALID_INPUT', `invalid ${where}`, [
      { field, message: UNACCEPTABLE_MESSAGES[found.kind] },
    ]);
  }
  return undefined;
}

/** What a route's config says when it checks its input itself, once the caller is authenticated. */
export const INPUT_CHECKED_AFTER_AUTH = { inputCheckedAfterAuth: true } as const;

/** Throws `unacceptableInput`'s refusal of this request's path, query or body, if any. */
export function refuseUnacceptableInput(request: FastifyRequest): void {
  const refused = unacceptableInput({ path: request.params, query: request.query, body: request.body });
  if (refused) throw refused;
}
