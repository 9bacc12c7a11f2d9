-- Principals act for a tenant (agents, orchestrators, approvers); roles gate what they may do.
create table principals (
  tenant_id  text not null references tenants (tenant_id),
  principal  text not null check (length(principal) between 1 and 255),
  roles      text[] not null default '{}',
  created_at timestamptz not null default now(),
  primary key (tenant_id, principal)
);

-- A credential is an Ed25519 public key; the private key never reaches stepgate.
-- The tenant of every signed message is the tenant of its credential.
create table credentials (
  key_id         text primary key check (key_id ~ '^[A-Za-z0-9_.:-]{8,128}$'),
  tenant_id      text not null,
  principal      text not null,
  public_key_pem text not null,
  created_at     timestamptz not null default now(),
  revoked_at     timestamptz,
  foreign key (tenant_id, principal) references principals (tenant_id, principal)
);
create index credentials_tenant on credentials (tenant_id);
