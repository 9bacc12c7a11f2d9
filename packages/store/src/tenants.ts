import type { AlertRule } from '@stepgate/contracts';
import type { Db } from './db.js';
import { ReplyToPrefixOverlapError, ReplyToPrefixUndelimitedError, UnknownTenantError } from './errors.js';

/**
 * Whether a reply_to workflow-id prefix ends in a delimiter: the evaluator matches prefixes with
 * startsWith, so `acme` would also allow `acme2-…`, another tenant's workflows.
 */
export function replyToPrefixDelimited(prefix: string): boolean {
  return /[-:/._]$/.test(prefix);
}

export interface TenantRow {
  tenant_id: string;
  display_name: string;
  approval_timeout_seconds: number | null;
  /** Temporal namespaces a gate request's `reply_to` may name (empty: no reply_to is allowed). */
  reply_to_namespaces: string[];
  /** Prefixes one of which a `reply_to` workflow id must start with (empty: no reply_to is allowed). */
  reply_to_workflow_prefixes: string[];
}

/** Where a tenant's requests may ask for the approval outcome to be signalled. */
export interface ReplyToAllowance {
  namespaces: string[];
  workflowPrefixes: string[];
}

const TENANT_COLUMNS =
  'tenant_id, display_name, approval_timeout_seconds, reply_to_namespaces, reply_to_workflow_prefixes';

export type WindowedAlertRule = Exclude<AlertRule, 'config_change'>;

export interface ThresholdRow {
  tenant_id: string;
  rule: WindowedAlertRule;
  threshold: number;
  window_seconds: number;
}

/** Tenants and their settings. */
export class TenantsRepository {
  constructor(private readonly db: Db) {}

  /** Creates the tenant if it does not exist (tenants come into being with their first credential or bundle). */
  async ensure(tenantId: string): Promise<void> {
    await this.db.query('insert into tenants (tenant_id) values ($1) on conflict do nothing', [tenantId]);
  }

  async exists(tenantId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('select 1 from tenants where tenant_id = $1', [tenantId]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Changes a tenant's settings (undefined keeps one) and returns them before and after; the row is
   * locked until the caller's transaction ends. Throws UnknownTenantError.
   */
  async update(p: {
    tenantId: string;
    displayName?: string | undefined;
    approvalTimeoutSeconds?: number | null | undefined;
    replyToNamespaces?: string[] | undefined;
    replyToWorkflowPrefixes?: string[] | undefined;
  }): Promise<{ before: TenantRow; after: TenantRow }> {
    const { rows } = await this.db.query<TenantRow>(
      `select ${TENANT_COLUMNS} from tenants where tenant_id = $1 for update`,
      [p.tenantId],
    );
    const before = rows[0];
    if (!before) throw new UnknownTenantError(p.tenantId);
    const after: TenantRow = {
      ...before,
      ...(p.displayName !== undefined ? { display_name: p.displayName } : {}),
      ...(p.approvalTimeoutSeconds !== undefined ? { approval_timeout_seconds: p.approvalTimeoutSeconds } : {}),
      ...(p.replyToNamespaces !== undefined ? { reply_to_namespaces: p.replyToNamespaces } : {}),
      ...(p.replyToWorkflowPrefixes !== undefined ? { reply_to_workflow_prefixes: p.replyToWorkflowPrefixes } : {}),
    };
    if (p.replyToNamespaces !== undefined || p.replyToWorkflowPrefixes !== undefined) await this.checkReplyTo(after);
    await this.db.query(
      `update tenants set display_name = $2, approval_timeout_seconds = $3, reply_to_namespaces = $4,
              reply_to_workflow_prefixes = $5 where tenant_id = $1`,
      [
        p.tenantId,
        after.display_name,
        after.approval_timeout_seconds,
        after.reply_to_namespaces,
        after.reply_to_workflow_prefixes,
      ],
    );
    return { before, after };
  }

  /**
   * Refuses prefixes without a delimiter and prefixes that overlap (one starts with the other) another
   * tenant's in a namespace both allow: one tenant's gate requests could otherwise signal another's workflows.
   * Run it in the transaction that writes the change.
   */
  private async checkReplyTo(t: TenantRow): Promise<void> {
    const bad = t.reply_to_workflow_prefixes.find((prefix) => !replyToPrefixDelimited(prefix));
    if (bad !== undefined) throw new ReplyToPrefixUndelimitedError(bad);
    if (t.reply_to_namespaces.length === 0 || t.reply_to_workflow_prefixes.length === 0) return;
    // Each change locks only its own tenant's row: two changes of different tenants would each pass
    // the check without seeing the other's prefixes. One lock for every reply_to check serialises
    // them (held until the caller's transaction ends); the read below then sees the other's commit.
    await this.db.query('select pg_advisory_xact_lock(hashtext($1))', ['stepgate-reply-to']);
    const { rows } = await this.db.query<
      Pick<TenantRow, 'tenant_id' | 'reply_to_namespaces' | 'reply_to_workflow_prefixes'>
    >(
      `select tenant_id, reply_to_namespaces, reply_to_workflow_prefixes from tenants
        where tenant_id <> $1 and reply_to_namespaces && $2::text[]`,
      [t.tenant_id, t.reply_to_namespaces],
    );
    for (const other of rows)
      for (const prefix of t.reply_to_workflow_prefixes)
        if (other.reply_to_workflow_prefixes.some((o) => o.startsWith(prefix) || prefix.startsWith(o)))
          throw new ReplyToPrefixOverlapError(
            prefix,
            other.tenant_id,
            t.reply_to_namespaces.find((n) => other.reply_to_namespaces.includes(n))!,
          );
  }

  /** Where the tenant's `reply_to` may point (nothing, for an unknown tenant). */
  async replyToAllowance(tenantId: string): Promise<ReplyToAllowance> {
    const { rows } = await this.db.query<Pick<TenantRow, 'reply_to_namespaces' | 'reply_to_workflow_prefixes'>>(
      'select reply_to_namespaces, reply_to_workflow_prefixes from tenants where tenant_id = $1',
      [tenantId],
    );
    return {
      namespaces: rows[0]?.reply_to_namespaces ?? [],
      workflowPrefixes: rows[0]?.reply_to_workflow_prefixes ?? [],
    };
  }

  async get(tenantId: string): Promise<TenantRow | undefined> {
    const { rows } = await this.db.query<TenantRow>(`select ${TENANT_COLUMNS} from tenants where tenant_id = $1`, [
      tenantId,
    ]);
    return rows[0];
  }

  async list(): Promise<TenantRow[]> {
    const { rows } = await this.db.query<TenantRow>(`select ${TENANT_COLUMNS} from tenants order by tenant_id`);
    return rows;
  }
}

/** Per-tenant overrides of the alert rules' default thresholds. */
export class AlertThresholdsRepository {
  constructor(private readonly db: Db) {}

  /** The thresholds tenants set, all of them or one tenant's, ordered by tenant and rule. */
  async list(p: { tenantId?: string | undefined } = {}): Promise<ThresholdRow[]> {
    const { rows } = await this.db.query<ThresholdRow>(
      'select tenant_id, rule, threshold, window_seconds from alert_thresholds where $1::text is null or tenant_id = $1 order by tenant_id, rule',
      [p.tenantId ?? null],
    );
    return rows;
  }

  /** Sets a tenant's threshold for a rule; returns the one it replaced, if any. Throws UnknownTenantError. */
  async set(p: {
    tenantId: string;
    rule: WindowedAlertRule;
    threshold: number;
    windowSeconds: number;
  }): Promise<{ threshold: number; window_seconds: number } | null> {
    if (!(await new TenantsRepository(this.db).exists(p.tenantId))) throw new UnknownTenantError(p.tenantId);
    const { rows } = await this.db.query<ThresholdRow>(
      'select * from alert_thresholds where tenant_id = $1 and rule = $2 for update',
      [p.tenantId, p.rule],
    );
    await this.db.query(
      `insert into alert_thresholds (tenant_id, rule, threshold, window_seconds) values ($1, $2, $3, $4)
       on conflict (tenant_id, rule) do update set threshold = excluded.threshold, window_seconds = excluded.window_seconds`,
      [p.tenantId, p.rule, p.threshold, p.windowSeconds],
    );
    return rows[0] ? { threshold: rows[0].threshold, window_seconds: rows[0].window_seconds } : null;
  }

  /** Removes a tenant's threshold for a rule (back to the default); returns it, undefined if it had none. */
  async unset(p: { tenantId: string; rule: WindowedAlertRule }): Promise<ThresholdRow | undefined> {
    const { rows } = await this.db.query<ThresholdRow>(
      'delete from alert_thresholds where tenant_id = $1 and rule = $2 returning *',
      [p.tenantId, p.rule],
    );
    return rows[0];
  }
}
