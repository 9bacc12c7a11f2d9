-- The engine input of every fresh decision, as evaluated (the normalized request, the counters, time and
-- roles it saw), redacted by STEPGATE_REDACT_KEYS: what `stepgate replay` and `stepgate explain` read.
-- Kept as long as the audit log (`stepgate audit retention` deletes rows older than its cut-off).
create table gate_inputs (
  tenant_id        text not null,
  request_id       uuid not null,
  decided_at       timestamptz not null,
  workflow_id      text not null,
  agent_id         text,
  policy_version   integer not null,
  policy_sha256    text not null,
  decision         text not null check (decision in ('allow', 'block', 'require_approval')),
  policies_matched text[] not null,
  -- {step, tenant_id, now, user_roles, retry?, usage}; redacted values are {"$redacted": "hmac-sha256:…"}
  input            jsonb not null,
  redacted_paths   text[] not null default '{}',
  primary key (tenant_id, decided_at, request_id)
);
create index gate_inputs_request on gate_inputs (tenant_id, request_id);

-- Operators' kill switches: while one is engaged (released_at null) every gate it covers is blocked
-- (KILL_SWITCH). A null agent, workflow or tool covers all of them.
create table kill_switches (
  switch_id   uuid primary key,
  tenant_id   text not null references tenants (tenant_id),
  agent_id    text,
  workflow_id text,
  tool_name   text,
  reason      text not null,
  engaged_by  text not null default '',
  engaged_at  timestamptz not null default now(),
  released_by text,
  released_at timestamptz
);
create index kill_switches_engaged on kill_switches (tenant_id) where released_at is null;
