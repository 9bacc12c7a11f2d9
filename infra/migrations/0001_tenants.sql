-- Tenants are the unit of isolation: every other table carries tenant_id and every
-- request's tenant comes from the caller's credential, never from its payload.
create table tenants (
  tenant_id    text primary key check (tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  display_name text not null default '',
  created_at   timestamptz not null default now()
);
