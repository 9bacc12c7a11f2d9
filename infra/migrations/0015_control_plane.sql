-- The control plane: which person (an OpenID Connect identity) acts as which principal of which
-- tenant, and the sessions of people signed in to the portal.

-- `claim_value` is the value of the configured claim (OIDC_PRINCIPAL_CLAIM, e.g. email or sub) in
-- tokens of `issuer`. A person maps to exactly one principal of one tenant.
create table principal_identities (
  issuer      text not null check (length(issuer) between 1 and 2048),
  claim_value text not null check (length(claim_value) between 1 and 512),
  tenant_id   text not null,
  principal   text not null,
  created_at  timestamptz not null default now(),
  primary key (issuer, claim_value),
  foreign key (tenant_id, principal) references principals (tenant_id, principal)
);

-- A portal session; the cookie holds a random token, the table only its SHA-256.
create table control_plane_sessions (
  token_sha256 text primary key,
  tenant_id    text not null,
  principal    text not null,
  issuer       text not null,
  subject      text not null,
  roles        text[] not null,
  created_at   timestamptz not null default now(),
  expires_at   timestamptz not null
);
create index control_plane_sessions_expiry on control_plane_sessions (expires_at);
