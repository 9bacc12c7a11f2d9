import { createHash, randomBytes } from 'node:crypto';
import type { SessionsRepository } from '@stepgate/store';
import { ROLES, type Identity, type Role } from './identity.js';

export const SESSION_COOKIE = 'sg_session';

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/** Portal sessions: a random token in an HttpOnly cookie; the database keeps only its hash. */
export class Sessions {
  constructor(
    private readonly repo: SessionsRepository,
    readonly ttlSeconds: number,
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

  async identity(token: string): Promise<Identity | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const s = await this.repo.live(sha256(token));
    return (
      s && {
        tenantId: s.tenantId,
        principal: s.principal,
        issuer: s.issuer,
        subject: s.subject,
        roles: s.roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r)),
      }
    );
  }

  close(token: string): Promise<void> {
    return this.repo.end(sha256(token));
  }
}
