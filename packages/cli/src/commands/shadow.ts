import type { TenantNotice } from '@stepgate/contracts';
import { compileBundle } from '@stepgate/policy-engine';
import type { Store } from '@stepgate/store';
import { adminAudit, adminEnv, withServices } from '../admin/connections.js';
import { EXIT, InputError, type Io } from '../io.js';
import { renderReplay } from '../replay.js';
import { replayWindow } from './replay.js';

type Publish = (topic: 'policies' | 'audit', key: string, value: unknown) => void;

function announce(publish: Publish, tenant: string, sha256: string): void {
  const notice: TenantNotice = { tenant_id: tenant, kind: 'shadow', sha256 };
  publish('policies', tenant, notice);
}

/** `stepgate apply --shadow`: installs a validated bundle as the tenant's shadow (audited, announced). */
export async function installShadow(p: {
  store: Store;
  publish: Publish;
  tenant: string;
  bundle: unknown;
  sha256: string;
  as?: string | undefined;
}): Promise<void> {
  await p.store.tenants.ensure(p.tenant);
  await p.store.bundles.installShadow({
    tenantId: p.tenant,
    bundle: p.bundle,
    sha256: p.sha256,
    installedBy: p.as ?? '',
  });
  announce(p.publish, p.tenant, p.sha256);
  p.publish(
    'audit',
    p.tenant,
    adminAudit('ShadowBundleInstalled', p.tenant, 'Installed', { sha256: p.sha256, actor: p.as ?? null }),
  );
}

const noShadow = (tenant: string) =>
  new InputError(`tenant "${tenant}" has no shadow bundle (install one with apply --shadow)`);

async function shadowOrThrow(store: Store, tenant: string) {
  const shadow = await store.bundles.shadow(tenant);
  if (!shadow) throw noShadow(tenant);
  return shadow;
}

/**
 * `stepgate shadow report`: how the shadow would have decided every gate since it was installed
 * (the recorded inputs replayed against it), beside the live decisions. Live divergences are also
 * counted (stepgate_shadow_divergences_total) and audited (ShadowDivergence, sampled).
 */
export async function shadowReport(opts: { tenant: string; format?: string }, io: Io): Promise<number> {
  const { shadow, report } = await withServices(adminEnv(), async (store) => {
    const shadow = await shadowOrThrow(store, opts.tenant);
    const report = await replayWindow(
      store,
      { tenantId: opts.tenant, from: shadow.installed_at },
      compileBundle(shadow.bundle),
      io,
    );
    return { shadow, report };
  });
  if (opts.format === 'json')
    io.out(
      `${JSON.stringify({ tenant_id: opts.tenant, shadow_sha256: shadow.sha256, installed_at: shadow.installed_at, ...report })}\n`,
    );
  else
    io.out(
      `shadow ${shadow.sha256.slice(0, 12)} installed ${shadow.installed_at.toISOString()}\n${renderReplay(report)}`,
    );
  return EXIT.ok;
}

/** `stepgate shadow promote`: the shadow becomes the tenant's next version; the shadow is removed. */
export async function promoteShadow(opts: { tenant: string; as?: string }, io: Io): Promise<number> {
  const version = await withServices(
    adminEnv(),
    async (store, publish) => {
      // Taken out first (delete … returning): a shadow installed meanwhile is either the one promoted or
      // stays as the next shadow, never dropped unpromoted.
      const shadow = await store.bundles.dropShadow(opts.tenant);
      if (!shadow) throw noShadow(opts.tenant);
      const { version } = await store.bundles.applyNext({
        tenantId: opts.tenant,
        bundle: shadow.bundle,
        sha256: shadow.sha256,
        appliedBy: opts.as ?? '',
      });
      const notice: TenantNotice = { tenant_id: opts.tenant, kind: 'bundle', version, sha256: shadow.sha256 };
      publish('policies', opts.tenant, notice);
      publish(
        'audit',
        opts.tenant,
        adminAudit('ShadowBundlePromoted', opts.tenant, 'Promoted', {
          version,
          sha256: shadow.sha256,
          actor: opts.as ?? null,
        }),
      );
      return version;
    },
    io,
  );
  io.out(`promoted: tenant ${opts.tenant} version ${version} is the former shadow bundle\n`);
  return EXIT.ok;
}

/** `stepgate shadow drop`: removes the tenant's shadow bundle. */
export async function dropShadow(opts: { tenant: string; as?: string }, io: Io): Promise<number> {
  const dropped = await withServices(
    adminEnv(),
    async (store, publish) => {
      const dropped = await store.bundles.dropShadow(opts.tenant);
      if (!dropped) return undefined;
      announce(publish, opts.tenant, dropped.sha256);
      publish(
        'audit',
        opts.tenant,
        adminAudit('ShadowBundleDropped', opts.tenant, 'Dropped', { sha256: dropped.sha256, actor: opts.as ?? null }),
      );
      return dropped;
    },
    io,
  );
  if (!dropped) {
    io.err(`tenant ${opts.tenant} has no shadow bundle\n`);
    return EXIT.failed;
  }
  io.out(`dropped the shadow bundle of tenant ${opts.tenant}\n`);
  return EXIT.ok;
}
