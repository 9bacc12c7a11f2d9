-- A decision is about 2 KB of JSON: rows of these tables pass the 2 KB TOAST threshold, so every insert
-- and update ran pglz over them (measured: ~35 µs of Postgres CPU per row, about a quarter of the
-- Postgres time a gate costs). Rows up to a page stay inline and uncompressed; a bundle that makes
-- larger decisions is still TOASTed as before. Costs disk: ~2.2 KB per decision row instead of ~1.4 KB.
alter table gate_decisions set (toast_tuple_target = 8160);
alter table step_ledger set (toast_tuple_target = 8160);
alter table gate_inputs set (toast_tuple_target = 8160);
