-- Per-tenant webhooks told when an approval is requested, reminded, escalated and decided. The
-- secret keys the HMAC-SHA256 signature of each delivery; it never leaves the approvals service's
-- activities (workflow histories carry only the webhook id).
create table webhooks (
  webhook_id  text primary key check (webhook_id ~ '^whk_[A-Za-z0-9_-]{8,64}$'),
  tenant_id   text not null references tenants (tenant_id),
  url         text not null check (length(url) <= 2048),
  secret      text not null check (length(secret) between 16 and 256),
  format      text not null check (format in ('json', 'slack')),
  enabled     boolean not null default true,
  created_at  timestamptz not null default now()
);
create index webhooks_by_tenant on webhooks (tenant_id);
