-- How long an approval waits for a human when the matching policy names no timeout (null: the
-- approvals service default, 24 h).
alter table tenants add column approval_timeout_seconds integer check (approval_timeout_seconds > 0);
