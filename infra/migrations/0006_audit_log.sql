-- Every audit event, once (reference 000's audit row plus stepgate's fields and the full event).
-- Monthly range partitions on "timestamp" (created by the audit consumer as months arrive), so
-- retention drops whole partitions. Rows of a tenant form a hash chain in `seq` order.
create table audit_log (
  id               uuid not null,
  "timestamp"      timestamptz not null,
  tenant_id        text not null,
  agent_id         text,
  session_id       text,
  user_id          text,
  workflow_id      text,
  execution_id     text,
  step_id          text,
  action           text not null,
  inputs_summary   text not null,
  outcome          text not null,
  elapsed_ms       double precision not null,
  decision_id      text,
  decision         text,
  policies_matched text[] not null,
  error_code       text,
  event            jsonb not null,
  seq              bigint not null,
  prev_hash        text not null,
  row_hash         text not null,
  ingested_at      timestamptz not null default now(),
  -- an event's timestamp never changes, so (id, timestamp) is as unique as id, and prunes partitions
  primary key (id, "timestamp")
) partition by range ("timestamp");
create index audit_log_tenant_seq on audit_log (tenant_id, seq);
create index audit_log_tenant_time on audit_log (tenant_id, "timestamp");

-- The last link of each tenant's chain; locked while a batch extends it.
create table audit_chain_heads (
  tenant_id text primary key,
  seq       bigint not null,
  row_hash  text not null
);

-- Where a tenant's chain resumes after retention dropped its oldest rows.
create table audit_chain_anchors (
  tenant_id         text not null,
  seq               bigint not null,
  row_hash          text not null,
  dropped_partition text not null,
  dropped_at        timestamptz not null default now(),
  primary key (tenant_id, seq)
);

-- Per-tenant overrides of the alert rules' defaults (see docs/operations.md).
create table alert_thresholds (
  tenant_id      text not null,
  rule           text not null check (rule in ('block_spike', 'background_write_burst', 'approval_backlog')),
  threshold      integer not null check (threshold > 0),
  window_seconds integer not null default 60 check (window_seconds > 0),
  primary key (tenant_id, rule)
);
