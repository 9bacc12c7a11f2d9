-- One row per gated step: the stored decision and the retry state of reference 003.
create table step_ledger (
  tenant_id              text not null,
  workflow_id            text not null,
  step_id                text not null,
  -- sha256 of the canonical step_input + tool_context: an idempotent retry must not change them
  input_fingerprint      text not null,
  idempotency_key        text,
  decision               text not null check (decision in ('allow', 'block', 'require_approval')),
  last_decision          text check (last_decision in ('allow', 'block', 'require_approval')),
  decision_body          jsonb not null,
  gate_count             integer not null default 1,
  completion_count       integer not null default 0,
  prior_output_available boolean not null default false,
  approval_id            uuid,
  approval_status        text check (approval_status in ('pending', 'approved', 'rejected', 'expired')),
  first_attempt_at       timestamptz not null,
  last_attempt_at        timestamptz not null,
  primary key (tenant_id, workflow_id, step_id)
);
create index step_ledger_pending_approval on step_ledger (tenant_id, workflow_id) where approval_status = 'pending';

-- A workflow aborted (approval rejected or expired) or completed takes no more gates.
create table workflow_state (
  tenant_id   text not null,
  workflow_id text not null,
  status      text not null check (status in ('active', 'aborted', 'completed')),
  reason      text not null default '',
  updated_at  timestamptz not null default now(),
  primary key (tenant_id, workflow_id)
);

-- Decisions by request: a redelivered request is answered with the same decision, not gated again.
create table gate_decisions (
  tenant_id   text not null,
  request_id  uuid not null,
  decision    jsonb not null,
  decided_at  timestamptz not null default now(),
  primary key (tenant_id, request_id)
);

-- Counters for rate-limit and budget policies and delegation spend (keys come from the engine).
create table usage_counters (
  tenant_id  text not null,
  key        text not null,
  value      numeric not null default 0,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, key)
);
