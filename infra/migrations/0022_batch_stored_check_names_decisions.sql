-- The batch ledger's write now also counts its decisions (a refusal on a step's first gate stores a
-- decision but no ledger row, so two evaluators deciding the same request during a rebalance are only
-- told apart by the decision's primary key). Same function, its message saying what it checks.
create or replace function stepgate_first_gates_inserted(inserted int, expected int) returns int
language plpgsql as $$
begin
  if inserted <> expected then
    raise exception 'another evaluator stored a first gate or a decision of this batch concurrently'
      using errcode = 'SG409';
  end if;
  return inserted;
end $$;
