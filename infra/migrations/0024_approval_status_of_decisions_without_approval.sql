-- An approval answers the decision that asked for it. Before this version, a step gated again with
-- retry_policy "reevaluate" while its approval waited kept approval_status 'pending' (or 'approved')
-- although its new decision was allow or block: the approval run still waiting can no longer resolve
-- it (outcomes are bound to their decision now), and a pending status would refuse every other step
-- of the workflow with APPROVAL_PENDING for good. Such rows have no approval any more.
update step_ledger set approval_status = null
where approval_status is not null and decision <> 'require_approval';
