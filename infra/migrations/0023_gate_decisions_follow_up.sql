-- What a require_approval decision asked of the approvals service (its severity, timeout, usage
-- increments and approval rule), stored with the decision: a request delivered again after its
-- decision was committed but before it was published (an evaluator crash, a rebalance) asks for its
-- approval again instead of leaving the step waiting on an approval nobody was told of.
alter table gate_decisions add column approval jsonb;
