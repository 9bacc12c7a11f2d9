import { createHash } from 'node:crypto';
import { canonicalJson, type TenantNotice } from '@stepgate/contracts';
import { diffBundles, validateBundle, type BundleDiff, type FieldChange } from '@stepgate/policy-engine';
import { UnknownBundleVersionError, type Store } from '@stepgate/store';
import { adminAudit, adminEnv, withServices } from '../admin/connections.js';
import { EXIT, InputError, printable, type Io } from '../io.js';

/** A `--version`/`--to`/diff argument: a positive version number. */
export function versionNumber(value: string, label: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InputError(`${label} "${value}": expected a version number (1, 2, …)`);
  return n;
}

/** A store read that names a missing version becomes the user's input error. */
function knownVersion<T>(read: Promise<T>): Promise<T> {
  return read.catch((err: unknown) => {
    throw err instanceof UnknownBundleVersionError ? new InputError(err.message) : err;
  });
}

/** `stepgate policies history`: the tenant's versions, newest first. */
export async function policiesHistory(opts: { tenant: string; json?: boolean }, io: Io): Promise<number> {
  const rows = await withServices(adminEnv(), (store) => store.bundles.history(opts.tenant));
  if (opts.json) io.out(`${JSON.stringify(rows)}\n`);
  else
    for (const r of rows)
      io.out(
        `v${r.version}\t${r.sha256.slice(0, 12)}\t${r.applied_at.toISOString()}\t${r.policies} policies\t${printable(r.applied_by || '-')}\n`,
      );
  return EXIT.ok;
}

/** `stepgate policies show --version N`: the stored bundle document of that version. */
export async function policiesShow(opts: { tenant: string; version: string }, io: Io): Promise<number> {
  const version = versionNumber(opts.version, '--version');
  const row = await withServices(adminEnv(), (store) => knownVersion(store.bundles.version(opts.tenant, version)));
  io.out(`${JSON.stringify(row.bundle, null, 2)}\n`);
  return EXIT.ok;
}

/** The diff of two stored versions of a tenant's bundle (what the CLI and the control plane serve). */
export async function versionDiff(store: Store, tenantId: string, from: number, to: number): Promise<BundleDiff> {
  const [a, b] = await Promise.all([
    knownVersion(store.bundles.version(tenantId, from)),
    knownVersion(store.bundles.version(tenantId, to)),
  ]);
  return diffBundles(a.bundle, b.bundle);
}

/** `stepgate policies diff A B`: policy by policy, field by field. */
export async function policiesDiff(
  from: string,
  to: string,
  opts: { tenant: string; json?: boolean },
  io: Io,
): Promise<number> {
  const a = versionNumber(from, 'from');
  const b = versionNumber(to, 'to');
  const diff = await withServices(adminEnv(), (store) => versionDiff(store, opts.tenant, a, b));
  if (opts.json) io.out(`${JSON.stringify(diff)}\n`);
  else io.out(renderDiff(diff, `v${a}`, `v${b}`));
  return EXIT.ok;
}

export function renderDiff(diff: BundleDiff, from: string, to: string): string {
  if (diff.same) return `${from} and ${to} are the same\n`;
  const field = (f: FieldChange) =>
    `    ${printable(f.path)}: ${printable(JSON.stringify(f.before) ?? '(absent)')} -> ${printable(JSON.stringify(f.after) ?? '(absent)')}\n`;
  let out = `--- ${from}\n+++ ${to}\n`;
  if (diff.settings.length) out += `settings\n${diff.settings.map(field).join('')}`;
  for (const list of ['policies', 'tools', 'delegations'] as const)
    for (const item of diff[list]) {
      const sign = item.change === 'added' ? '+' : item.change === 'removed' ? '-' : '~';
      out += `${sign} ${list.slice(0, -1).replace('ie', 'y')} ${printable(item.key)} (${item.change})\n`;
      if (item.change === 'changed') out += item.fields.map(field).join('');
    }
  return out;
}

/**
 * `stepgate policies rollback --to N`: version N's bundle applied again as a new version (history
 * only grows), audited as PolicyBundleRolledBack and announced to the evaluators.
 */
export async function policiesRollback(opts: { tenant: string; to: string; as?: string }, io: Io): Promise<number> {
  const target = versionNumber(opts.to, '--to');
  const result = await withServices(
    adminEnv(),
    async (store, publish) => {
      const old = await knownVersion(store.bundles.version(opts.tenant, target));
      const valid = validateBundle(old.bundle);
      if (!valid.ok)
        throw new InputError(
          `version ${target} no longer validates; not rolled back`,
          valid.issues.map((p) => `${p.path}: ${p.message}`),
        );
      const current = await store.bundles.latest(opts.tenant);
      const { version, changed } = await store.bundles.applyNext({
        tenantId: opts.tenant,
        bundle: old.bundle,
        sha256: old.sha256,
        appliedBy: opts.as ?? '',
      });
      const notice: TenantNotice = { tenant_id: opts.tenant, kind: 'bundle', version, sha256: old.sha256 };
      publish('policies', opts.tenant, notice);
      if (changed)
        publish(
          'audit',
          opts.tenant,
          adminAudit('PolicyBundleRolledBack', opts.tenant, 'RolledBack', {
            version,
            sha256: old.sha256,
            rolled_back_to: target,
            previous_version: current?.version ?? null,
            actor: opts.as ?? null,
          }),
        );
      return { version, changed };
    },
    io,
  );
  io.out(
    result.changed
      ? `rolled back: tenant ${opts.tenant} version ${result.version} is version ${target}'s bundle\n`
      : `unchanged: tenant ${opts.tenant} is already at version ${target}'s bundle (version ${result.version}); announced again\n`,
  );
  return EXIT.ok;
}

/** SHA-256 of a bundle document's canonical JSON: the `sha256` of its stored versions. */
export function bundleSha256(doc: unknown): string {
  return createHash('sha256').update(canonicalJson(doc)).digest('hex');
}
