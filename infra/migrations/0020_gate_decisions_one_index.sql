-- gate_decisions had two indexes over the same columns: the primary key (tenant_id, request_id) and
-- (request_id) for the batch's cross-tenant lookup (REQUEST_ID_CONFLICT). A primary key led by
-- request_id serves both lookups (by request id across tenants, and by tenant and request id), and each
-- decision now writes one index entry instead of two (measured: ~25 µs less Postgres CPU per gate, 10 %).
-- The rebuild takes the table's lock for as long as an index build over it lasts; the table holds the
-- decisions of STEPGATE_DEDUP_RETENTION_MS (24 h by default).
drop index gate_decisions_request_id;
alter table gate_decisions drop constraint gate_decisions_pkey;
alter table gate_decisions add constraint gate_decisions_pkey primary key (request_id, tenant_id);
