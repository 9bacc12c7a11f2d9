import { isUniqueViolation, type Db } from './db.js';
import { PrincipalAlreadyLinkedError } from './errors.js';

/** The unique index of migration 0016: one identity per principal. */
const ONE_IDENTITY_PER_PRINCIPAL = 'principal_identities_one_per_principal';

/** A person's principal: the tenant and principal an OpenID Connect identity acts as. */
export interface IdentityLink {
  tenantId: string;
  principal: string;
  roles: string[];
}

/** Which OpenID Connect identity acts as which principal (`principal_identities`). */
export class IdentitiesRepository {
  constructor(private readonly db: Db) {}

  /** Links an identity (the configured claim's value at an issuer) to an existing principal; relinks it when linked. */
  async link(p: { issuer: string; claimValue: string; tenantId: string; principal: string }): Promise<void> {
    // One person, one principal: a principal linked to a second identity could vote twice in a quorum.
    const { rows } = await this.db.query<{ issuer: string }>(
      `select issuer from principal_identities
        where tenant_id = $1 and principal = $2 and (issuer, claim_value) <> ($3, $4) limit 1`,
      [p.tenantId, p.principal, p.issuer, p.claimValue],
    );
    if (rows[0]) throw new PrincipalAlreadyLinkedError(p.principal, rows[0].issuer);
    // The check above races another link of the same principal; the unique index does not. One statement:
    // `previous` is the identity's principal before this link. Its sessions and the target principal's
    // end (live() already wants the session's own link; this leaves no session to revive).
    await this.db
      .query(
        `with previous as (
           select tenant_id, principal from principal_identities where issuer = $1 and claim_value = $2
         ), linked as (
           insert into principal_identities (issuer, claim_value, tenant_id, principal) values ($1, $2, $3, $4)
           on conflict (issuer, claim_value) do update set tenant_id = excluded.tenant_id, principal = excluded.principal
         )
         delete from control_plane_sessions s
          where (s.tenant_id, s.principal) in (select tenant_id, principal from previous union all select $3, $4)`,
        [p.issuer, p.claimValue, p.tenantId, p.principal],
      )
      .catch((err: unknown) => {
        throw isUniqueViolation(err, ONE_IDENTITY_PER_PRINCIPAL) ? new PrincipalAlreadyLinkedError(p.principal) : err;
      });
  }

  /**
   * Removes an identity's link to a principal of the tenant and ends that principal's sessions; the
   * principal it was linked to, or undefined when it was linked to none of the tenant's.
   */
  async unlink(p: { issuer: string; claimValue: string; tenantId: string }): Promise<string | undefined> {
    const { rows } = await this.db.query<{ principal: string }>(
      `with unlinked as (
         delete from principal_identities where issuer = $1 and claim_value = $2 and tenant_id = $3
         returning tenant_id, principal
       ), ended as (
         delete from control_plane_sessions s using unlinked u where s.tenant_id = u.tenant_id and s.principal = u.principal
       )
       select principal from unlinked`,
      [p.issuer, p.claimValue, p.tenantId],
    );
    return rows[0]?.principal;
  }

  /** The principal an identity acts as, with the principal's roles; undefined when it is linked to none. */
  async resolve(p: { issuer: string; claimValue: string }): Promise<IdentityLink | undefined> {
    const { rows } = await this.db.query<{ tenant_id: string; principal: string; roles: string[] }>(
      `select i.tenant_id, i.principal, p.roles from principal_identities i
         join principals p using (tenant_id, principal)
        where i.issuer = $1 and i.claim_value = $2`,
      [p.issuer, p.claimValue],
    );
    const row = rows[0];
    return row && { tenantId: row.tenant_id, principal: row.principal, roles: row.roles };
  }
}

/** A signed-in person's portal session. */
export interface StoredSession {
  tenantId: string;
  principal: string;
  issuer: string;
  subject: string;
  /** The linked claim's value (`principal_identities.claim_value`) of the identity that signed in. */
  claimValue: string;
  roles: string[];
  expiresAt: Date;
}

/** Portal sessions by the SHA-256 of their cookie token (`control_plane_sessions`). */
export class SessionsRepository {
  constructor(private readonly db: Db) {}

  async create(p: StoredSession & { tokenSha256: string }): Promise<void> {
    await this.db.query(
      `insert into control_plane_sessions (token_sha256, tenant_id, principal, issuer, subject, claim_value, roles, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [p.tokenSha256, p.tenantId, p.principal, p.issuer, p.subject, p.claimValue, p.roles, p.expiresAt],
    );
  }

  /**
   * The live session with that token hash, with its principal's roles as they are now (undefined when
   * absent, expired, or the identity that opened it is no longer linked to exactly its principal).
   */
  async live(
    tokenSha256: string,
  ): Promise<(StoredSession & { principalRoles: string[]; createdAt: Date }) | undefined> {
    const { rows } = await this.db.query<{
      tenant_id: string;
      principal: string;
      issuer: string;
      subject: string;
      claim_value: string;
      roles: string[];
      principal_roles: string[];
      created_at: Date;
      expires_at: Date;
    }>(
      `select s.tenant_id, s.principal, s.issuer, s.subject, s.claim_value, s.roles, p.roles as principal_roles, s.created_at, s.expires_at
         from control_plane_sessions s join principals p using (tenant_id, principal)
        where s.token_sha256 = $1 and s.expires_at > now()
          and exists (select 1 from principal_identities i
                       where i.issuer = s.issuer and i.claim_value = s.claim_value
                         and i.tenant_id = s.tenant_id and i.principal = s.principal)`,
      [tokenSha256],
    );
    const r = rows[0];
    return (
      r && {
        tenantId: r.tenant_id,
        principal: r.principal,
        issuer: r.issuer,
        subject: r.subject,
        claimValue: r.claim_value,
        roles: r.roles,
        principalRoles: r.principal_roles,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
      }
    );
  }

  async end(tokenSha256: string): Promise<void> {
    await this.db.query('delete from control_plane_sessions where token_sha256 = $1', [tokenSha256]);
  }

  async pruneExpired(): Promise<number> {
    const { rowCount } = await this.db.query('delete from control_plane_sessions where expires_at <= now()');
    return rowCount ?? 0;
  }
}
