import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApprovalRefusedError } from '@stepgate/approvals-client';
import { sliceWellFormed } from '@stepgate/contracts';
import type { Identity } from '../auth/identity.js';
import { APPROVAL_READERS, identityFromClaims } from '../auth/identity.js';
import type { PendingSignIn } from '../auth/provider.js';
import { cookieName, SESSION_COOKIE as SESSION_COOKIE_NAME } from '../auth/sessions.js';
import type { CsrfTokens } from '../auth/csrf.js';
import type { AppDeps } from '../app.js';
import { asHttpError, HttpError, INPUT_CHECKED_AFTER_AUTH, notFound, refuseUnacceptableInput } from '../api/errors.js';
import { ApprovalParams, AuditQuery, DecideBody } from '../api/schemas.js';
import { readAuditPage } from '../api/audit-routes.js';
import type { RateLimitHook } from '../api/rate-limit.js';
import { html, page, type PageUser } from './html.js';
import { approvalDetail, approvalsList, auditPage } from './pages.js';

const SIGN_IN_COOKIE_NAME = 'sg_signin';

interface PortalDeps extends AppDeps {
  csrf: CsrfTokens;
  secureCookies: boolean;
  redirectUri: string;
  authenticate(request: FastifyRequest): Promise<Identity | undefined>;
  /** The API's limits: the address ceiling before authentication, then the identity's budget. */
  limits: { addressCeiling: RateLimitHook; identity: RateLimitHook };
}

const PendingSignInSchema = z.object({
  state: z.string(),
  nonce: z.string(),
  codeVerifier: z.string(),
  returnTo: z.string(),
});

/** Only a path of this portal (never another origin) is where a sign-in returns to. */
function safeReturnTo(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])[\w\-./?=&%]*$/.test(value) && value.length <= 512
    ? value
    : '/approvals';
}

/** The ID token's `exp` (seconds since the epoch; openid-client has checked it is there and not past). */
function expiryOf(claims: Record<string, unknown>): Date | undefined {
  return typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined;
}

/** The server-rendered portal: sign-in (OpenID Connect), approvals and the audit search. */
export function portalRoutes(app: FastifyInstance, deps: PortalDeps): void {
  const cookieBase = { httpOnly: true, secure: deps.secureCookies, sameSite: 'lax' as const, path: '/' };
  const SESSION_COOKIE = cookieName(SESSION_COOKIE_NAME, deps.secureCookies);
  const SIGN_IN_COOKIE = cookieName(SIGN_IN_COOKIE_NAME, deps.secureCookies);
  const signInLimit = {
    rateLimit: { max: deps.config.signInRatePerMinute, timeWindow: '1 minute', cache: deps.config.rateLimitCacheSize },
  };
  // Every route that authenticates spends the same budgets as the API.
  const limited = { onRequest: deps.limits.addressCeiling, preHandler: deps.limits.identity };
  // Pages for the signed-in check their input once the person is known (`signedIn`).
  const signedInPage = { ...limited, config: INPUT_CHECKED_AFTER_AUTH };

  /** The signed-in person, or a redirect to sign in (undefined: the reply is sent). */
  const signedIn = async (
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<(PageUser & { identity: Identity }) | undefined> => {
    const identity = request.headers.authorization ? undefined : await deps.authenticate(request);
    const token = request.cookies[SESSION_COOKIE];
    if (!identity || !token) {
      void reply.redirect(`/login?return_to=${encodeURIComponent(request.url)}`, 303);
      return undefined;
    }
    refuseUnacceptableInput(request);
    return { identity, principal: identity.principal, tenantId: identity.tenantId, csrf: deps.csrf.forSession(token) };
  };
  const send = (
    reply: FastifyReply,
    title: string,
    user: PageUser | undefined,
    body: ReturnType<typeof html>,
    status = 200,
  ) => reply.status(status).type('text/html; charset=utf-8').send(page({ title, user, body }));

  app.get('/', async (_request, reply) => reply.redirect('/approvals', 303));

  app.get('/login', { config: signInLimit }, async (request, reply) => {
    const { url, pending } = await deps.provider.startSignIn(
      safeReturnTo((request.query as { return_to?: unknown }).return_to),
    );
    reply.setCookie(SIGN_IN_COOKIE, JSON.stringify(pending), { ...cookieBase, signed: true, maxAge: 600 });
    return reply.redirect(url, 303);
  });

  app.get('/auth/callback', { config: signInLimit }, async (request, reply) => {
    const raw = request.cookies[SIGN_IN_COOKIE];
    const unsigned = raw ? request.unsignCookie(raw) : undefined;
    let pending: PendingSignIn;
    try {
      pending = PendingSignInSchema.parse(JSON.parse(unsigned?.valid ? (unsigned.value ?? '') : ''));
    } catch {
      throw new HttpError(400, 'SIGN_IN_EXPIRED', 'the sign-in expired or was started elsewhere; sign in again');
    }
    reply.clearCookie(SIGN_IN_COOKIE, cookieBase);
    let claims: Record<string, unknown>;
    try {
      claims = await deps.provider.finishSignIn(new URL(request.url, deps.redirectUri), pending);
    } catch (err) {
      request.log.warn({ err }, 'sign-in callback refused');
      throw new HttpError(401, 'SIGN_IN_FAILED', 'the identity provider did not confirm the sign-in');
    }
    const identity = await identityFromClaims(claims, deps.config.oidc, deps.store.identities);
    // Signing in again ends the session this browser had (whoever it belonged to).
    const previous = request.cookies[SESSION_COOKIE];
    if (previous) await deps.sessions.close(previous);
    const { token, expiresAt } = await deps.sessions.open({ identity, idTokenExpiresAt: expiryOf(claims) });
    const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
    reply.setCookie(SESSION_COOKIE, token, { ...cookieBase, maxAge });
    return reply.redirect(safeReturnTo(pending.returnTo), 303);
  });

  app.post('/logout', limited, async (request, reply) => {
    const identity = await deps.authenticate(request);
    if (identity && request.sessionToken) await deps.sessions.close(request.sessionToken);
    reply.clearCookie(SESSION_COOKIE, cookieBase);
    return send(reply, 'Signed out', undefined, html`<p>You are signed out. <a href="/login">Sign in again</a></p>`);
  });

  /** The approval pages show a tenant's requests (their reasons and inputs): a role is needed, as in the API. */
  const mayReadApprovals = (identity: Identity) => {
    if (!identity.roles.some((role) => APPROVAL_READERS.includes(role)))
      throw new HttpError(403, 'FORBIDDEN', `approvals need one of the roles ${APPROVAL_READERS.join(', ')}`);
  };

  app.get('/approvals', signedInPage, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (!user) return reply;
    mayReadApprovals(user.identity);
    const all = await deps.gateway.list(user.identity, { limit: 200 });
    return send(
      reply,
      'Approvals',
      user,
      approvalsList(
        all.filter((a) => a.status === 'pending'),
        all.filter((a) => a.status !== 'pending').slice(0, 50),
      ),
    );
  });

  const showApproval = async (
    reply: FastifyReply,
    user: PageUser & { identity: Identity },
    approvalId: string,
    extra: { message?: { kind: 'notice' | 'error'; text: string }; comment?: string; status?: number } = {},
  ) => {
    const detail = await deps.gateway.detail(user.identity, approvalId);
    if (!detail) throw notFound(`approval ${approvalId}`);
    const { approval, state } = detail;
    return send(
      reply,
      `Approval: ${approval.step_name ?? approval.step_id}`,
      user,
      approvalDetail({
        approval,
        state,
        csrf: user.csrf,
        canDecide: user.identity.roles.includes('approver'),
        message: extra.message,
        comment: extra.comment,
      }),
      extra.status,
    );
  };

  app.get('/approvals/:approval_id', signedInPage, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (!user) return reply;
    mayReadApprovals(user.identity);
    const params = ApprovalParams.safeParse(request.params);
    if (!params.success) throw notFound('such approval');
    const done = (request.query as { done?: unknown }).done;
    return showApproval(reply, user, params.data.approval_id, {
      ...(done === 'approved' || done === 'rejected'
        ? { message: { kind: 'notice' as const, text: `You ${done} this step.` } }
        : {}),
    });
  });

  app.post('/approvals/:approval_id/decide', signedInPage, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (!user) return reply;
    const params = ApprovalParams.safeParse(request.params);
    if (!params.success) throw notFound('such approval');
    const id = params.data.approval_id;
    if (!user.identity.roles.includes('approver'))
      throw new HttpError(403, 'FORBIDDEN', 'deciding needs the approver role');
    // A form post (or JSON object); anything else, no body included, is an empty form.
    const form: Record<string, unknown> =
      typeof request.body === 'object' && request.body !== null && !Array.isArray(request.body)
        ? (request.body as Record<string, unknown>)
        : {};
    const decision = form.decision === 'approve' || form.decision === 'reject' ? form.decision : undefined;
    const body = DecideBody.safeParse({
      comment: form.comment,
      ...(typeof form.action_digest === 'string' && form.action_digest ? { action_digest: form.action_digest } : {}),
    });
    if (!decision || !body.success) {
      const text = !decision ? 'Choose approve or reject.' : body.error!.issues.map((i) => i.message).join('; ');
      return showApproval(reply, user, id, {
        message: { kind: 'error', text },
        comment: typeof form.comment === 'string' ? sliceWellFormed(form.comment, 2000) : '',
        status: 400,
      });
    }
    try {
      await deps.gateway.decide({
        identity: user.identity,
        approvalId: id,
        decision,
        comment: body.data.comment,
        actionDigest: body.data.action_digest,
      });
    } catch (err) {
      if (!(err instanceof ApprovalRefusedError) || err.code === 'APPROVAL_NOT_FOUND') throw err;
      const e = asHttpError(err);
      return showApproval(reply, user, id, {
        message: { kind: 'error', text: `${e.message} (${e.code})` },
        status: e.status,
      });
    }
    return reply.redirect(`/approvals/${id}?done=${decision === 'approve' ? 'approved' : 'rejected'}`, 303);
  });

  app.get('/audit', signedInPage, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (!user) return reply;
    if (!user.identity.roles.some((r) => r === 'auditor' || r === 'admin'))
      throw new HttpError(403, 'FORBIDDEN', 'the audit trail needs the auditor or admin role');
    const raw = Object.fromEntries(
      Object.entries(request.query as Record<string, unknown>).filter(([, v]) => typeof v === 'string' && v !== ''),
    );
    const q = AuditQuery.safeParse(raw);
    const search = raw as Record<string, string>;
    if (!q.success) {
      const error = q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      return send(reply, 'Audit', user, auditPage({ search, rows: [], nextCursor: null, error }), 400);
    }
    const { events, next_cursor } = await readAuditPage(deps.store, user.identity.tenantId, q.data);
    return send(reply, 'Audit', user, auditPage({ search, rows: events, nextCursor: next_cursor }));
  });
}
