-- A request_id is answered for one tenant only: the evaluator looks each batch's request ids up
-- across tenants, so a request reusing another tenant's id is refused (REQUEST_ID_CONFLICT).
create index gate_decisions_request_id on gate_decisions (request_id);
