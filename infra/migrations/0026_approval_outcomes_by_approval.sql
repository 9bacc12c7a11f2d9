-- An outcome that finds its step resolved without a record of its own looks up the outcome recorded
-- for the same approval and gate request (another run's, or the block of an approval that could not be
-- started): by approval, not by the outcome's own decision id.
create index approval_outcomes_by_approval on approval_outcomes (tenant_id, approval_id);
