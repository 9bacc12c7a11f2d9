import { createHash, randomBytes } from 'node:crypto';
import type { SessionsRepository } from '@stepgate/store';
import { ROLES, type Identity, type Role } from './identity.js';

export const SESSION_COOKIE = 'sg_session';

/** Over https cookies carry the `__Host-` prefix: Secure, path `/`, no Domain, so no sibling host can set them. */
export const cookieName = (name: string, secure: boolean) => (secure ? `__Host-${name}` : name);

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/** Portal sessions: a random token in an HttpOnly cookie; the database keeps only its hash. */
export class Sessions {
  constructor(
    private readonly repo: SessionsRepository,
    readonly ttlSeconds: number,
    /** Roles came from the token's groups at sign-in (OIDC_GROUPS_CLAIM); otherwise the principal's, read each request. */
    private readonly rolesFromToken = false,
  ) {}

  async open(identity: Identity): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.repo.create({
      tokenSha256: sha256(token),
      tenantId: identity.tenantId,
      principal: identity.principal,
      issuer: identity.issuer,
      subject: identity.subject,
      roles: identity.roles,
      expiresAt: new Date(Date.now() + this.ttlSeconds * 1000),
    });
    return token;
  }

  /** The session's person as they are now: unlinked or expired is none, roles are the current ones. */
  async identity(token: string): Promise<Identity | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const s = await this.repo.live(sha256(token));
    return (
      s && {
        tenantId: s.tenantId,
        principal: s.principal,
        issuer: s.issuer,
        subject: s.subject,
        roles: (this.rolesFromToken ? s.roles : s.principalRoles).filter((r): r is Role =>
          (ROLES as readonly string[]).includes(r),
        ),
      }
    );
  }

  close(token: string): Promise<void> {
    return this.repo.end(sha256(token));
  }
}
