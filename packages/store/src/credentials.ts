import type { Db } from './db.js';

export interface StoredCredential {
  keyId: string;
  tenantId: string;
  principal: string;
  publicKeyPem: string;
  revokedAt: Date | null;
}

/** Credentials (public keys) and the principals they act for. */
export class CredentialsRepository {
  constructor(private readonly db: Db) {}

  async byKeyId(keyId: string): Promise<StoredCredential | undefined> {
    const { rows } = await this.db.query<{
      tenant_id: string;
      principal: string;
      public_key_pem: string;
      revoked_at: Date | null;
    }>('select tenant_id, principal, public_key_pem, revoked_at from credentials where key_id = $1', [keyId]);
    const row = rows[0];
    return (
      row && {
        keyId,
        tenantId: row.tenant_id,
        principal: row.principal,
        publicKeyPem: row.public_key_pem,
        revokedAt: row.revoked_at,
      }
    );
  }

  /** Creates the principal, or sets its roles when given (undefined keeps the roles it has). */
  async upsertPrincipal(p: {
    tenantId: string;
    principal: string;
    roles?: readonly string[] | undefined;
  }): Promise<void> {
    await this.db.query(
      `insert into principals (tenant_id, principal, roles) values ($1, $2, coalesce($3::text[], '{}'))
       on conflict (tenant_id, principal) do update set roles = coalesce($3::text[], principals.roles)`,
      [p.tenantId, p.principal, p.roles ?? null],
    );
  }

  /** Creates a new principal with these roles; false (and nothing changed) when it already exists. */
  async createPrincipal(p: { tenantId: string; principal: string; roles: readonly string[] }): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `insert into principals (tenant_id, principal, roles) values ($1, $2, $3::text[])
       on conflict (tenant_id, principal) do nothing`,
      [p.tenantId, p.principal, p.roles],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Stores a new credential of an existing principal. */
  async create(p: { keyId: string; tenantId: string; principal: string; publicKeyPem: string }): Promise<void> {
    await this.db.query(
      'insert into credentials (key_id, tenant_id, principal, public_key_pem) values ($1, $2, $3, $4)',
      [p.keyId, p.tenantId, p.principal, p.publicKeyPem],
    );
  }

  /** Revokes an active credential; undefined when there is none with that key id. */
  async revoke(keyId: string): Promise<{ tenantId: string; principal: string } | undefined> {
    const { rows } = await this.db.query<{ tenant_id: string; principal: string }>(
      'update credentials set revoked_at = now() where key_id = $1 and revoked_at is null returning tenant_id, principal',
      [keyId],
    );
    const row = rows[0];
    return row && { tenantId: row.tenant_id, principal: row.principal };
  }

  async isActive(keyId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('select 1 from credentials where key_id = $1 and revoked_at is null', [
      keyId,
    ]);
    return (rowCount ?? 0) > 0;
  }

  /** Whether the principal holds a role in the tenant (false for an unknown principal). */
  /** The roles a principal of a tenant holds (none for an unknown principal). */
  async rolesOf(p: { tenantId: string; principal: string }): Promise<string[]> {
    const { rows } = await this.db.query<{ roles: string[] }>(
      'select roles from principals where tenant_id = $1 and principal = $2',
      [p.tenantId, p.principal],
    );
    return rows[0]?.roles ?? [];
  }

  async hasRole(p: { tenantId: string; principal: string; role: string }): Promise<boolean> {
    const { rows } = await this.db.query<{ ok: boolean }>(
      'select $3 = any(roles) as ok from principals where tenant_id = $1 and principal = $2',
      [p.tenantId, p.principal, p.role],
    );
    return rows[0]?.ok ?? false;
  }

  /** A tenant's credentials (public halves), newest first. */
  async listByTenant(tenantId: string): Promise<Array<StoredCredential & { createdAt: Date }>> {
    const { rows } = await this.db.query<{
      key_id: string;
      principal: string;
      public_key_pem: string;
      created_at: Date;
      revoked_at: Date | null;
    }>(
      `select key_id, principal, public_key_pem, created_at, revoked_at from credentials
        where tenant_id = $1 order by created_at desc, key_id`,
      [tenantId],
    );
    return rows.map((r) => ({
      keyId: r.key_id,
      tenantId,
      principal: r.principal,
      publicKeyPem: r.public_key_pem,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }));
  }
}
