-- Workflow ids are case-insensitive everywhere: the step ledger keys them lower-cased from now on.
-- Rows written in another case are lower-cased unless a lower-case twin exists already (then the
-- twin, the newer key, wins and the old row stays as it was, unread).
update step_ledger s set workflow_id = lower(s.workflow_id)
 where s.workflow_id <> lower(s.workflow_id)
   and not exists (select 1 from step_ledger t
                    where t.tenant_id = s.tenant_id and t.workflow_id = lower(s.workflow_id) and t.step_id = s.step_id);
update workflow_state s set workflow_id = lower(s.workflow_id)
 where s.workflow_id <> lower(s.workflow_id)
   and not exists (select 1 from workflow_state t where t.tenant_id = s.tenant_id and t.workflow_id = lower(s.workflow_id));
