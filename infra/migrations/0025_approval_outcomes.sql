-- Approval outcomes applied to their step, under the decision id the approval workflow minted for the
-- outcome. A retried recordOutcome whose first attempt committed (its answer lost) finds its own
-- outcome here and answers as that attempt did, even when the step was decided again since (its
-- stored decision no longer names the outcome). What it answered is kept: the decision the outcome
-- publishes and the kill switch that overrode an approval when it was applied (taken once, so every
-- retry of the publication and of the orchestrator's signal says the same).
create table approval_outcomes (
  tenant_id           text not null,
  decision_id         uuid not null,
  approval_id         uuid not null,
  decision            jsonb not null,
  kill_switch_id      uuid,
  kill_switch_message text,
  applied_at          timestamptz not null default now(),
  primary key (tenant_id, decision_id),
  check ((kill_switch_id is null) = (kill_switch_message is null))
);
