-- Messages written in the same transaction as the change they announce (the CLI's admin commands),
-- published by a relay (`@stepgate/store` OutboxRelay) in id order per (topic, key), then marked sent.
-- `topic` is the contract's logical topic name; the relay adds the deployment's prefix.
create table outbox (
  id         bigserial primary key,
  topic      text not null,
  key        text,
  value      text not null,
  headers    jsonb not null default '{}',
  created_at timestamptz not null default now(),
  sent_at    timestamptz
);
create index outbox_unsent on outbox (id) where sent_at is null;
create index outbox_sent on outbox (sent_at) where sent_at is not null;

-- Step completions already counted in step_ledger.completion_count: a redelivered completion is not.
create table applied_completions (
  tenant_id     text not null,
  completion_id uuid not null,
  workflow_id   text not null,
  step_id       text not null,
  applied_at    timestamptz not null default now(),
  primary key (tenant_id, completion_id)
);
