import { ALERT_RULES, type AlertRule } from '@stepgate/contracts';
import { UnknownTenantError } from '@stepgate/store';
import { adminAudit, adminEnv, unknownTenant, withServices } from '../admin/connections.js';
import { EXIT, InputError, type Io } from '../io.js';

type WindowedRule = Exclude<AlertRule, 'config_change'>;
const WINDOWED_RULES = ALERT_RULES.filter((r): r is WindowedRule => r !== 'config_change');

function windowedRule(value: string): WindowedRule {
  const rule = WINDOWED_RULES.find((r) => r === value);
  if (!rule)
    throw new InputError(
      `--rule "${value}": expected one of ${WINDOWED_RULES.join(', ')} (config_change always fires)`,
    );
  return rule;
}

function positiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InputError(`${flag} "${value}": expected a positive integer`);
  return n;
}

/**
 * `stepgate alerts set`: a tenant's threshold for one rule (the alerts consumer reads them every
 * 30 s). A threshold change is a configuration change: audited, and alerted on as `config_change`.
 */
export async function setAlertThreshold(
  opts: { tenant: string; rule: string; threshold: string; window?: string; as?: string },
  io: Io,
): Promise<number> {
  const rule = windowedRule(opts.rule);
  const threshold = positiveInteger(opts.threshold, '--threshold');
  const window = opts.window === undefined ? 60 : positiveInteger(opts.window, '--window');
  const previous = await withServices(
    adminEnv(),
    async (store, publish) => {
      const before = await store.alertThresholds
        .set({ tenantId: opts.tenant, rule, threshold, windowSeconds: window })
        .catch((err: unknown) => {
          throw err instanceof UnknownTenantError ? unknownTenant(opts.tenant) : err;
        });
      publish(
        'audit',
        opts.tenant,
        adminAudit('AlertThresholdChanged', opts.tenant, 'Changed', {
          rule,
          threshold,
          window_seconds: window,
          previous: before,
          actor: opts.as ?? null,
        }),
      );
      return before;
    },
    io,
  );
  io.out(
    `${opts.tenant}: ${rule} fires at ${threshold} in ${window} s${previous ? ` (was ${previous.threshold} in ${previous.window_seconds} s)` : ''}\n`,
  );
  return EXIT.ok;
}

/** `stepgate alerts unset`: the tenant goes back to the service's default for the rule. */
export async function unsetAlertThreshold(
  opts: { tenant: string; rule: string; as?: string },
  io: Io,
): Promise<number> {
  const rule = windowedRule(opts.rule);
  const removed = await withServices(
    adminEnv(),
    async (store, publish) => {
      const row = await store.alertThresholds.unset({ tenantId: opts.tenant, rule });
      if (row)
        publish(
          'audit',
          opts.tenant,
          adminAudit('AlertThresholdChanged', opts.tenant, 'Reset', {
            rule,
            threshold: null,
            window_seconds: null,
            previous: { threshold: row.threshold, window_seconds: row.window_seconds },
            actor: opts.as ?? null,
          }),
        );
      return row;
    },
    io,
  );
  if (!removed) throw new InputError(`${opts.tenant} has no threshold of its own for ${rule}`);
  io.out(`${opts.tenant}: ${rule} back to the default (was ${removed.threshold} in ${removed.window_seconds} s)\n`);
  return EXIT.ok;
}

/** `stepgate alerts list`: the thresholds tenants have set (others use the service's defaults). */
export async function listAlertThresholds(opts: { tenant?: string; json?: boolean }, io: Io): Promise<number> {
  const rows = await withServices(adminEnv(), (store) => store.alertThresholds.list({ tenantId: opts.tenant }));
  if (opts.json) io.out(`${JSON.stringify(rows)}\n`);
  else if (rows.length === 0)
    io.out(`no thresholds set${opts.tenant ? ` for ${opts.tenant}` : ''}: the service defaults apply\n`);
  else for (const r of rows) io.out(`${r.tenant_id}\t${r.rule}\t${r.threshold} in ${r.window_seconds} s\n`);
  return EXIT.ok;
}
