import { createHash } from 'node:crypto';
import { canonicalJson, type TenantNotice } from '@stepgate/contracts';
import { adminAudit, adminEnv, withServices } from '../admin/connections.js';
import { bundleOrThrow, readDocument } from '../files.js';
import { EXIT, type Io } from '../io.js';
import { installShadow } from './shadow.js';

/**
 * `stepgate apply`: validate, store as the tenant's next version, announce it on `policies`. With
 * `--shadow`, install it as the tenant's shadow bundle instead (evaluated beside, never deciding).
 */
export async function applyCommand(opts: { bundle: string; as?: string; shadow?: boolean }, io: Io): Promise<number> {
  const doc = await readDocument(opts.bundle, io.cwd);
  const bundle = bundleOrThrow(doc, opts.bundle);
  const sha256 = createHash('sha256').update(canonicalJson(doc)).digest('hex');
  if (opts.shadow) {
    await withServices(
      adminEnv(),
      (store, publish) => installShadow({ store, publish, tenant: bundle.tenant_id, bundle: doc, sha256, as: opts.as }),
      io,
    );
    io.out(`installed ${opts.bundle} as the shadow bundle of tenant ${bundle.tenant_id} (${sha256.slice(0, 12)})\n`);
    return EXIT.ok;
  }
  const result = await withServices(
    adminEnv(),
    async (store, publish) => {
      await store.tenants.ensure(bundle.tenant_id);
      const { version, changed } = await store.bundles.applyNext({
        tenantId: bundle.tenant_id,
        bundle: doc,
        sha256,
        appliedBy: opts.as ?? '',
      });
      // Announced even when unchanged: re-running apply repairs an evaluator that missed the notice.
      const notice: TenantNotice = { tenant_id: bundle.tenant_id, kind: 'bundle', version, sha256 };
      publish('policies', bundle.tenant_id, notice);
      if (!changed) return { version, changed };
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
    },
    io,
  );
  io.out(
    result.changed
      ? `applied ${opts.bundle}: tenant ${bundle.tenant_id} version ${result.version}\n`
      : `unchanged: tenant ${bundle.tenant_id} is already at this bundle (version ${result.version}); announced again\n`,
  );
  return EXIT.ok;
}
