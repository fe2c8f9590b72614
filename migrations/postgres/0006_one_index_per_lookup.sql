-- Each lookup of a run has exactly one index that can serve it.
--
-- The external-ID key led with tenant_id, like the username key: a username lookup
-- could then be planned on it (tenant_id as the index condition, the username as a
-- filter), and on a table that was empty when the plan was made (a first sync) the two
-- indexes cost the same. The cached plan stayed with the wrong one as the table grew:
-- every lookup walked all of the tenant's users (seconds per batch at 50 000 users).
-- A synchronization belongs to one tenant, so (synchronization_id, external_id) is the
-- same key, 16 bytes narrower, and useless to a lookup by username.
DROP INDEX users_external;
CREATE UNIQUE INDEX users_external ON users (synchronization_id, external_id);
