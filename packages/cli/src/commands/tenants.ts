import { UnknownTenantError, type TenantRow } from '@stepgate/store';
import { adminAudit, adminEnv, unknownTenant, withServices } from '../admin/connections.js';
import { EXIT, InputError, type Io } from '../io.js';

/** `--approval-timeout`: seconds, or `default` for the approvals service's own default. */
function approvalTimeout(value: string): number | null {
  if (value === 'default') return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InputError(`--approval-timeout "${value}": expected a positive number of seconds, or "default"`);
  return n;
}

/**
 * `stepgate tenants set`: a tenant's display name and approval timeout (used when the matching
 * policy names none). Audited as `TenantSettingsChanged`, which raises a `config_change` alert.
 */
export async function setTenant(
  opts: { tenant: string; displayName?: string; approvalTimeout?: string; as?: string },
  io: Io,
): Promise<number> {
  if (opts.displayName === undefined && opts.approvalTimeout === undefined)
    throw new InputError('nothing to set: expected --display-name and/or --approval-timeout');
  const timeout = opts.approvalTimeout === undefined ? undefined : approvalTimeout(opts.approvalTimeout);
  const { before, after } = await withServices(
    adminEnv(),
    async (store, publish) => {
      const { before, after } = await store.tenants
        .update({ tenantId: opts.tenant, displayName: opts.displayName, approvalTimeoutSeconds: timeout })
        .catch((err: unknown) => {
          throw err instanceof UnknownTenantError ? unknownTenant(opts.tenant) : err;
        });
      const { tenant_id: _b, ...previous } = before;
      const { tenant_id: _a, ...settings } = after;
      publish(
        'audit',
        opts.tenant,
        adminAudit('TenantSettingsChanged', opts.tenant, 'Changed', { ...settings, previous, actor: opts.as ?? null }),
      );
      return { before, after };
    },
    io,
  );
  io.out(
    `${opts.tenant}: ${describe(after)}${describe(before) === describe(after) ? ' (unchanged)' : ` (was ${describe(before)})`}\n`,
  );
  return EXIT.ok;
}

/** `stepgate tenants list`. */
export async function listTenants(opts: { json?: boolean }, io: Io): Promise<number> {
  const rows = await withServices(adminEnv(), (store) => store.tenants.list());
  if (opts.json) io.out(`${JSON.stringify(rows)}\n`);
  else for (const r of rows) io.out(`${r.tenant_id}\t${describe(r)}\n`);
  return EXIT.ok;
}

function describe(t: TenantRow): string {
  return `display name "${t.display_name}", approval timeout ${t.approval_timeout_seconds === null ? 'the service default' : `${t.approval_timeout_seconds} s`}`;
}
