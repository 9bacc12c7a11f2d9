import { newWebhookId, newWebhookSecret, webhookAuditedUrl } from '@stepgate/contracts/node';
import type { WebhookRow } from '@stepgate/store';
import type { Api } from './route.js';
import { auditedBy, change, type ApiDeps } from './deps.js';
import { notFound } from './errors.js';
import { createWebhookBody, CreatedWebhookSchema, OkSchema, WebhookParams, WebhookSchema } from './schemas.js';

const ADMIN = ['admin'] as const;

const listed = (w: WebhookRow) => ({
  webhook_id: w.webhook_id,
  url: w.url,
  format: w.format,
  enabled: w.enabled,
  created_at: w.created_at.toISOString(),
});

/** The tenant's approval webhooks (admin), as `stepgate webhooks add|list|remove` keeps them; changes audited. */
export function webhookRoutes(api: Api, deps: ApiDeps): void {
  const webhook = api.schema('Webhook', WebhookSchema);

  api.route({
    method: 'get',
    path: '/api/v1/webhooks',
    tag: 'webhooks',
    summary: "The tenant's webhooks (never their secrets)",
    roles: ADMIN,
    response: webhook.array(),
    handler: async ({ identity }) => (await deps.store.webhooks.list({ tenantId: identity.tenantId })).map(listed),
  });

  api.route({
    method: 'post',
    path: '/api/v1/webhooks',
    tag: 'webhooks',
    summary: 'Add a webhook told about approvals; a generated secret is in this answer only',
    roles: ADMIN,
    body: createWebhookBody({ allowLoopbackHttp: deps.allowLoopbackWebhooks }),
    response: api.schema('CreatedWebhook', CreatedWebhookSchema),
    handler: async ({ identity, body }) => {
      const secret = body.secret ?? newWebhookSecret();
      const row = await change(deps.pool, async (store, publish) => {
        const added = await store.webhooks.add({
          webhookId: newWebhookId(),
          tenantId: identity.tenantId,
          url: body.url,
          secret,
          format: body.format,
        });
        // The audit names where events go, never the secret.
        publish(
          'audit',
          identity.tenantId,
          auditedBy(identity, 'WebhookAdded', 'Added', {
            webhook_id: added.webhook_id,
            url: webhookAuditedUrl(body.url),
            format: body.format,
          }),
        );
        return added;
      });
      return { ...listed(row), ...(body.secret === undefined ? { secret } : {}) };
    },
  });

  api.route({
    method: 'delete',
    path: '/api/v1/webhooks/{webhook_id}',
    tag: 'webhooks',
    summary: 'Remove a webhook of the tenant',
    roles: ADMIN,
    params: WebhookParams,
    response: OkSchema,
    handler: async ({ identity, params }) => {
      const removed = await change(deps.pool, async (store, publish) => {
        const row = await store.webhooks.remove({ tenantId: identity.tenantId, webhookId: params.webhook_id });
        if (row)
          publish(
            'audit',
            identity.tenantId,
            auditedBy(identity, 'WebhookRemoved', 'Removed', { webhook_id: params.webhook_id }),
          );
        return row;
      });
      if (!removed) throw notFound(`webhook ${params.webhook_id}`);
      return { ok: true as const };
    },
  });
}
