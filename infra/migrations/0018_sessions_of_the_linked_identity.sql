-- A portal session belongs to the identity that opened it, not to any identity of its principal: it
-- records the linked claim value (principal_identities.claim_value at its issuer), and
-- SessionsRepository.live() requires exactly that link, to exactly that principal. Before, a session
-- only needed *some* link of its principal at its issuer, so relinking revived the sessions of another
-- identity (one that 0016 unlinked, or one link() had moved to another principal: two votes in a quorum).
--
-- Which claim value opened an existing session cannot be told (sessions kept the `sub`, the link may be
-- by email), so every existing session ends: people sign in again, which costs a redirect. That also ends
-- the sessions of the principals 0016 unlinked.
delete from control_plane_sessions;

alter table control_plane_sessions
  add column claim_value text not null check (length(claim_value) between 1 and 512);

-- link() ends the sessions of a principal (the identity's previous one, and the one it now acts as).
create index control_plane_sessions_principal on control_plane_sessions (tenant_id, principal);
