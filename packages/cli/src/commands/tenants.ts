import type { TenantNotice } from '@stepgate/contracts';
import {
  ReplyToPrefixOverlapError,
  ReplyToPrefixUndelimitedError,
  replyToPrefixDelimited,
  UnknownTenantError,
  type TenantRow,
} from '@stepgate/store';
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

/** Temporal's namespace names; workflow-id prefixes are bounded printable text. */
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const PREFIX = /^[\x21-\x7e]{1,200}$/;

/** `--reply-to-namespaces` / `--reply-to-prefixes`: a comma-separated list, or `none` for an empty one. */
function replyToList(flag: string, value: string, pattern: RegExp): string[] {
  if (value === 'none') return [];
  const items = value.split(',').map((v) => v.trim());
  const bad = items.find((v) => !pattern.test(v));
  if (bad !== undefined || items.length > 20)
    throw new InputError(
      `${flag} "${value.slice(0, 80)}": expected up to 20 comma-separated ${flag === '--reply-to-namespaces' ? 'Temporal namespaces' : 'workflow-id prefixes'}, or "none"`,
    );
  return [...new Set(items)];
}

export interface SetTenantOptions {
  tenant: string;
  displayName?: string;
  approvalTimeout?: string;
  replyToNamespaces?: string;
  replyToPrefixes?: string;
  as?: string;
}

/**
 * `stepgate tenants set`: a tenant's display name and approval timeout (used when the matching
 * policy names none). Audited as `TenantSettingsChanged`, which raises a `config_change` alert.
 */
export async function setTenant(opts: SetTenantOptions, io: Io): Promise<number> {
  if (
    opts.displayName === undefined &&
    opts.approvalTimeout === undefined &&
    opts.replyToNamespaces === undefined &&
    opts.replyToPrefixes === undefined
  )
    throw new InputError(
      'nothing to set: expected --display-name, --approval-timeout, --reply-to-namespaces and/or --reply-to-prefixes',
    );
  const timeout = opts.approvalTimeout === undefined ? undefined : approvalTimeout(opts.approvalTimeout);
  const namespaces =
    opts.replyToNamespaces === undefined
      ? undefined
      : replyToList('--reply-to-namespaces', opts.replyToNamespaces, NAMESPACE);
  const prefixes =
    opts.replyToPrefixes === undefined ? undefined : replyToList('--reply-to-prefixes', opts.replyToPrefixes, PREFIX);
  const undelimited = prefixes?.find((prefix) => !replyToPrefixDelimited(prefix));
  if (undelimited !== undefined)
    throw new InputError(
      `--reply-to-prefixes "${undelimited.slice(0, 80)}": a workflow-id prefix must end in one of - : / . _ (so "acme" cannot also allow "acme2-…")`,
    );
  const { before, after } = await withServices(
    adminEnv(),
    async (store, publish) => {
      const { before, after } = await store.tenants
        .update({
          tenantId: opts.tenant,
          displayName: opts.displayName,
          approvalTimeoutSeconds: timeout,
          replyToNamespaces: namespaces,
          replyToWorkflowPrefixes: prefixes,
        })
        .catch((err: unknown) => {
          if (err instanceof UnknownTenantError) throw unknownTenant(opts.tenant);
          if (err instanceof ReplyToPrefixUndelimitedError || err instanceof ReplyToPrefixOverlapError)
            throw new InputError(`--reply-to-prefixes: ${err.message}`);
          throw err;
        });
      const { tenant_id: _b, ...previous } = before;
      const { tenant_id: _a, ...settings } = after;
      publish(
        'audit',
        opts.tenant,
        adminAudit('TenantSettingsChanged', opts.tenant, 'Changed', { ...settings, previous, actor: opts.as ?? null }),
      );
      // Evaluators cache a tenant's reply_to allowance: the notice makes them read it again now.
      if (namespaces !== undefined || prefixes !== undefined) {
        const notice: TenantNotice = { tenant_id: opts.tenant, kind: 'settings' };
        publish('policies', opts.tenant, notice);
      }
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
  const replyTo =
    t.reply_to_namespaces.length && t.reply_to_workflow_prefixes.length
      ? `reply_to namespaces ${t.reply_to_namespaces.join(',')} with workflow ids ${t.reply_to_workflow_prefixes.map((p) => `${p}*`).join(',')}`
      : 'no reply_to allowed';
  return `display name "${t.display_name}", approval timeout ${t.approval_timeout_seconds === null ? 'the service default' : `${t.approval_timeout_seconds} s`}, ${replyTo}`;
}
