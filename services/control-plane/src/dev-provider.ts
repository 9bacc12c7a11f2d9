import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { escapeHtml } from './portal/html.js';

/** A person of the embedded provider. */
export interface DevUser {
  /** The login name (also the `sub`). */
  login: string;
  password: string;
  email: string;
  name: string;
  /** Put in a `groups` claim (for trying OIDC_GROUPS_CLAIM). */
  groups?: string[];
}

export interface DevProviderOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  users: readonly DevUser[];
  /** ID token lifetime (default oidc-provider's, an hour); short in tests of session expiry. */
  idTokenTtlSeconds?: number;
}

export interface DevProvider {
  issuer: string;
  close(): Promise<void>;
}

/**
 * An OpenID Connect provider for `npm run dev` and the tests (the `oidc-provider` package): one
 * confidential client with PKCE required, a login form for a fixed list of people, no consent step
 * (the portal is the provider's only client). Not for production: point the control plane at a real
 * provider there.
 */
export async function startDevProvider(o: DevProviderOptions): Promise<DevProvider> {
  const host = o.host ?? '127.0.0.1';
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(o.port, host, resolve));
  const issuer = `http://${host}:${(server.address() as AddressInfo).port}`;
  const users = new Map(o.users.map((u) => [u.login, u]));
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomBytes(6).toString('hex'), alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: o.clientId,
        client_secret: o.clientSecret,
        redirect_uris: o.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    pkce: { required: () => true },
    ttl: { IdToken: o.idTokenTtlSeconds ?? 3600 },
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: KoaContextWithOIDC, id: string) => {
      const u = users.get(id);
      return (
        u && {
          accountId: id,
          claims: () => ({
            sub: id,
            email: u.email,
            email_verified: true,
            name: u.name,
            ...(u.groups ? { groups: u.groups } : {}),
          }),
        }
      );
    },
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const clientId = ctx.oidc.client!.clientId;
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  const callback = provider.callback();

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/interaction/')) return void callback(req, res);
    interaction(provider, users, req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  });

  return {
    issuer,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function interaction(
  provider: Provider,
  users: Map<string, DevUser>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name !== 'login') throw new Error(`unexpected prompt ${details.prompt.name}`);
  if (req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const user = users.get(form.get('login') ?? '');
    if (user && samePassword(user.password, form.get('password') ?? '')) {
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: user.login } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    return loginForm(res, details.uid, 'Unknown user or wrong password.');
  }
  loginForm(res, details.uid);
}

function samePassword(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 10_000) throw new Error('form too large');
  }
  return body;
}

function loginForm(res: ServerResponse, uid: string, error?: string): void {
  res.writeHead(error ? 401 : 200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · stepgate dev provider</title>
<style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:4rem auto}label{display:block;margin:.6rem 0 .2rem;font-weight:600}input{font:inherit;width:100%;padding:.3rem}button{font:inherit;margin-top:1rem;padding:.4rem 1rem}</style></head>
<body><h1>Sign in</h1><p>stepgate's embedded OpenID Connect provider (development only).</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}">
<label for="login">User name</label><input id="login" name="login" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></body></html>`);
}
