-- One identity per principal, held by the database: a principal linked to two identities could count
-- twice toward an approval quorum. IdentitiesRepository.link() checks first (for a clear error) and maps
-- a violation of this index (SQLSTATE 23505, the two links racing) to PRINCIPAL_ALREADY_LINKED.
--
-- The table can already hold such principals: 0015 shipped with a link() that did not check, and the
-- check came later. Which of a principal's identities is the person's cannot be told here, so every link
-- of such a principal is removed (its portal sessions end with them; they need a link of their issuer),
-- the principal is named in a warning, and an admin links the right identity again
-- (`stepgate credentials link-identity`). Nothing is removed where the check always ran.
do $$
declare
  linked_twice record;
begin
  for linked_twice in
    select tenant_id, principal, count(*) as identities from principal_identities
     group by tenant_id, principal having count(*) > 1
  loop
    raise warning 'principal % of tenant % was linked to % identities: all unlinked; link the right one again',
      linked_twice.principal, linked_twice.tenant_id, linked_twice.identities;
  end loop;
  delete from principal_identities i
   using (select tenant_id, principal from principal_identities
           group by tenant_id, principal having count(*) > 1) doubled
   where i.tenant_id = doubled.tenant_id and i.principal = doubled.principal;
end
$$;

create unique index principal_identities_one_per_principal on principal_identities (tenant_id, principal);
