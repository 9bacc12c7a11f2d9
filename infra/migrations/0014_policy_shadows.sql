-- A tenant's shadow bundle: evaluated beside the active bundle on every gate, never deciding.
create table policy_shadows (
  tenant_id    text primary key references tenants (tenant_id),
  bundle       jsonb not null,
  sha256       text not null,
  installed_by text not null default '',
  installed_at timestamptz not null default now()
);
