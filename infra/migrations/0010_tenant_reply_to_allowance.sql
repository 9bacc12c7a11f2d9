-- Where a tenant's gate requests may ask the approvals service to signal the outcome (`reply_to`):
-- the Temporal namespaces and workflow-id prefixes the tenant's admin allows. Empty (the default)
-- allows none: a request naming a reply_to is refused at intake (REPLY_TO_NOT_ALLOWED).
alter table tenants
  add column reply_to_namespaces text[] not null default '{}',
  add column reply_to_workflow_prefixes text[] not null default '{}';
