-- The batch ledger's write checks, in the statement itself, that every first gate it inserted was
-- stored (none was inserted first by another evaluator). The evaluator sends COMMIT right behind the
-- write, before its answer arrives (one round trip less per transaction), so the check cannot wait for
-- the client: a failed write ends the transaction and the COMMIT behind it rolls back. The SQLSTATE is
-- ours (class SG), so the store recognises the error by code.
create function stepgate_first_gates_inserted(inserted int, expected int) returns int
language plpgsql as $$
begin
  if inserted <> expected then
    raise exception 'another evaluator stored the first gate of a step in this batch concurrently'
      using errcode = 'SG409';
  end if;
  return inserted;
end $$;
