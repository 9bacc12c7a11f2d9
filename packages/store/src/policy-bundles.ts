import type { Db } from './db.js';
import { StoreError } from './errors.js';

export interface StoredBundle {
  version: number;
  bundle: unknown;
  sha256: string;
}

/** One line of a tenant's bundle history. */
export interface BundleVersion {
  version: number;
  sha256: string;
  applied_by: string;
  applied_at: Date;
  policies: number;
}

/** A tenant's shadow bundle: evaluated beside the active one, never deciding. */
export interface ShadowBundle {
  bundle: unknown;
  sha256: string;
  installed_by: string;
  installed_at: Date;
}

/** The version a history command names does not exist for the tenant. */
export class UnknownBundleVersionError extends StoreError {
  constructor(
    readonly tenantId: string,
    readonly version: number,
  ) {
    super(`tenant "${tenantId}" has no policy bundle version ${version}`);
  }
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

  /** Version `version` of the tenant's bundle; UnknownBundleVersionError when there is none. */
  async version(tenantId: string, version: number): Promise<StoredBundle & Omit<BundleVersion, 'policies'>> {
    const { rows } = await this.db.query<StoredBundle & Omit<BundleVersion, 'policies'>>(
      'select version, bundle, sha256, applied_by, applied_at from policy_bundles where tenant_id = $1 and version = $2',
      [tenantId, version],
    );
    if (!rows[0]) throw new UnknownBundleVersionError(tenantId, version);
    return rows[0];
  }

  /** The tenant's versions, newest first. */
  async history(tenantId: string, limit = 100): Promise<BundleVersion[]> {
    const { rows } = await this.db.query<BundleVersion>(
      `select version, sha256, applied_by, applied_at,
              coalesce(jsonb_array_length(case when jsonb_typeof(bundle->'policies') = 'array' then bundle->'policies' end), 0) as policies
         from policy_bundles where tenant_id = $1 order by version desc limit $2`,
      [tenantId, limit],
    );
    return rows;
  }

  /**
   * Stores a bundle as the tenant's next version unless it is the newest already (same sha256).
   * Serialised per tenant by a transaction-scoped advisory lock: run it in a transaction, with the
   * tenant existing. A rollback is this with an older version's bundle: it becomes the newest again.
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

  async shadow(tenantId: string): Promise<ShadowBundle | undefined> {
    const { rows } = await this.db.query<ShadowBundle>(
      'select bundle, sha256, installed_by, installed_at from policy_shadows where tenant_id = $1',
      [tenantId],
    );
    return rows[0];
  }

  /** Installs (or replaces) the tenant's shadow bundle. */
  async installShadow(p: { tenantId: string; bundle: unknown; sha256: string; installedBy: string }): Promise<void> {
    await this.db.query(
      `insert into policy_shadows (tenant_id, bundle, sha256, installed_by) values ($1, $2, $3, $4)
       on conflict (tenant_id) do update set bundle = excluded.bundle, sha256 = excluded.sha256,
         installed_by = excluded.installed_by, installed_at = now()`,
      [p.tenantId, p.bundle, p.sha256, p.installedBy],
    );
  }

  /** Removes the tenant's shadow bundle; returns what it was, if any. */
  async dropShadow(tenantId: string): Promise<ShadowBundle | undefined> {
    const { rows } = await this.db.query<ShadowBundle>(
      'delete from policy_shadows where tenant_id = $1 returning bundle, sha256, installed_by, installed_at',
      [tenantId],
    );
    return rows[0];
  }
}
