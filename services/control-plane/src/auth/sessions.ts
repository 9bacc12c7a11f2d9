import { createHash, randomBytes } from 'node:crypto';
import type { SessionsRepository } from '@stepgate/store';
import { ROLES, type Identity, type Role } from './identity.js';

export const SESSION_COOKIE = 'sg_session';

/** Over https cookies carry the `__Host-` prefix: Secure, path `/`, no Domain, so no sibling host can set them. */
export const cookieName = (name: string, secure: boolean) => (secure ? `__Host-${name}` : name);

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

export interface SessionSettings {
  ttlSeconds: number;
  /**
   * Set when roles come from the token's groups at sign-in (OIDC_GROUPS_CLAIM): they are not read again,
   * so the session ends at the ID token's expiry or after `maxSeconds`, whichever is first. Otherwise
   * the roles are the principal's, read on each request, and the session lasts `ttlSeconds`.
   */
  rolesFromGroups?: { maxSeconds: number } | undefined;
}

/** Portal sessions: a random token in an HttpOnly cookie; the database keeps only its hash. */
export class Sessions {
  constructor(
    private readonly repo: SessionsRepository,
    private readonly settings: SessionSettings,
  ) {}

  /** Opens a session for a signed-in person; `idTokenExpiresAt` is the ID token's `exp`. */
  async open(p: {
    identity: Identity;
    idTokenExpiresAt?: Date | undefined;
  }): Promise<{ token: string; expiresAt: Date }> {
    const token = randomBytes(32).toString('base64url');
    const { identity } = p;
    const expiresAt = this.expiry(new Date(), p.idTokenExpiresAt);
    await this.repo.create({
      tokenSha256: sha256(token),
      tenantId: identity.tenantId,
      principal: identity.principal,
      issuer: identity.issuer,
      subject: identity.subject,
      claimValue: identity.claimValue,
      roles: identity.roles,
      expiresAt,
    });
    return { token, expiresAt };
  }

  private expiry(now: Date, idTokenExpiresAt: Date | undefined): Date {
    const end = now.getTime() + this.settings.ttlSeconds * 1000;
    const groups = this.settings.rolesFromGroups;
    if (!groups) return new Date(end);
    return new Date(
      Math.min(end, now.getTime() + groups.maxSeconds * 1000, idTokenExpiresAt?.getTime() ?? Number.POSITIVE_INFINITY),
    );
  }

  /**
   * The session's person as they are now: expired, or its identity no longer linked to its principal, is none; roles are the principal's current
   * ones, or the groups' at sign-in within the bounded session.
   */
  async identity(token: string): Promise<Identity | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const s = await this.repo.live(sha256(token));
    if (!s) return undefined;
    const groups = this.settings.rolesFromGroups;
    // Also bounds sessions opened with a longer lifetime (before groups were configured, or by an older version).
    if (groups && s.createdAt.getTime() + groups.maxSeconds * 1000 <= Date.now()) return undefined;
    return {
      tenantId: s.tenantId,
      principal: s.principal,
      issuer: s.issuer,
      subject: s.subject,
      claimValue: s.claimValue,
      roles: (groups ? s.roles : s.principalRoles).filter((r): r is Role => (ROLES as readonly string[]).includes(r)),
    };
  }

  close(token: string): Promise<void> {
    return this.repo.end(sha256(token));
  }
}
