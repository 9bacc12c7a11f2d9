import { createHash } from 'node:crypto';
import { canonicalJson } from '@stepgate/contracts';
import { adminAudit, adminEnv, withServices } from '../admin/connections.js';
import { bundleOrThrow, readDocument } from '../files.js';
import { EXIT, type Io } from '../io.js';

/** `stepgate apply`: validate, store as the tenant's next version, announce it on `policies`. */
export async function applyCommand(opts: { bundle: string; as?: string }, io: Io): Promise<number> {
  const doc = await readDocument(opts.bundle, io.cwd);
  const bundle = bundleOrThrow(doc, opts.bundle);
  const sha256 = createHash('sha256').update(canonicalJson(doc)).digest('hex');
  const result = await withServices(adminEnv(), async (db, publish) => {
    await db.query('insert into tenants (tenant_id) values ($1) on conflict do nothing', [bundle.tenant_id]);
    await db.query('select pg_advisory_xact_lock(hashtext($1))', [`stepgate-apply:${bundle.tenant_id}`]);
    const latest = await db.query<{ version: number; sha256: string }>(
      'select version, sha256 from policy_bundles where tenant_id = $1 order by version desc limit 1',
      [bundle.tenant_id],
    );
    if (latest.rows[0]?.sha256 === sha256) return { version: latest.rows[0].version, changed: false };
    const version = (latest.rows[0]?.version ?? 0) + 1;
    await db.query(
      'insert into policy_bundles (tenant_id, version, bundle, sha256, applied_by) values ($1, $2, $3, $4, $5)',
      [bundle.tenant_id, version, doc, sha256, opts.as ?? ''],
    );
    publish('policies', bundle.tenant_id, { tenant_id: bundle.tenant_id, version, sha256 });
    publish(
      'audit',
      bundle.tenant_id,
      adminAudit('PolicyBundleApplied', bundle.tenant_id, 'Applied', {
        version,
        sha256,
        policies: bundle.policies.length,
        actor: opts.as ?? null,
      }),
    );
    return { version, changed: true };
  });
  io.out(
    result.changed
      ? `applied ${opts.bundle}: tenant ${bundle.tenant_id} version ${result.version}\n`
      : `unchanged: tenant ${bundle.tenant_id} is already at this bundle (version ${result.version})\n`,
  );
  return EXIT.ok;
}
