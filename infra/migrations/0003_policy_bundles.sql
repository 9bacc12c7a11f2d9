-- Every applied bundle is kept; the evaluator uses each tenant's highest version.
create table policy_bundles (
  tenant_id  text not null references tenants (tenant_id),
  version    integer not null check (version > 0),
  bundle     jsonb not null,
  sha256     text not null,
  applied_by text not null default '',
  applied_at timestamptz not null default now(),
  primary key (tenant_id, version)
);
