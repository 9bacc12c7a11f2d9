import type { TenantNotice } from '@stepgate/contracts';
import type { KillSwitch, KillSwitchScope } from '@stepgate/store';
import { adminAudit, adminEnv, unknownTenant, withServices } from '../admin/connections.js';
import { EXIT, InputError, printable, type Io } from '../io.js';

export interface KillSwitchOptions {
  tenant: string;
  agent?: string;
  workflow?: string;
  tool?: string;
  reason?: string;
  id?: string;
  as?: string;
}

const MAX_REASON = 1000;

function scopeOf(opts: KillSwitchOptions): KillSwitchScope {
  return { agent_id: opts.agent ?? null, workflow_id: opts.workflow ?? null, tool_name: opts.tool ?? null };
}

function describe(s: KillSwitchScope): string {
  const parts = [
    s.agent_id === null ? '' : `agent ${s.agent_id}`,
    s.workflow_id === null ? '' : `workflow ${s.workflow_id}`,
    s.tool_name === null ? '' : `tool ${s.tool_name}`,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'every gate';
}

/**
 * `stepgate killswitch engage`: blocks every gate the switch covers (KILL_SWITCH) on every evaluator:
 * stored, then announced on `policies` (each evaluator drops its copy of the tenant's switches).
 * Audited as KillSwitchEngaged, which raises a config_change alert.
 */
export async function engageKillSwitch(opts: KillSwitchOptions, io: Io): Promise<number> {
  const reason = opts.reason?.trim() ?? '';
  if (reason.length < 3 || reason.length > MAX_REASON)
    throw new InputError(`--reason: say why, in 3 to ${MAX_REASON} characters`);
  const engaged = await withServices(
    adminEnv(),
    async (store, publish) => {
      if (!(await store.tenants.exists(opts.tenant))) throw unknownTenant(opts.tenant);
      const engaged = await store.killSwitches.engage({
        tenantId: opts.tenant,
        scope: scopeOf(opts),
        reason,
        engagedBy: opts.as ?? '',
      });
      announce(publish, opts.tenant);
      publish(
        'audit',
        opts.tenant,
        adminAudit('KillSwitchEngaged', opts.tenant, 'Engaged', auditDetail(engaged, opts)),
      );
      return engaged;
    },
    io,
  );
  io.out(`engaged kill switch ${engaged.switch_id} for tenant ${opts.tenant}: ${printable(describe(engaged))}\n`);
  return EXIT.ok;
}

const SWITCH_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `stepgate killswitch release`: by --id, or every engaged switch of exactly the given scope. */
export async function releaseKillSwitch(opts: KillSwitchOptions, io: Io): Promise<number> {
  if (opts.id !== undefined && !SWITCH_ID.test(opts.id))
    throw new InputError(`--id "${opts.id}": expected a kill switch id (a UUID, as engage and list print it)`);
  const released = await withServices(
    adminEnv(),
    async (store, publish) => {
      const released = await store.killSwitches.release({
        tenantId: opts.tenant,
        ...(opts.id ? { switchId: opts.id } : { scope: scopeOf(opts) }),
        releasedBy: opts.as ?? '',
      });
      if (released.length) announce(publish, opts.tenant);
      for (const s of released)
        publish('audit', opts.tenant, adminAudit('KillSwitchReleased', opts.tenant, 'Released', auditDetail(s, opts)));
      return released;
    },
    io,
  );
  if (released.length === 0) {
    io.err(`no engaged kill switch of tenant ${opts.tenant} matches\n`);
    return EXIT.failed;
  }
  for (const s of released) io.out(`released kill switch ${s.switch_id}: ${printable(describe(s))}\n`);
  return EXIT.ok;
}

/** `stepgate killswitch list`: the engaged switches. */
export async function listKillSwitches(opts: { tenant?: string; json?: boolean }, io: Io): Promise<number> {
  const rows = await withServices(adminEnv(), (store) => store.killSwitches.engaged(opts.tenant));
  if (opts.json) io.out(`${JSON.stringify(rows)}\n`);
  else
    for (const s of rows)
      io.out(
        `${s.switch_id}\t${s.tenant_id}\t${printable(describe(s))}\t${s.engaged_at.toISOString()}\t${printable(s.engaged_by || '-')}\t${printable(s.reason)}\n`,
      );
  return EXIT.ok;
}

function announce(publish: (topic: 'policies', key: string, value: unknown) => void, tenant: string): void {
  const notice: TenantNotice = { tenant_id: tenant, kind: 'kill_switch' };
  publish('policies', tenant, notice);
}

function auditDetail(s: KillSwitch, opts: KillSwitchOptions): Record<string, unknown> {
  return {
    switch_id: s.switch_id,
    agent_id: s.agent_id,
    workflow_id: s.workflow_id,
    tool_name: s.tool_name,
    reason: s.reason,
    actor: opts.as ?? null,
  };
}
