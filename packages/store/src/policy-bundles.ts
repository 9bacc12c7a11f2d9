import type { Db } from './db.js';

export interface StoredBundle {
  version: number;
  bundle: unknown;
  sha256: string;
}

/** Every applied policy bundle, by tenant and version; the newest version is the tenant's policy. */
export class PolicyBundlesRepository {
  constructor(private readonly db: Db) {}

  async latest(tenantId: string): Promise<StoredBundle | undefined> {
    const { rows } = await this.db.query<StoredBundle>(
      'select version, bundle, sha256 from policy_bundles where tenant_id = $1 order by version desc limit 1',
      [tenantId],
    );
    return rows[0];
  }

  /**
   * Stores a bundle as the tenant's next version unless it is the newest already (same sha256).
   * Serialised per tenant by a transaction-scoped advisory lock: run it in a transaction, with the
   * tenant existing.
   */
  async applyNext(p: {
    tenantId: string;
    bundle: unknown;
    sha256: string;
    appliedBy: string;
  }): Promise<{ version: number; changed: boolean }> {
    await this.db.query('select pg_advisory_xact_lock(hashtext($1))', [`stepgate-apply:${p.tenantId}`]);
    const latest = await this.latest(p.tenantId);
    if (latest?.sha256 === p.sha256) return { version: latest.version, changed: false };
    const version = (latest?.version ?? 0) + 1;
    await this.db.query(
      'insert into policy_bundles (tenant_id, version, bundle, sha256, applied_by) values ($1, $2, $3, $4, $5)',
      [p.tenantId, version, p.bundle, p.sha256, p.appliedBy],
    );
    return { version, changed: true };
  }

  /** A tenant's applied versions, newest first (without the bundles). */
  async versions(
    tenantId: string,
  ): Promise<Array<{ version: number; sha256: string; applied_by: string; applied_at: Date }>> {
    const { rows } = await this.db.query<{ version: number; sha256: string; applied_by: string; applied_at: Date }>(
      `select version, sha256, coalesce(applied_by, '') as applied_by, applied_at from policy_bundles
        where tenant_id = $1 order by version desc`,
      [tenantId],
    );
    return rows;
  }

  async byVersion(tenantId: string, version: number): Promise<StoredBundle | undefined> {
    const { rows } = await this.db.query<StoredBundle>(
      'select version, bundle, sha256 from policy_bundles where tenant_id = $1 and version = $2',
      [tenantId, version],
    );
    return rows[0];
  }
}
