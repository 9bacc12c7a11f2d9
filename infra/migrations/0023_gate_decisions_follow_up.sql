-- What a decision's first publication carried besides the decision (the requester, the tool's access
-- class, and for require_approval what it asked of the approvals service), stored with the decision:
-- a request delivered again after its decision was committed but before it was published (an
-- evaluator crash, a rebalance) publishes its audit event and approval request again, the same as
-- the first time, instead of losing them. Null for decisions stored before this column.
alter table gate_decisions add column follow_up jsonb;
