import {
  newWebhookId,
  newWebhookSecret,
  webhookAuditedUrl,
  webhookSecretProblem,
  webhookUrlProblem,
} from '@stepgate/contracts/node';
import { UnknownTenantError, WEBHOOK_FORMATS, type WebhookFormat } from '@stepgate/store';
import { adminAudit, adminEnv, unknownTenant, withServices } from '../admin/connections.js';
import { EXIT, InputError, type Io } from '../io.js';

export interface AddWebhookOptions {
  tenant: string;
  url: string;
  format?: string;
  secret?: string;
  allowLoopbackHttp?: boolean;
  as?: string;
}

/** `stepgate webhooks add`: prints the id and, when it generated one, the secret (shown only this once). */
export async function addWebhook(opts: AddWebhookOptions, io: Io): Promise<number> {
  const format = (opts.format ?? 'json') as WebhookFormat;
  if (!WEBHOOK_FORMATS.includes(format))
    throw new InputError(`--format "${String(opts.format).slice(0, 40)}": expected ${WEBHOOK_FORMATS.join(' or ')}`);
  const problem = webhookUrlProblem(opts.url, { allowLoopbackHttp: opts.allowLoopbackHttp === true });
  if (problem) throw new InputError(`--url: ${problem}`);
  const secretProblem = opts.secret === undefined ? undefined : webhookSecretProblem(opts.secret);
  if (secretProblem) throw new InputError(`--secret: ${secretProblem}`);
  const secret = opts.secret ?? newWebhookSecret();
  const webhookId = newWebhookId();
  await withServices(
    adminEnv(),
    async (store, publish) => {
      await store.webhooks
        .add({ webhookId, tenantId: opts.tenant, url: opts.url, secret, format })
        .catch((err: unknown) => {
          throw err instanceof UnknownTenantError ? unknownTenant(opts.tenant) : err;
        });
      // The audit names where events go, never the secret.
      publish(
        'audit',
        opts.tenant,
        adminAudit('WebhookAdded', opts.tenant, 'Added', {
          webhook_id: webhookId,
          url: webhookAuditedUrl(opts.url),
          format,
          actor: opts.as ?? null,
        }),
      );
    },
    io,
  );
  io.out(`added ${webhookId} for ${opts.tenant} (${format})\n`);
  if (opts.secret === undefined)
    io.out(`secret: ${secret}\n(shown once: give it to the receiver to verify signatures)\n`);
  return EXIT.ok;
}

export async function listWebhooks(opts: { tenant: string; json?: boolean }, io: Io): Promise<number> {
  const rows = await withServices(adminEnv(), (store) => store.webhooks.list({ tenantId: opts.tenant }));
  if (opts.json) io.out(`${JSON.stringify(rows)}\n`);
  else for (const w of rows) io.out(`${w.webhook_id}\t${w.format}\t${w.enabled ? 'enabled' : 'disabled'}\t${w.url}\n`);
  return EXIT.ok;
}

export async function removeWebhook(webhookId: string, opts: { tenant: string; as?: string }, io: Io): Promise<number> {
  const removed = await withServices(
    adminEnv(),
    async (store, publish) => {
      const row = await store.webhooks.remove({ tenantId: opts.tenant, webhookId });
      if (row)
        publish(
          'audit',
          opts.tenant,
          adminAudit('WebhookRemoved', opts.tenant, 'Removed', { webhook_id: webhookId, actor: opts.as ?? null }),
        );
      return row;
    },
    io,
  );
  if (!removed) throw new InputError(`tenant ${opts.tenant} has no webhook "${webhookId.slice(0, 80)}"`);
  io.out(`removed ${webhookId}\n`);
  return EXIT.ok;
}
