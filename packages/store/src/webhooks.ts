import type { Db } from './db.js';
import { UnknownTenantError } from './errors.js';

export const WEBHOOK_FORMATS = ['json', 'slack'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** A tenant's webhook as listed: everything but the secret. */
export interface WebhookRow {
  webhook_id: string;
  tenant_id: string;
  url: string;
  format: WebhookFormat;
  enabled: boolean;
  created_at: Date;
}

/** What a delivery needs: the row with its signing secret (read only by the activity that delivers). */
export interface WebhookTarget extends WebhookRow {
  secret: string;
}

const LISTED = 'webhook_id, tenant_id, url, format, enabled, created_at';

/** Per-tenant webhooks told about approvals. */
export class WebhooksRepository {
  constructor(private readonly db: Db) {}

  /** Adds a webhook. Throws UnknownTenantError. */
  async add(p: {
    webhookId: string;
    tenantId: string;
    url: string;
    secret: string;
    format: WebhookFormat;
    enabled?: boolean;
  }): Promise<WebhookRow> {
    const { rows: tenant } = await this.db.query('select 1 from tenants where tenant_id = $1', [p.tenantId]);
    if (tenant.length === 0) throw new UnknownTenantError(p.tenantId);
    const { rows } = await this.db.query<WebhookRow>(
      `insert into webhooks (webhook_id, tenant_id, url, secret, format, enabled) values ($1, $2, $3, $4, $5, $6)
       returning ${LISTED}`,
      [p.webhookId, p.tenantId, p.url, p.secret, p.format, p.enabled ?? true],
    );
    return rows[0]!;
  }

  async list(p: { tenantId: string }): Promise<WebhookRow[]> {
    const { rows } = await this.db.query<WebhookRow>(
      `select ${LISTED} from webhooks where tenant_id = $1 order by created_at, webhook_id`,
      [p.tenantId],
    );
    return rows;
  }

  /** Removes a tenant's webhook; returns it, undefined when the tenant has no such webhook. */
  async remove(p: { tenantId: string; webhookId: string }): Promise<WebhookRow | undefined> {
    const { rows } = await this.db.query<WebhookRow>(
      `delete from webhooks where tenant_id = $1 and webhook_id = $2 returning ${LISTED}`,
      [p.tenantId, p.webhookId],
    );
    return rows[0];
  }

  /** The ids of a tenant's enabled webhooks. */
  async enabledIds(p: { tenantId: string }): Promise<string[]> {
    const { rows } = await this.db.query<{ webhook_id: string }>(
      'select webhook_id from webhooks where tenant_id = $1 and enabled order by created_at, webhook_id',
      [p.tenantId],
    );
    return rows.map((r) => r.webhook_id);
  }

  /** A webhook with its secret, when it still exists, is enabled and belongs to the tenant. */
  async target(p: { tenantId: string; webhookId: string }): Promise<WebhookTarget | undefined> {
    const { rows } = await this.db.query<WebhookTarget>(
      `select ${LISTED}, secret from webhooks where tenant_id = $1 and webhook_id = $2 and enabled`,
      [p.tenantId, p.webhookId],
    );
    return rows[0];
  }
}
