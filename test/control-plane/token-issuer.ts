import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

/**
 * A minimal OpenID Connect issuer for API tests: discovery and a JWKS over HTTP, and tokens signed
 * with its key (or another key, to forge one). The control plane verifies them as it would any
 * provider's.
 */
export async function startTokenIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const forger = await generateKeyPair('ES256');
  const kid = 'test-key';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const server = createServer((req, res) => {
    const body =
      req.url === '/.well-known/openid-configuration'
        ? {
            issuer,
            authorization_endpoint: `${issuer}/authorize`,
            token_endpoint: `${issuer}/token`,
            jwks_uri: `${issuer}/jwks`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['ES256'],
          }
        : req.url === '/jwks'
          ? { keys: [jwk] }
          : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    /** A signed access token; `claims` override the defaults (iss, aud, exp in 5 minutes). */
    async token(
      p: { sub: string; email?: string; audience?: string; expiresIn?: string | number; forged?: boolean } & Record<
        string,
        unknown
      >,
    ): Promise<string> {
      const { sub, email, audience, expiresIn, forged, ...extra } = p;
      const key: CryptoKey = forged ? forger.privateKey : privateKey;
      return new SignJWT({ ...(email ? { email, email_verified: true } : {}), ...extra })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(issuer)
        .setSubject(sub)
        .setAudience(audience ?? 'stepgate-portal')
        .setIssuedAt()
        .setExpirationTime(expiresIn ?? '5m')
        .sign(key);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
