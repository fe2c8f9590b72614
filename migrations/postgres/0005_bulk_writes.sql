-- Faster bulk writes of a run (issue 3's benchmark): a first sync of 100 000 users
-- spent most of PostgreSQL's time in per-row foreign-key triggers and in
-- locale-aware comparisons of key columns.
--
-- 1. Foreign keys on the two tables a run writes row by row are dropped: each
--    COPY row ran a trigger query per reference. What they did is done explicitly,
--    in the transaction that deletes a synchronization (db/syncs.rs `delete`):
--    its users become manual (was ON DELETE SET NULL) and its runs' change lists
--    go (was ON DELETE CASCADE). Tenants are never deleted. Every write of these
--    tables is scoped by tenant and synchronization in code, and SQLite keeps its
--    foreign keys (they cost little there).
ALTER TABLE users DROP CONSTRAINT users_tenant_id_fkey;
ALTER TABLE users DROP CONSTRAINT users_synchronization_id_fkey;
ALTER TABLE run_changes DROP CONSTRAINT run_changes_run_id_fkey;

-- 2. Key columns compare bytewise: they are lower-cased usernames and directory IDs,
--    matched exactly, and ordered only for paging.
ALTER TABLE users ALTER COLUMN username_key TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN external_id TYPE TEXT COLLATE "C";
