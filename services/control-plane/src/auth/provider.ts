import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { OidcSettings } from '../config.js';

/** Asymmetric algorithms only: never `none` or an HMAC keyed with a public key. */
const BEARER_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'PS256'];

/** A bearer token that does not verify (signature, issuer, audience, expiry); answered 401. */
export class InvalidTokenError extends Error {
  readonly code = 'INVALID_TOKEN';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTokenError';
  }
}

/** What a sign-in needs to remember between the redirect and the callback. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Where to go after signing in (a path of the portal). */
  returnTo: string;
}

/**
 * The OpenID Connect provider: discovered on first use (and again after a failure), so the control
 * plane starts while the provider is down and recovers when it answers.
 */
export class OidcProvider {
  private discovered: Promise<{ config: client.Configuration; jwks: JWTVerifyGetKey; issuer: string }> | undefined;

  constructor(
    private readonly settings: OidcSettings,
    private readonly redirectUri: string,
  ) {}

  private discover() {
    this.discovered ??= (async () => {
      const s = this.settings;
      const config = await client.discovery(
        new URL(s.issuer),
        s.clientId,
        s.clientSecret,
        undefined,
        s.allowInsecureHttp ? { execute: [client.allowInsecureRequests] } : undefined,
      );
      const jwksUri = config.serverMetadata().jwks_uri;
      if (!jwksUri) throw new Error(`the provider ${s.issuer} publishes no jwks_uri`);
      return { config, jwks: createRemoteJWKSet(new URL(jwksUri)), issuer: config.serverMetadata().issuer };
    })();
    this.discovered.catch(() => (this.discovered = undefined));
    return this.discovered;
  }

  /** The provider's authorization URL for a new sign-in (code flow with PKCE), and what to remember. */
  async startSignIn(returnTo: string): Promise<{ url: string; pending: PendingSignIn }> {
    const { config } = await this.discover();
    const codeVerifier = client.randomPKCECodeVerifier();
    const pending: PendingSignIn = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier, returnTo };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: this.settings.scopes,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url: url.href, pending };
  }

  /** Redeems the callback's code; returns the ID token's verified claims. */
  async finishSignIn(callbackUrl: URL, pending: PendingSignIn): Promise<Record<string, unknown>> {
    const { config } = await this.discover();
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: pending.codeVerifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (!claims) throw new Error('the provider returned no ID token');
    return { ...claims };
  }

  /** Verifies a bearer JWT against the provider's keys: signature, issuer, audience, expiry. */
  async verifyBearer(token: string): Promise<Record<string, unknown>> {
    let jwks: JWTVerifyGetKey;
    let issuer: string;
    try {
      ({ jwks, issuer } = await this.discover());
    } catch (err) {
      throw new ProviderUnavailableError(err);
    }
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        audience: this.settings.audience,
        algorithms: BEARER_ALGORITHMS,
        requiredClaims: ['exp', 'sub'],
      });
      return { ...payload };
    } catch (err) {
      throw new InvalidTokenError(err instanceof Error ? err.message : 'the token does not verify');
    }
  }
}

/** The provider did not answer discovery (answered 503). */
export class ProviderUnavailableError extends Error {
  readonly code = 'IDENTITY_PROVIDER_UNAVAILABLE';
  constructor(cause: unknown) {
    super(`the identity provider does not answer: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ProviderUnavailableError';
  }
}
